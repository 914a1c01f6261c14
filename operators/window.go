package operators

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedev/sluice/arrowbatch"
)

// winColumnName names the column Window adds, as Spark does.
const winColumnName = "window"

// winTimeType is the type of a window's bounds: Spark's timestamp.
var winTimeType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// winStructType is the type of the column Window adds.
var winStructType = arrow.StructOf(
	arrow.Field{Name: "start", Type: winTimeType, Nullable: true},
	arrow.Field{Name: "end", Type: winTimeType, Nullable: true},
)

// Window assigns each row to the event-time windows its timestamp column timeCol falls in
// (Spark's window()): it adds the column "window" of type
// struct<start: timestamp[us, tz=UTC], end: timestamp[us, tz=UTC]>, and a GroupBy on it
// aggregates over windows.
//
// Windows are size long, start every slide, and are aligned to the Unix epoch: they are the
// half-open intervals [k*slide, k*slide+size) for every integer k, so a time exactly on a
// boundary belongs to the window that starts there, and times before 1970 fall in windows of
// negative k. With slide 0 or equal to size, windows tumble: each row gets one window. With a
// smaller slide they overlap: a row is repeated once per window that contains it (size/slide
// windows when slide divides size), as Explode repeats rows, latest window first as in Spark;
// like Explode's, that output comes in chunks of bounded size (64Ki rows, 64 MiB of strings and
// binaries), so that many windows per row over wide rows need no more memory than a chunk.
// The other columns are passed through without copying for tumbling windows and gathered for
// sliding ones.
//
// A row whose time is null belongs to no window and is dropped, as Spark's window() does,
// except, under ErrorColumn, a row that carries an error (its time is null because an earlier
// transform failed): it is kept once, with a null window, so that the error reaches the sink.
//
// When timeCol carries WatermarkDelayKey (it comes from WithWatermark), the window column
// carries it too: a stateful aggregation keyed by the window judges lateness and evicts its
// state by window.end. timeCol may be a timestamp of any unit; sub-microsecond parts are
// dropped. size and slide must be whole microseconds. No row can fail; o's error policy only
// says which rows carry an error.
func Window(timeCol string, size, slide time.Duration, o Options) Operator {
	w := &windowOp{col: timeCol, size: size, slide: slide, opts: o}
	w.plans.build = w.plan
	return w
}

type windowOp struct {
	col         string
	size, slide time.Duration
	opts        Options
	plans       perSchema[*windowPlan]
}

type windowPlan struct {
	col       int
	unit      arrow.TimeUnit
	size      int64 // µs
	slide     int64 // µs; == size for tumbling windows
	out       *arrow.Schema
	outFields []arrow.Field
}

// Name returns "Window(col, size, slide)", or "Window(col, size)" for tumbling windows given
// a zero slide.
func (w *windowOp) Name() string {
	if w.slide == 0 {
		return "Window(" + w.col + ", " + w.size.String() + ")"
	}
	return "Window(" + w.col + ", " + w.size.String() + ", " + w.slide.String() + ")"
}

// durations checks size and slide and returns them in microseconds.
func (w *windowOp) durations() (size, slide int64, err error) {
	switch {
	case w.size <= 0:
		return 0, 0, fmt.Errorf("Window: the size %s is not positive", w.size)
	case w.slide < 0:
		return 0, 0, fmt.Errorf("Window: the slide %s is negative", w.slide)
	case w.slide > w.size:
		return 0, 0, fmt.Errorf("Window: the slide %s is longer than the size %s", w.slide, w.size)
	case w.size%time.Microsecond != 0 || w.slide%time.Microsecond != 0:
		return 0, 0, fmt.Errorf("Window: the size and slide must be whole microseconds (%s, %s)", w.size, w.slide)
	}
	size = w.size.Microseconds()
	slide = w.slide.Microseconds()
	if slide == 0 {
		slide = size
	}
	return size, slide, nil
}

func (w *windowOp) plan(in *arrow.Schema) (*windowPlan, error) {
	size, slide, err := w.durations()
	if err != nil {
		return nil, err
	}
	idx, err := columnIndex(in, w.col)
	if err != nil {
		return nil, fmt.Errorf("Window: %w", err)
	}
	f := in.Field(idx)
	ts, ok := f.Type.(*arrow.TimestampType)
	if !ok {
		return nil, fmt.Errorf("Window: column %q is of type %s; the time column must be a timestamp (%s)", w.col, f.Type, wmTimestampColumns(in))
	}
	if len(in.FieldIndices(winColumnName)) > 0 {
		return nil, fmt.Errorf("Window: the input already has a column named %q; rename it first", winColumnName)
	}
	wf := arrow.Field{Name: winColumnName, Type: winStructType, Nullable: true}
	if d, ok := f.Metadata.GetValue(WatermarkDelayKey); ok {
		wf.Metadata = arrow.NewMetadata([]string{WatermarkDelayKey}, []string{d})
	}
	fields := append(slices.Clone(in.Fields()), wf)
	md := in.Metadata()
	return &windowPlan{col: idx, unit: ts.Unit, size: size, slide: slide, out: arrow.NewSchema(fields, &md), outFields: fields}, nil
}

// OutputSchema returns in with the window column appended.
func (w *windowOp) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	if in == nil {
		_, _, err := w.durations()
		return nil, err
	}
	p, err := w.plans.get(in)
	if err != nil {
		return nil, err
	}
	return p.out, nil
}

// Process emits the batch's rows with their windows: tumbling windows of non-null times in one
// batch that shares the input's columns; otherwise in chunks (see Window).
func (w *windowOp) Process(ctx context.Context, in arrow.RecordBatch, emit Emit) error {
	p, err := w.plans.get(in.Schema())
	if err != nil {
		return err
	}
	n := int(in.NumRows())
	if n == 0 {
		return nil
	}
	times, ok := in.Column(p.col).(*array.Timestamp)
	if !ok {
		return fmt.Errorf("Window: column %q is a %T", w.col, in.Column(p.col))
	}
	mem := Allocator(ctx)
	if p.slide == p.size && times.NullN() == 0 {
		win := winTumbling(mem, times, p)
		defer win.Release()
		cols := append(slices.Clone(in.Columns()), win)
		out := array.NewRecordBatch(p.out, cols, int64(n))
		defer out.Release()
		return emit(out)
	}

	// Sliding windows, or times with nulls: the input row of each output row, and its window's
	// start (µs). Each input row is repeated once per window, with all its columns, so the
	// output is emitted in chunks, as Explode's (chunkMaxRows rows, chunkMaxBytes of
	// variable-length data): a batch of wide rows over many windows per row must not be built
	// as one.
	perRow := int((p.size + p.slide - 1) / p.slide)
	if perRow > 64 {
		perRow = 1 // do not reserve memory for a huge size/slide up front
	}
	var rowBytes []int64 // variable-length bytes of each input row, all columns; nil if none
	for _, c := range in.Columns() {
		if !varLength(c.DataType()) {
			continue
		}
		if rowBytes == nil {
			rowBytes = make([]int64, n)
		}
		for i := range n {
			rowBytes[i] += valueBytes(c, i)
		}
	}
	capacity := min(n*perRow, chunkMaxRows)
	rows := make([]int, 0, capacity)
	starts := make([]int64, 0, capacity)
	valid := make([]bool, 0, capacity)
	var chunkBytes int64
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		err := w.emitWindows(mem, p, in, rows, starts, valid, emit)
		rows, starts, valid, chunkBytes = rows[:0], starts[:0], valid[:0], 0
		return err
	}
	carried := carriedErrors(in, w.opts.OnError.errorColumn()) // rows that carry an error: kept
	vals := times.TimestampValues()
	for i, v := range vals {
		if times.IsNull(i) {
			if carried != nil && carried.IsValid(i) {
				// Its time is null because an earlier transform failed: kept once, with a null
				// window, so that the error reaches the sink (see ErrorColumn).
				if len(rows) >= chunkMaxRows {
					if err := flush(); err != nil {
						return err
					}
				}
				rows, starts, valid = append(rows, i), append(starts, 0), append(valid, false)
			}
			continue // no window
		}
		t := evtMicros(int64(v), p.unit)
		for s := t - evtFloorMod(t, p.slide); s > t-p.size; s -= p.slide {
			if len(rows) > 0 && (len(rows) >= chunkMaxRows || rowBytes != nil && chunkBytes+rowBytes[i] > chunkMaxBytes) {
				if err := flush(); err != nil {
					return err
				}
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			rows, starts, valid = append(rows, i), append(starts, s), append(valid, true)
			if rowBytes != nil {
				chunkBytes += rowBytes[i]
			}
		}
	}
	return flush()
}

// emitWindows emits the rows of in (repeated as rows lists) with their windows.
func (w *windowOp) emitWindows(mem memory.Allocator, p *windowPlan, in arrow.RecordBatch, rows []int, starts []int64, valid []bool, emit Emit) error {
	win := winArray(mem, starts, valid, p.size)
	defer win.Release()
	cols := make([]arrow.Array, 0, len(p.outFields))
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for i, c := range in.Columns() {
		t, err := arrowbatch.Take(mem, c, rows)
		if err != nil {
			return fmt.Errorf("Window: take column %q: %w", in.Schema().Field(i).Name, err)
		}
		cols = append(cols, t)
	}
	win.Retain()
	cols = append(cols, win)
	out := array.NewRecordBatch(p.out, cols, int64(len(rows)))
	defer out.Release()
	return emit(out)
}

// winTumbling returns the window of each time.
func winTumbling(mem memory.Allocator, times *array.Timestamp, p *windowPlan) arrow.Array {
	n := times.Len()
	starts := make([]int64, n)
	valid := make([]bool, n)
	for i, v := range times.TimestampValues() {
		if times.IsNull(i) {
			continue
		}
		t := evtMicros(int64(v), p.unit)
		starts[i], valid[i] = t-evtFloorMod(t, p.size), true
	}
	return winArray(mem, starts, valid, p.size)
}

// winArray builds the window column: windows [starts[i], starts[i]+size), null where
// valid[i] is false. The struct and its two fields share one validity bitmap.
func winArray(mem memory.Allocator, starts []int64, valid []bool, size int64) arrow.Array {
	n := len(starts)
	var validity *memory.Buffer
	nulls := 0
	for _, v := range valid {
		if !v {
			nulls++
		}
	}
	if nulls > 0 {
		validity = memory.NewResizableBuffer(mem)
		validity.Resize(int(bitutil.BytesForBits(int64(n))))
		bits := validity.Bytes()
		clear(bits)
		for i, v := range valid {
			if v {
				bitutil.SetBit(bits, i)
			}
		}
		defer validity.Release()
	}
	startBuf := memory.NewResizableBuffer(mem)
	defer startBuf.Release()
	startBuf.Resize(n * arrow.TimestampSizeBytes)
	endBuf := memory.NewResizableBuffer(mem)
	defer endBuf.Release()
	endBuf.Resize(n * arrow.TimestampSizeBytes)
	s, e := arrow.TimestampTraits.CastFromBytes(startBuf.Bytes()), arrow.TimestampTraits.CastFromBytes(endBuf.Bytes())
	for i, st := range starts {
		if valid[i] {
			s[i], e[i] = arrow.Timestamp(st), arrow.Timestamp(st+size)
		} else {
			s[i], e[i] = 0, 0
		}
	}
	startData := array.NewData(winTimeType, n, []*memory.Buffer{validity, startBuf}, nil, nulls, 0)
	defer startData.Release()
	endData := array.NewData(winTimeType, n, []*memory.Buffer{validity, endBuf}, nil, nulls, 0)
	defer endData.Release()
	data := array.NewData(winStructType, n, []*memory.Buffer{validity}, []arrow.ArrayData{startData, endData}, nulls, 0)
	defer data.Release()
	return array.MakeFromData(data)
}
