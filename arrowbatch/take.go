package arrowbatch

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TakeRows returns a batch of the rows of batch at rows, in that order (a row may repeat). A
// contiguous range of rows is a zero-copy slice. Otherwise columns of fixed-width, boolean,
// string and binary types are copied exactly, value by value; other types go through
// arrow-go's compute Take. (arrow-go's filter kernel over-reserves the data of binary columns:
// filtering a quarter of a batch of 1 KB records allocated twice the bytes kept.)
func TakeRows(mem memory.Allocator, batch arrow.RecordBatch, rows []int) (arrow.RecordBatch, error) {
	n := len(rows)
	if n > 0 && rows[n-1]-rows[0] == n-1 {
		contiguous := true
		for i := 1; i < n; i++ {
			if rows[i] != rows[i-1]+1 {
				contiguous = false
				break
			}
		}
		if contiguous {
			return batch.NewSlice(int64(rows[0]), int64(rows[n-1]+1)), nil
		}
	}
	cols := make([]arrow.Array, 0, batch.NumCols())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for i, c := range batch.Columns() {
		t, err := Take(mem, c, rows)
		if err != nil {
			return nil, fmt.Errorf("arrowbatch: take column %q: %w", batch.Schema().Field(i).Name, err)
		}
		cols = append(cols, t)
	}
	return array.NewRecordBatch(batch.Schema(), cols, int64(n)), nil
}

// Take returns the values of arr at rows, in that order; see TakeRows.
func Take(mem memory.Allocator, arr arrow.Array, rows []int) (arrow.Array, error) {
	n := len(rows)
	validity, nulls := takeValidity(mem, arr, rows)
	d := arr.Data()
	switch a := arr.(type) {
	case *array.Boolean:
		buf := newBitmap(mem, n)
		vals, off := d.Buffers()[1].Bytes(), d.Offset()
		out := buf.Bytes()
		for i, r := range rows {
			if bitutil.BitIsSet(vals, off+r) {
				bitutil.SetBit(out, i)
			}
		}
		return makeArray(arr.DataType(), n, nulls, validity, buf), nil
	case *array.String:
		return takeBinary(mem, arr.DataType(), a.ValueOffsets(), d, rows, validity, nulls), nil
	case *array.Binary:
		return takeBinary(mem, arr.DataType(), a.ValueOffsets(), d, rows, validity, nulls), nil
	case *array.LargeString:
		return takeBinary(mem, arr.DataType(), a.ValueOffsets(), d, rows, validity, nulls), nil
	case *array.LargeBinary:
		return takeBinary(mem, arr.DataType(), a.ValueOffsets(), d, rows, validity, nulls), nil
	}
	// A dictionary array's buffers are its indices: it takes the compute path below, which
	// keeps the dictionary.
	if fw, ok := arr.DataType().(arrow.FixedWidthDataType); ok && fw.BitWidth()%8 == 0 && len(d.Buffers()) == 2 && arr.DataType().ID() != arrow.DICTIONARY {
		w := fw.BitWidth() / 8
		buf := memory.NewResizableBuffer(mem)
		buf.Resize(n * w)
		src, dst := d.Buffers()[1].Bytes()[d.Offset()*w:], buf.Bytes()
		for i, r := range rows {
			copy(dst[i*w:(i+1)*w], src[r*w:(r+1)*w])
		}
		return makeArray(arr.DataType(), n, nulls, validity, buf), nil
	}
	if validity != nil {
		validity.Release()
	}
	idx := make([]int32, n)
	for i, r := range rows {
		idx[i] = int32(r)
	}
	ib := array.NewInt32Builder(mem)
	defer ib.Release()
	ib.AppendValues(idx, nil)
	indices := ib.NewArray()
	defer indices.Release()
	return compute.TakeArray(compute.WithAllocator(context.Background(), mem), arr, indices)
}

// takeValidity returns the validity of the taken rows, or nil when none is null.
func takeValidity(mem memory.Allocator, arr arrow.Array, rows []int) (*memory.Buffer, int) {
	if arr.NullN() == 0 {
		return nil, 0
	}
	buf := newBitmap(mem, len(rows))
	out := buf.Bytes()
	nulls := 0
	for i, r := range rows {
		if arr.IsValid(r) {
			bitutil.SetBit(out, i)
		} else {
			nulls++
		}
	}
	return buf, nulls
}

// newBitmap returns a cleared bitmap of n bits.
func newBitmap(mem memory.Allocator, n int) *memory.Buffer {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(int(bitutil.BytesForBits(int64(n))))
	clear(buf.Bytes())
	return buf
}

// makeArray builds an array from buffers it takes over.
func makeArray(dt arrow.DataType, n, nulls int, bufs ...*memory.Buffer) arrow.Array {
	d := array.NewData(dt, n, bufs, nil, nulls, 0)
	defer d.Release()
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	return array.MakeFromData(d)
}

// takeBinary copies the values of a string or binary array at rows, sizing the data exactly.
func takeBinary[O int32 | int64](mem memory.Allocator, dt arrow.DataType, offs []O, d arrow.ArrayData, rows []int, validity *memory.Buffer, nulls int) arrow.Array {
	var src []byte
	if b := d.Buffers()[2]; b != nil {
		src = b.Bytes()
	}
	var total O
	for _, r := range rows {
		total += offs[r+1] - offs[r]
	}
	n := len(rows)
	offBuf := memory.NewResizableBuffer(mem)
	offBuf.Resize((n + 1) * int(unsafe.Sizeof(O(0))))
	outOffs := arrow.GetData[O](offBuf.Bytes())
	dataBuf := memory.NewResizableBuffer(mem)
	dataBuf.Resize(int(total))
	dst := dataBuf.Bytes()
	var pos O
	for i, r := range rows {
		outOffs[i] = pos
		pos += O(copy(dst[pos:], src[offs[r]:offs[r+1]]))
	}
	outOffs[n] = pos
	return makeArray(dt, n, nulls, validity, offBuf, dataBuf)
}
