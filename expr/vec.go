package expr

import (
	"context"
	"fmt"
	"slices"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// allocator returns the allocator carried by ctx (arrow compute's, which operators.WithAllocator
// sets), or memory.DefaultAllocator.
func allocator(ctx context.Context) memory.Allocator { return compute.GetAllocator(ctx) }

// A node is one operation of a column-wise plan. eval computes its value for every row of the
// batch; the error is for failures that are not a row's.
type node interface {
	eval(c *evalCtx) (vec, error)
	String() string
}

// rowErr is a row for which an operation failed.
type rowErr struct {
	row  int
	err  error
	node int64 // the expression that failed, to locate it; 0 if unknown
}

// vec is the value of a node over the rows of a batch: an array (arr), or one value for every
// row (c, when arr is nil). Each row is a value, a null, or an error: in arr, errors are null
// slots listed in errs; a constant c may be a value, nullVal or a *types.Err.
type vec struct {
	arr  arrow.Array
	c    ref.Val
	errs []rowErr // ascending rows
}

func (v vec) release() {
	if v.arr != nil {
		v.arr.Release()
	}
}

// Row states.
const (
	stValid = iota
	stNull
	stErr
)

// constState returns the state of a constant.
func constState(c ref.Val) int {
	switch c.(type) {
	case *types.Err:
		return stErr
	case *types.Unknown:
		return stNull
	}
	return stValid
}

// validity returns the validity bitmap of an array that has nulls, and its offset; arrays of
// the null type have no bitmap, so they get an empty one.
func validity(a arrow.Array) ([]byte, int) {
	if a.DataType().ID() == arrow.NULL {
		return make([]byte, bitutil.BytesForBits(int64(a.Len()))), 0
	}
	return a.NullBitmapBytes(), a.Data().Offset()
}

// cursor walks the states of a vec's rows in increasing order.
type cursor struct {
	v     *vec
	k     int
	valid []byte // validity bitmap, nil when all valid
	off   int
	cst   int
}

func newCursor(v *vec) *cursor {
	c := &cursor{v: v}
	if v.arr == nil {
		c.cst = constState(v.c)
	} else if v.arr.NullN() > 0 {
		c.valid, c.off = validity(v.arr)
	}
	return c
}

// state returns the state of row i, and its error when it has one. Rows must be asked in
// increasing order.
func (c *cursor) state(i int) (int, *rowErr) {
	if c.v.arr == nil {
		if c.cst == stErr {
			return stErr, nil
		}
		return c.cst, nil
	}
	if c.valid == nil || bitutil.BitIsSet(c.valid, c.off+i) {
		return stValid, nil
	}
	errs := c.v.errs
	for c.k < len(errs) && errs[c.k].row < i {
		c.k++
	}
	if c.k < len(errs) && errs[c.k].row == i {
		return stErr, &errs[c.k]
	}
	return stNull, nil
}

// errAt returns the error of row i of a vec in state stErr.
func (c *cursor) errAt(i int, e *rowErr) rowErr {
	if e != nil {
		return *e
	}
	ce := c.v.c.(*types.Err)
	return rowErr{row: i, err: ce.Unwrap(), node: ce.NodeID()}
}

// mask is the outcome of the strictness rules for the arguments of a function: the rows the
// function is applied to (valid; nil means every row), and the errors of the others.
type mask struct {
	valid *memory.Buffer
	errs  []rowErr
}

func (m *mask) release() {
	if m.valid != nil {
		m.valid.Release()
		m.valid = nil
	}
}

// isValid reports whether the function is applied to row i.
func (m *mask) isValid(i int) bool { return m.valid == nil || bitutil.BitIsSet(m.valid.Bytes(), i) }

// fail marks row i as failed with err, raised by the expression node.
func (m *mask) fail(c *evalCtx, i int, err error, node int64) {
	if m.valid == nil {
		m.valid = c.bitmap(true)
	}
	bitutil.ClearBit(m.valid.Bytes(), i)
	m.errs = append(m.errs, rowErr{row: i, err: err, node: node})
}

// sortErrs restores the row order of errs after fail appended to those of the arguments.
func (m *mask) sortErrs() {
	if !slices.IsSortedFunc(m.errs, func(a, b rowErr) int { return a.row - b.row }) {
		slices.SortStableFunc(m.errs, func(a, b rowErr) int { return a.row - b.row })
	}
}

// strict applies cel-go's rules for strict functions to args: a function is applied to a row
// when every argument is a value there. Otherwise, with errFirst (the rule of == and !=, and
// of calls with three or more arguments) an error in any argument wins over a null, the first
// in argument order; without it (unary and binary calls) the first argument that is not a
// value decides. It returns a constant vec when the first argument decides every row.
func (c *evalCtx) strict(errFirst bool, args ...*vec) (mask, *vec) {
	if a := args[0]; a.arr == nil && constState(a.c) != stValid && (!errFirst || constState(a.c) == stErr) {
		return mask{}, &vec{c: a.c}
	}
	slow := false
	var withNulls []arrow.Array
	for _, a := range args {
		if a.arr == nil {
			if constState(a.c) != stValid {
				slow = true
			}
			continue
		}
		if len(a.errs) > 0 {
			slow = true
		}
		if a.arr.NullN() > 0 {
			withNulls = append(withNulls, a.arr)
		}
	}
	if !slow {
		if len(withNulls) == 0 {
			return mask{}, nil
		}
		buf := c.bitmap(true)
		for _, a := range withNulls {
			bits, off := validity(a)
			bitutil.BitmapAnd(buf.Bytes(), bits, 0, int64(off), buf.Bytes(), 0, int64(c.n))
		}
		return mask{valid: buf}, nil
	}
	m := mask{valid: c.bitmap(true)}
	bits := m.valid.Bytes()
	curs := make([]*cursor, len(args))
	for j, a := range args {
		curs[j] = newCursor(a)
	}
	for i := range c.n {
		decided := false
		var nullAt = -1
		for j, cu := range curs {
			st, e := cu.state(i)
			if st == stValid {
				continue
			}
			if st == stErr {
				m.errs = append(m.errs, cu.errAt(i, e))
				decided = true
				break
			}
			if !errFirst {
				decided = true
				break
			}
			if nullAt < 0 {
				nullAt = j
			}
		}
		if decided || nullAt >= 0 {
			bitutil.ClearBit(bits, i)
		}
	}
	return m, nil
}

// bitmap returns a new bitmap of c.n bits, all set or all clear.
func (c *evalCtx) bitmap(set bool) *memory.Buffer {
	buf := memory.NewResizableBuffer(c.mem)
	buf.Resize(int(bitutil.BytesForBits(int64(c.n))))
	b := buf.Bytes()
	var fill byte
	if set {
		fill = 0xff
	}
	for i := range b {
		b[i] = fill
	}
	return buf
}

// buffer returns a new buffer of size bytes; its content is undefined.
func (c *evalCtx) buffer(size int) *memory.Buffer {
	buf := memory.NewResizableBuffer(c.mem)
	buf.Resize(size)
	return buf
}

// makeArray builds an array of type dt and c.n rows from buffers it takes over (validity may
// be nil: no nulls).
func (c *evalCtx) makeArray(dt arrow.DataType, validity *memory.Buffer, bufs ...*memory.Buffer) arrow.Array {
	all := append([]*memory.Buffer{validity}, bufs...)
	nulls := 0
	if validity != nil {
		nulls = array.UnknownNullCount
	}
	d := array.NewData(dt, c.n, all, nil, nulls, 0)
	arr := array.MakeFromData(d)
	d.Release()
	for _, b := range all {
		if b != nil {
			b.Release()
		}
	}
	return arr
}

// materialize turns v into an array of type dt with c.n rows: a constant is repeated.
func (c *evalCtx) materialize(v vec, dt arrow.DataType) (arrow.Array, []rowErr, error) {
	if v.arr != nil {
		if !arrow.TypeEqual(v.arr.DataType(), dt) {
			return nil, nil, fmt.Errorf("expr: %q: internal error: plan produced %s, want %s", c.p.src, v.arr.DataType(), dt)
		}
		v.arr.Retain()
		return v.arr, v.errs, nil
	}
	b := array.NewBuilder(c.mem, dt)
	defer b.Release()
	var errs []rowErr
	if ce, ok := v.c.(*types.Err); ok {
		errs = make([]rowErr, c.n)
		for i := range errs {
			errs[i] = rowErr{row: i, err: ce.Unwrap(), node: ce.NodeID()}
		}
		b.AppendNulls(c.n)
		return b.NewArray(), errs, nil
	}
	if rerr := rangeErr(v.c, dt); rerr != nil {
		errs = make([]rowErr, c.n)
		for i := range errs {
			errs[i] = rowErr{row: i, err: rerr}
		}
		b.AppendNulls(c.n)
		return b.NewArray(), errs, nil
	}
	b.Reserve(c.n)
	for range c.n {
		if err := appendValue(b, v.c); err != nil {
			return nil, nil, err
		}
	}
	return b.NewArray(), nil, nil
}

// colNode reads a column: zero-copy.
type colNode struct {
	idx  int
	name string
}

func (n *colNode) eval(c *evalCtx) (vec, error) {
	col := c.batch.Column(n.idx)
	col.Retain()
	return vec{arr: col}, nil
}

func (n *colNode) String() string { return n.name }

// constNode is a value that does not depend on the row, computed once when planning.
type constNode struct {
	val ref.Val
	src string
}

func (n *constNode) eval(*evalCtx) (vec, error) { return vec{c: n.val}, nil }

func (n *constNode) String() string { return n.src }

// rowNode evaluates a sub-expression row by row with cel-go.
type rowNode struct {
	prg cel.Program
	dt  arrow.DataType
	id  int64
	src string
}

func (n *rowNode) eval(c *evalCtx) (vec, error) { return c.evalRows(n.prg, n.dt, n.id) }

func (n *rowNode) String() string { return "row(" + n.src + ")" }
