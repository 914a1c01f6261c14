package expr

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The errors of the kernels carry cel-go's messages, so both evaluations fail alike.
var (
	errDivideByZero  = errors.New("division by zero")
	errModulusByZero = errors.New("modulus by zero")
	errIntOverflow   = errors.New("integer overflow")
	errUintOverflow  = errors.New("unsigned integer overflow")
)

// eval2 evaluates two nodes; on error it releases what it evaluated.
func eval2(c *evalCtx, a, b node) (vec, vec, error) {
	l, err := a.eval(c)
	if err != nil {
		return vec{}, vec{}, err
	}
	r, err := b.eval(c)
	if err != nil {
		l.release()
		return vec{}, vec{}, err
	}
	return l, r, nil
}

// boolResult builds a bool vec from a values bitmap and a mask.
func (c *evalCtx) boolResult(vals *memory.Buffer, m mask) vec {
	m.sortErrs()
	return vec{arr: c.makeArray(arrow.FixedWidthTypes.Boolean, m.valid, vals), errs: m.errs}
}

// fixedResult builds a vec of a fixed-width type from values and a mask.
func fixedResult[T int64 | uint64 | float64](c *evalCtx, dt arrow.DataType, vals []T, m mask) vec {
	buf := c.buffer(len(vals) * 8)
	copy(arrow.GetData[T](buf.Bytes()), vals)
	m.sortErrs()
	return vec{arr: c.makeArray(dt, m.valid, buf), errs: m.errs}
}

// newValues allocates the values of a fixed-width result in Arrow memory.
func newValues[T int64 | uint64 | float64](c *evalCtx) (*memory.Buffer, []T) {
	buf := c.buffer(c.n * 8)
	return buf, arrow.GetData[T](buf.Bytes())
}

// --- logic ------------------------------------------------------------------------------------

// logicNode is && or ||, with cel-go's commutative rules: for &&, false in either argument
// wins, then null, then the first error; || likewise with true.
type logicNode struct {
	and  bool
	l, r node
	src  string
}

func (n *logicNode) String() string {
	op := " || "
	if n.and {
		op = " && "
	}
	return "(" + n.l.String() + op + n.r.String() + ")"
}

// validValues returns row-aligned validity and value bytes of a bool vec.
func (c *evalCtx) validValues(v *vec) (valid, vals []byte) {
	nb := int(bitutil.BytesForBits(int64(c.n)))
	valid = make([]byte, nb)
	vals = make([]byte, nb)
	if v.arr == nil {
		if b, ok := v.c.(types.Bool); ok {
			for i := range valid {
				valid[i] = 0xff
				if b {
					vals[i] = 0xff
				}
			}
		}
		return valid, vals
	}
	d := v.arr.Data()
	bitutil.CopyBitmap(d.Buffers()[1].Bytes(), d.Offset(), c.n, vals, 0)
	if v.arr.NullN() == 0 {
		for i := range valid {
			valid[i] = 0xff
		}
	} else {
		bits, off := validity(v.arr)
		bitutil.CopyBitmap(bits, off, c.n, valid, 0)
	}
	return valid, vals
}

func (n *logicNode) eval(c *evalCtx) (vec, error) {
	l, r, err := eval2(c, n.l, n.r)
	if err != nil {
		return vec{}, err
	}
	defer l.release()
	defer r.release()
	lValid, lVals := c.validValues(&l)
	rValid, rVals := c.validValues(&r)
	validBuf, valsBuf := c.bitmap(false), c.bitmap(false)
	valid, vals := validBuf.Bytes(), valsBuf.Bytes()
	for i := range valid {
		var lDecided, rDecided, res byte
		if n.and {
			// definitely false
			lDecided, rDecided = lValid[i]&^lVals[i], rValid[i]&^rVals[i]
			both := lValid[i] & lVals[i] & rValid[i] & rVals[i]
			valid[i] = lDecided | rDecided | both
			res = both
		} else {
			lDecided, rDecided = lValid[i]&lVals[i], rValid[i]&rVals[i]
			none := lValid[i] &^ lVals[i] & rValid[i] &^ rVals[i]
			valid[i] = lDecided | rDecided | none
			res = lDecided | rDecided
		}
		vals[i] = res
	}
	// Invalid rows are null unless neither side is null there and one side failed.
	var errs []rowErr
	if len(l.errs) > 0 || len(r.errs) > 0 || l.arr == nil && constState(l.c) == stErr || r.arr == nil && constState(r.c) == stErr {
		lc, rc := newCursor(&l), newCursor(&r)
		for i := range c.n {
			if bitutil.BitIsSet(valid, i) {
				continue
			}
			ls, le := lc.state(i)
			rs, re := rc.state(i)
			switch {
			case ls == stNull || rs == stNull:
			case ls == stErr:
				errs = append(errs, lc.errAt(i, le))
			case rs == stErr:
				errs = append(errs, rc.errAt(i, re))
			}
		}
	}
	return vec{arr: c.makeArray(arrow.FixedWidthTypes.Boolean, validBuf, valsBuf), errs: errs}, nil
}

// notNode is !x.
type notNode struct {
	arg node
	src string
}

func (n *notNode) String() string { return "!" + n.arg.String() }

func (n *notNode) eval(c *evalCtx) (vec, error) {
	a, err := n.arg.eval(c)
	if err != nil {
		return vec{}, err
	}
	defer a.release()
	m, k := c.strict(false, &a)
	if k != nil {
		return *k, nil
	}
	_, vals := c.validValues(&a)
	out := c.bitmap(false)
	ob := out.Bytes()
	for i := range ob {
		ob[i] = ^vals[i]
	}
	return c.boolResult(out, m), nil
}

// condNode is c ? t : f: the condition picks the branch whose value (or null, or error) the row
// takes; a null or failed condition makes the row null or failed.
type condNode struct {
	cond, t, f node
	kind       types.Kind
	src        string
}

func (n *condNode) String() string {
	return "(" + n.cond.String() + " ? " + n.t.String() + " : " + n.f.String() + ")"
}

func (n *condNode) eval(c *evalCtx) (vec, error) {
	cv, err := n.cond.eval(c)
	if err != nil {
		return vec{}, err
	}
	defer cv.release()
	t, f, err := eval2(c, n.t, n.f)
	if err != nil {
		return vec{}, err
	}
	defer t.release()
	defer f.release()
	dt := kindArrowType(n.kind)
	b := array.NewBuilder(c.mem, dt)
	defer b.Release()
	b.Reserve(c.n)
	cb := newBoolView(&cv)
	cc, tc, fc := newCursor(&cv), newCursor(&t), newCursor(&f)
	pick := c.picker(n.kind, &t, &f, b)
	var errs []rowErr
	for i := range c.n {
		cs, ce := cc.state(i)
		ts, te := tc.state(i)
		fs, fe := fc.state(i)
		switch {
		case cs == stErr:
			errs = append(errs, cc.errAt(i, ce))
			b.AppendNull()
		case cs == stNull:
			b.AppendNull()
		case cb.at(i):
			if ts == stErr {
				errs = append(errs, tc.errAt(i, te))
			}
			if ts != stValid {
				b.AppendNull()
				continue
			}
			pick(true, i)
		default:
			if fs == stErr {
				errs = append(errs, fc.errAt(i, fe))
			}
			if fs != stValid {
				b.AppendNull()
				continue
			}
			pick(false, i)
		}
	}
	return vec{arr: b.NewArray(), errs: errs}, nil
}

// picker returns a function appending row i of t (first) or f to b.
func (c *evalCtx) picker(k types.Kind, t, f *vec, b array.Builder) func(first bool, i int) {
	switch k {
	case types.BoolKind:
		tv, fv := newBoolView(t), newBoolView(f)
		bb := b.(*array.BooleanBuilder)
		return func(first bool, i int) {
			if first {
				bb.Append(tv.at(i))
			} else {
				bb.Append(fv.at(i))
			}
		}
	case types.IntKind:
		tv, fv := c.int64s(t), c.int64s(f)
		ib := b.(*array.Int64Builder)
		return func(first bool, i int) { ib.Append(choose(first, tv[i], fv[i])) }
	case types.UintKind:
		tv, fv := c.uint64s(t), c.uint64s(f)
		ub := b.(*array.Uint64Builder)
		return func(first bool, i int) { ub.Append(choose(first, tv[i], fv[i])) }
	case types.DoubleKind:
		tv, fv := c.float64s(t, k), c.float64s(f, k)
		db := b.(*array.Float64Builder)
		return func(first bool, i int) { db.Append(choose(first, tv[i], fv[i])) }
	case types.StringKind:
		tv, fv := newStrView(t), newStrView(f)
		sb := b.(*array.StringBuilder)
		return func(first bool, i int) {
			if first {
				sb.Append(tv.at(i))
			} else {
				sb.Append(fv.at(i))
			}
		}
	default: // bytes
		tv, fv := newStrView(t), newStrView(f)
		bb := b.(*array.BinaryBuilder)
		return func(first bool, i int) {
			if first {
				bb.AppendString(tv.at(i))
			} else {
				bb.AppendString(fv.at(i))
			}
		}
	}
}

func choose[T any](first bool, a, b T) T {
	if first {
		return a
	}
	return b
}

// nullTestNode is isNull(x) or isNotNull(x): never null; an error in x propagates.
type nullTestNode struct {
	arg    node
	isNull bool
	src    string
}

func (n *nullTestNode) String() string {
	if n.isNull {
		return "isNull(" + n.arg.String() + ")"
	}
	return "isNotNull(" + n.arg.String() + ")"
}

func (n *nullTestNode) eval(c *evalCtx) (vec, error) {
	a, err := n.arg.eval(c)
	if err != nil {
		return vec{}, err
	}
	defer a.release()
	if a.arr == nil {
		if constState(a.c) == stErr {
			return vec{c: a.c}, nil
		}
		return vec{c: types.Bool(isNullVal(a.c) == n.isNull)}, nil
	}
	vals := c.bitmap(!n.isNull)
	if a.arr.NullN() > 0 {
		bits, off := validity(a.arr)
		bitutil.CopyBitmap(bits, off, c.n, vals.Bytes(), 0)
		if n.isNull {
			bitutil.InvertBitmap(vals.Bytes(), 0, c.n, vals.Bytes(), 0)
		}
	}
	var m mask
	if len(a.errs) > 0 {
		m.valid = c.bitmap(true)
		for _, e := range a.errs {
			bitutil.ClearBit(m.valid.Bytes(), e.row)
		}
		m.errs = a.errs
	}
	return c.boolResult(vals, m), nil
}

// --- comparisons ------------------------------------------------------------------------------

// cmpNode compares two values: numbers (of any numeric kinds, as cel-go does), strings and bytes
// (bytewise), bools (false < true) and timestamps.
type cmpNode struct {
	op     string
	l, r   node
	lk, rk types.Kind
	id     int64
	src    string
}

var cmpSymbols = map[string]string{
	operators.Equals: "==", operators.NotEquals: "!=", operators.Less: "<",
	operators.LessEquals: "<=", operators.Greater: ">", operators.GreaterEquals: ">=",
}

func (n *cmpNode) String() string {
	return "(" + n.l.String() + " " + cmpSymbols[n.op] + " " + n.r.String() + ")"
}

// holds reports whether a comparison result (-1, 0, 1) satisfies op.
func holds(op string, r int) bool {
	switch op {
	case operators.Equals:
		return r == 0
	case operators.NotEquals:
		return r != 0
	case operators.Less:
		return r < 0
	case operators.LessEquals:
		return r <= 0
	case operators.Greater:
		return r > 0
	default:
		return r >= 0
	}
}

func compare3[T int64 | uint64 | float64 | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (n *cmpNode) eval(c *evalCtx) (vec, error) {
	l, r, err := eval2(c, n.l, n.r)
	if err != nil {
		return vec{}, err
	}
	defer l.release()
	defer r.release()
	m, k := c.strict(n.op == operators.Equals || n.op == operators.NotEquals, &l, &r)
	if k != nil {
		return *k, nil
	}
	out := c.bitmap(false)
	bits := out.Bytes()
	set := func(i int, ok bool) {
		if ok {
			bitutil.SetBit(bits, i)
		}
	}
	lk, rk := n.lk, n.rk
	if c.numConst(&l, &r, lk, rk, n.op, bits) || (lk == types.StringKind || lk == types.BytesKind) && strConst(&l, &r, n.op, bits) {
		return c.boolResult(out, m), nil
	}
	switch {
	case lk == types.IntKind && rk == types.IntKind:
		cmpLoop(c.int64s(&l), c.int64s(&r), n.op, bits)
	case lk == types.UintKind && rk == types.UintKind:
		cmpLoop(c.uint64s(&l), c.uint64s(&r), n.op, bits)
	case lk == types.IntKind && rk == types.UintKind:
		a, b := c.int64s(&l), c.uint64s(&r)
		for i := range c.n {
			set(i, holds(n.op, compareIntUint(a[i], b[i])))
		}
	case lk == types.UintKind && rk == types.IntKind:
		a, b := c.uint64s(&l), c.int64s(&r)
		for i := range c.n {
			set(i, holds(n.op, -compareIntUint(b[i], a[i])))
		}
	case lk == types.DoubleKind || rk == types.DoubleKind:
		// cel-go compares an int or a uint with a double as doubles; NaN is never ordered and
		// never equal.
		a, b := c.float64s(&l, lk), c.float64s(&r, rk)
		if n.op == operators.NotEquals {
			for i := range c.n {
				set(i, a[i] != b[i])
			}
		} else {
			cmpLoop(a, b, n.op, bits)
		}
	case lk == types.StringKind || lk == types.BytesKind:
		a, b := newStrView(&l), newStrView(&r)
		if n.op == operators.Equals || n.op == operators.NotEquals {
			eq := n.op == operators.Equals
			for i := range c.n {
				set(i, (a.at(i) == b.at(i)) == eq)
			}
		} else {
			for i := range c.n {
				set(i, holds(n.op, strings.Compare(a.at(i), b.at(i))))
			}
		}
	case lk == types.BoolKind:
		a, b := newBoolView(&l), newBoolView(&r)
		for i := range c.n {
			x, y := 0, 0
			if a.at(i) {
				x = 1
			}
			if b.at(i) {
				y = 1
			}
			set(i, holds(n.op, x-y))
		}
	case lk == types.TimestampKind:
		a, b := newTSView(&l), newTSView(&r)
		if a.vals != nil && b.vals != nil && a.unit == b.unit {
			cmpLoop(a.vals, b.vals, n.op, bits)
			break
		}
		for i := range c.n {
			as, an := a.at(i)
			bs, bn := b.at(i)
			set(i, holds(n.op, cmp2(as, an, bs, bn)))
		}
	}
	return c.boolResult(out, m), nil
}

// cmpLoop sets bit i of out where a[i] op b[i].
func cmpLoop[T int64 | uint64 | float64](a, b []T, op string, out []byte) {
	switch op {
	case operators.Equals:
		for i := range a {
			if a[i] == b[i] {
				bitutil.SetBit(out, i)
			}
		}
	case operators.NotEquals:
		for i := range a {
			if a[i] != b[i] {
				bitutil.SetBit(out, i)
			}
		}
	case operators.Less:
		for i := range a {
			if a[i] < b[i] {
				bitutil.SetBit(out, i)
			}
		}
	case operators.LessEquals:
		for i := range a {
			if a[i] <= b[i] {
				bitutil.SetBit(out, i)
			}
		}
	case operators.Greater:
		for i := range a {
			if a[i] > b[i] {
				bitutil.SetBit(out, i)
			}
		}
	default:
		for i := range a {
			if a[i] >= b[i] {
				bitutil.SetBit(out, i)
			}
		}
	}
}

// compareIntUint is cel-go's comparison of an int with a uint.
func compareIntUint(i int64, u uint64) int {
	if i < 0 || u > math.MaxInt64 {
		return -1
	}
	return compare3(i, int64(u))
}

func cmp2(as, an, bs, bn int64) int {
	if c := compare3(as, bs); c != 0 {
		return c
	}
	return compare3(an, bn)
}

// --- arithmetic -------------------------------------------------------------------------------

// arithNode is +, -, *, / or % on ints (checked for overflow, as cel-go), uints (likewise) or
// doubles (IEEE 754).
type arithNode struct {
	op   string
	l, r node
	kind types.Kind
	id   int64
	src  string
}

var arithSymbols = map[string]string{
	operators.Add: "+", operators.Subtract: "-", operators.Multiply: "*", operators.Divide: "/", operators.Modulo: "%",
}

func (n *arithNode) String() string {
	return "(" + n.l.String() + " " + arithSymbols[n.op] + " " + n.r.String() + ")"
}

func (n *arithNode) eval(c *evalCtx) (vec, error) {
	l, r, err := eval2(c, n.l, n.r)
	if err != nil {
		return vec{}, err
	}
	defer l.release()
	defer r.release()
	m, k := c.strict(false, &l, &r)
	if k != nil {
		return *k, nil
	}
	switch n.kind {
	case types.IntKind:
		a, b := c.int64s(&l), c.int64s(&r)
		buf, out := newValues[int64](c)
		for i := range c.n {
			v, err := intOp(n.op, a[i], b[i])
			if err != nil {
				if m.isValid(i) {
					m.fail(c, i, err, n.id)
				}
				continue
			}
			out[i] = v
		}
		m.sortErrs()
		return vec{arr: c.makeArray(arrow.PrimitiveTypes.Int64, m.valid, buf), errs: m.errs}, nil
	case types.UintKind:
		a, b := c.uint64s(&l), c.uint64s(&r)
		buf, out := newValues[uint64](c)
		for i := range c.n {
			v, err := uintOp(n.op, a[i], b[i])
			if err != nil {
				if m.isValid(i) {
					m.fail(c, i, err, n.id)
				}
				continue
			}
			out[i] = v
		}
		m.sortErrs()
		return vec{arr: c.makeArray(arrow.PrimitiveTypes.Uint64, m.valid, buf), errs: m.errs}, nil
	}
	buf, out := newValues[float64](c)
	if r.arr == nil && l.arr != nil {
		// A column and a constant: no broadcast.
		a := c.float64s(&l, n.kind)
		k, _ := r.c.(types.Double)
		scalarArith(n.op, a, float64(k), out)
		m.sortErrs()
		return vec{arr: c.makeArray(arrow.PrimitiveTypes.Float64, m.valid, buf), errs: m.errs}, nil
	}
	a, b := c.float64s(&l, n.kind), c.float64s(&r, n.kind)
	switch n.op {
	case operators.Add:
		for i := range out {
			out[i] = a[i] + b[i]
		}
	case operators.Subtract:
		for i := range out {
			out[i] = a[i] - b[i]
		}
	case operators.Multiply:
		for i := range out {
			out[i] = a[i] * b[i]
		}
	default:
		for i := range out {
			out[i] = a[i] / b[i]
		}
	}
	m.sortErrs()
	return vec{arr: c.makeArray(arrow.PrimitiveTypes.Float64, m.valid, buf), errs: m.errs}, nil
}

// scalarArith computes a[i] op k for doubles.
func scalarArith(op string, a []float64, k float64, out []float64) {
	switch op {
	case operators.Add:
		for i, x := range a {
			out[i] = x + k
		}
	case operators.Subtract:
		for i, x := range a {
			out[i] = x - k
		}
	case operators.Multiply:
		for i, x := range a {
			out[i] = x * k
		}
	default:
		for i, x := range a {
			out[i] = x / k
		}
	}
}

// intOp is cel-go's checked int arithmetic.
func intOp(op string, x, y int64) (int64, error) {
	switch op {
	case operators.Add:
		if (y > 0 && x > math.MaxInt64-y) || (y < 0 && x < math.MinInt64-y) {
			return 0, errIntOverflow
		}
		return x + y, nil
	case operators.Subtract:
		if (y < 0 && x > math.MaxInt64+y) || (y > 0 && x < math.MinInt64+y) {
			return 0, errIntOverflow
		}
		return x - y, nil
	case operators.Multiply:
		if (x == -1 && y == math.MinInt64) || (y == -1 && x == math.MinInt64) ||
			(x > 0 && y > 0 && x > math.MaxInt64/y) ||
			(x > 0 && y < 0 && y < math.MinInt64/x) ||
			(x < 0 && y > 0 && x < math.MinInt64/y) ||
			(x < 0 && y < 0 && y < math.MaxInt64/x) {
			return 0, errIntOverflow
		}
		return x * y, nil
	case operators.Divide:
		if y == 0 {
			return 0, errDivideByZero
		}
		if x == math.MinInt64 && y == -1 {
			return 0, errIntOverflow
		}
		return x / y, nil
	default:
		if y == 0 {
			return 0, errModulusByZero
		}
		if x == math.MinInt64 && y == -1 {
			return 0, errIntOverflow
		}
		return x % y, nil
	}
}

// uintOp is cel-go's checked uint arithmetic.
func uintOp(op string, x, y uint64) (uint64, error) {
	switch op {
	case operators.Add:
		if y > 0 && x > math.MaxUint64-y {
			return 0, errUintOverflow
		}
		return x + y, nil
	case operators.Subtract:
		if y > x {
			return 0, errUintOverflow
		}
		return x - y, nil
	case operators.Multiply:
		if y != 0 && x > math.MaxUint64/y {
			return 0, errUintOverflow
		}
		return x * y, nil
	case operators.Divide:
		if y == 0 {
			return 0, errDivideByZero
		}
		return x / y, nil
	default:
		if y == 0 {
			return 0, errModulusByZero
		}
		return x % y, nil
	}
}

// concatNode is s + t on strings or bytes.
type concatNode struct {
	l, r  node
	bytes bool
}

func (n *concatNode) String() string { return "(" + n.l.String() + " + " + n.r.String() + ")" }

func (n *concatNode) eval(c *evalCtx) (vec, error) {
	l, r, err := eval2(c, n.l, n.r)
	if err != nil {
		return vec{}, err
	}
	defer l.release()
	defer r.release()
	m, k := c.strict(false, &l, &r)
	if k != nil {
		return *k, nil
	}
	defer m.release()
	var b *array.BinaryBuilder
	var out array.Builder
	if n.bytes {
		b = array.NewBinaryBuilder(c.mem, arrow.BinaryTypes.Binary)
		out = b
	} else {
		sb := array.NewStringBuilder(c.mem)
		b, out = sb.BinaryBuilder, sb
	}
	defer out.Release()
	b.Reserve(c.n)
	a, z := newStrView(&l), newStrView(&r)
	var scratch []byte
	for i := range c.n {
		if !m.isValid(i) {
			b.AppendNull()
			continue
		}
		scratch = append(append(scratch[:0], a.at(i)...), z.at(i)...)
		b.Append(scratch)
	}
	return vec{arr: out.NewArray(), errs: m.errs}, nil
}

// negNode is -x.
type negNode struct {
	arg  node
	kind types.Kind
	id   int64
	src  string
}

func (n *negNode) String() string { return "-" + n.arg.String() }

func (n *negNode) eval(c *evalCtx) (vec, error) {
	a, err := n.arg.eval(c)
	if err != nil {
		return vec{}, err
	}
	defer a.release()
	m, k := c.strict(false, &a)
	if k != nil {
		return *k, nil
	}
	if n.kind == types.IntKind {
		in := c.int64s(&a)
		buf, out := newValues[int64](c)
		for i, x := range in {
			if x == math.MinInt64 {
				if m.isValid(i) {
					m.fail(c, i, errIntOverflow, n.id)
				}
				continue
			}
			out[i] = -x
		}
		m.sortErrs()
		return vec{arr: c.makeArray(arrow.PrimitiveTypes.Int64, m.valid, buf), errs: m.errs}, nil
	}
	in := c.float64s(&a, n.kind)
	buf, out := newValues[float64](c)
	for i, x := range in {
		out[i] = -x
	}
	m.sortErrs()
	return vec{arr: c.makeArray(arrow.PrimitiveTypes.Float64, m.valid, buf), errs: m.errs}, nil
}

// --- strings, bytes and lists ----------------------------------------------------------------

// sizeNode is size(x): characters of a string (runes, counting each invalid byte as one, as
// cel-go), bytes of bytes, elements of a list.
type sizeNode struct {
	arg  node
	kind types.Kind
	src  string
}

func (n *sizeNode) String() string { return "size(" + n.arg.String() + ")" }

func (n *sizeNode) eval(c *evalCtx) (vec, error) {
	a, err := n.arg.eval(c)
	if err != nil {
		return vec{}, err
	}
	defer a.release()
	m, k := c.strict(false, &a)
	if k != nil {
		return *k, nil
	}
	buf, out := newValues[int64](c)
	switch {
	case n.kind == types.ListKind && a.arr != nil:
		ll, ok := a.arr.(array.ListLike)
		if !ok {
			return vec{}, errors.New("expr: size of a list: not a list array")
		}
		for i := range out {
			s, e := ll.ValueOffsets(i)
			out[i] = e - s
		}
	case n.kind == types.ListKind:
		return vec{}, errors.New("expr: size of a constant list was not folded")
	case n.kind == types.BytesKind:
		if raw, ok := rawOf(&a); ok {
			for i := range out {
				out[i] = int64(raw.offs[i+1] - raw.offs[i])
			}
			break
		}
		sv := newStrView(&a)
		for i := range out {
			out[i] = int64(len(sv.at(i)))
		}
	default:
		sv := newStrView(&a)
		for i := range out {
			out[i] = int64(utf8.RuneCountInString(sv.at(i)))
		}
	}
	m.sortErrs()
	return vec{arr: c.makeArray(arrow.PrimitiveTypes.Int64, m.valid, buf), errs: m.errs}, nil
}

// strPredNode is contains, startsWith or endsWith on strings or bytes.
type strPredNode struct {
	op    string
	l, r  node
	bytes bool
	src   string
}

func (n *strPredNode) String() string { return n.l.String() + "." + n.op + "(" + n.r.String() + ")" }

func (n *strPredNode) eval(c *evalCtx) (vec, error) {
	l, r, err := eval2(c, n.l, n.r)
	if err != nil {
		return vec{}, err
	}
	defer l.release()
	defer r.release()
	m, k := c.strict(false, &l, &r)
	if k != nil {
		return *k, nil
	}
	out := c.bitmap(false)
	bits := out.Bytes()
	if strConst(&l, &r, n.op, bits) {
		return c.boolResult(out, m), nil
	}
	a, b := newStrView(&l), newStrView(&r)
	var pred func(s, sub string) bool
	switch n.op {
	case overloads.Contains:
		pred = strings.Contains
	case overloads.StartsWith:
		pred = strings.HasPrefix
	default:
		pred = strings.HasSuffix
	}
	for i := range c.n {
		if pred(a.at(i), b.at(i)) {
			bitutil.SetBit(bits, i)
		}
	}
	return c.boolResult(out, m), nil
}

// matchNode is x.matches(re) with a constant pattern, compiled once.
type matchNode struct {
	re    *regexp.Regexp
	arg   node
	bytes bool
	src   string
}

func (n *matchNode) String() string {
	return n.arg.String() + ".matches(" + strconv.Quote(n.re.String()) + ")"
}

func (n *matchNode) eval(c *evalCtx) (vec, error) {
	a, err := n.arg.eval(c)
	if err != nil {
		return vec{}, err
	}
	defer a.release()
	m, k := c.strict(false, &a)
	if k != nil {
		return *k, nil
	}
	out := c.bitmap(false)
	bits := out.Bytes()
	sv := newStrView(&a)
	for i := range c.n {
		if m.isValid(i) && n.re.MatchString(sv.at(i)) {
			bitutil.SetBit(bits, i)
		}
	}
	return c.boolResult(out, m), nil
}

// inNode is x in [constants...], with a hash set.
type inNode struct {
	arg  node
	set  map[any]bool
	kind types.Kind
	src  string
}

func (n *inNode) String() string { return n.src }

func (n *inNode) eval(c *evalCtx) (vec, error) {
	a, err := n.arg.eval(c)
	if err != nil {
		return vec{}, err
	}
	defer a.release()
	m, k := c.strict(false, &a)
	if k != nil {
		return *k, nil
	}
	out := c.bitmap(false)
	bits := out.Bytes()
	switch n.kind {
	case types.IntKind:
		set := typedSet[int64](n.set)
		for i, x := range c.int64s(&a) {
			if set[x] {
				bitutil.SetBit(bits, i)
			}
		}
	case types.UintKind:
		set := typedSet[uint64](n.set)
		for i, x := range c.uint64s(&a) {
			if set[x] {
				bitutil.SetBit(bits, i)
			}
		}
	case types.BoolKind:
		bv := newBoolView(&a)
		for i := range c.n {
			if n.set[bv.at(i)] {
				bitutil.SetBit(bits, i)
			}
		}
	default:
		set := typedSet[string](n.set)
		sv := newStrView(&a)
		for i := range c.n {
			if set[sv.at(i)] {
				bitutil.SetBit(bits, i)
			}
		}
	}
	return c.boolResult(out, m), nil
}

func typedSet[T comparable](s map[any]bool) map[T]bool {
	out := make(map[T]bool, len(s))
	for k := range s {
		if x, ok := k.(T); ok {
			out[x] = true
		}
	}
	return out
}

// reinterpretNode is string(bytes) or bytes(string): the same buffers under the other type,
// without copying. string(bytes) keeps invalid UTF-8, as Spark's cast does.
type reinterpretNode struct {
	arg      node
	toString bool
	src      string
}

func (n *reinterpretNode) String() string {
	if n.toString {
		return "string(" + n.arg.String() + ")"
	}
	return "bytes(" + n.arg.String() + ")"
}

func (n *reinterpretNode) eval(c *evalCtx) (vec, error) {
	a, err := n.arg.eval(c)
	if err != nil {
		return vec{}, err
	}
	defer a.release()
	if a.arr == nil {
		switch x := a.c.(type) {
		case types.Bytes:
			return vec{c: types.String(x)}, nil
		case types.String:
			return vec{c: types.Bytes(x)}, nil
		}
		return vec{c: a.c}, nil
	}
	to := arrow.BinaryTypes.Binary
	if n.toString {
		to = arrow.BinaryTypes.String
	}
	switch a.arr.(type) {
	case *array.Binary, *array.String:
		d := a.arr.Data()
		nd := array.NewData(to, d.Len(), d.Buffers(), nil, d.NullN(), d.Offset())
		defer nd.Release()
		return vec{arr: array.MakeFromData(nd), errs: a.errs}, nil
	}
	// Large variants: copy into the regular type.
	b := array.NewBuilder(c.mem, to)
	defer b.Release()
	sv := newStrView(&a)
	for i := range c.n {
		if a.arr.IsNull(i) {
			b.AppendNull()
			continue
		}
		if n.toString {
			b.(*array.StringBuilder).Append(sv.at(i))
		} else {
			b.(*array.BinaryBuilder).AppendString(sv.at(i))
		}
	}
	return vec{arr: b.NewArray(), errs: a.errs}, nil
}

// convertible reports whether convNode implements a conversion overload.
func convertible(oid string) bool {
	switch oid {
	case overloads.IntToInt, overloads.UintToUint, overloads.DoubleToDouble, overloads.IntToDouble,
		overloads.UintToDouble, overloads.IntToUint, overloads.UintToInt, overloads.DoubleToInt,
		overloads.DoubleToUint, overloads.IntToString, overloads.UintToString, overloads.StringToString,
		overloads.BytesToBytes, overloads.BoolToBool:
		return true
	}
	return false
}

// convNode is a numeric conversion (int(x), double(x)...), checked as cel-go checks it.
type convNode struct {
	oid string
	arg node
	id  int64
	src string
}

func (n *convNode) String() string {
	_, to, _ := strings.Cut(n.oid, "_to_")
	switch to {
	case "int64":
		to = "int"
	case "uint64":
		to = "uint"
	}
	return to + "(" + n.arg.String() + ")"
}

func (n *convNode) eval(c *evalCtx) (vec, error) {
	a, err := n.arg.eval(c)
	if err != nil {
		return vec{}, err
	}
	defer a.release()
	m, k := c.strict(false, &a)
	if k != nil {
		return *k, nil
	}
	fail := func(i int, err error) {
		if m.isValid(i) {
			m.fail(c, i, err, n.id)
		}
	}
	switch n.oid {
	case overloads.IntToInt:
		return fixedResult(c, arrow.PrimitiveTypes.Int64, c.int64s(&a), m), nil
	case overloads.UintToUint:
		return fixedResult(c, arrow.PrimitiveTypes.Uint64, c.uint64s(&a), m), nil
	case overloads.DoubleToDouble:
		return fixedResult(c, arrow.PrimitiveTypes.Float64, c.float64s(&a, types.DoubleKind), m), nil
	case overloads.IntToDouble:
		return fixedResult(c, arrow.PrimitiveTypes.Float64, c.float64s(&a, types.IntKind), m), nil
	case overloads.UintToDouble:
		return fixedResult(c, arrow.PrimitiveTypes.Float64, c.float64s(&a, types.UintKind), m), nil
	case overloads.IntToUint:
		in := c.int64s(&a)
		out := make([]uint64, c.n)
		for i, x := range in {
			if x < 0 {
				fail(i, errUintOverflow)
				continue
			}
			out[i] = uint64(x)
		}
		return fixedResult(c, arrow.PrimitiveTypes.Uint64, out, m), nil
	case overloads.UintToInt:
		in := c.uint64s(&a)
		out := make([]int64, c.n)
		for i, x := range in {
			if x > math.MaxInt64 {
				fail(i, errIntOverflow)
				continue
			}
			out[i] = int64(x)
		}
		return fixedResult(c, arrow.PrimitiveTypes.Int64, out, m), nil
	case overloads.DoubleToInt:
		in := c.float64s(&a, types.DoubleKind)
		out := make([]int64, c.n)
		for i, v := range in {
			if math.IsInf(v, 0) || math.IsNaN(v) || v <= float64(math.MinInt64) || v >= float64(math.MaxInt64) {
				fail(i, errIntOverflow)
				continue
			}
			out[i] = int64(v)
		}
		return fixedResult(c, arrow.PrimitiveTypes.Int64, out, m), nil
	case overloads.DoubleToUint:
		in := c.float64s(&a, types.DoubleKind)
		out := make([]uint64, c.n)
		for i, v := range in {
			if math.IsInf(v, 0) || math.IsNaN(v) || v < 0 || v >= 18446744073709551616.0 {
				fail(i, errUintOverflow)
				continue
			}
			out[i] = uint64(v)
		}
		return fixedResult(c, arrow.PrimitiveTypes.Uint64, out, m), nil
	case overloads.IntToString, overloads.UintToString:
		b := array.NewStringBuilder(c.mem)
		defer b.Release()
		var ints []int64
		var uints []uint64
		if n.oid == overloads.IntToString {
			ints = c.int64s(&a)
		} else {
			uints = c.uint64s(&a)
		}
		var scratch []byte
		for i := range c.n {
			if !m.isValid(i) {
				b.AppendNull()
				continue
			}
			if ints != nil {
				scratch = strconv.AppendInt(scratch[:0], ints[i], 10)
			} else {
				scratch = strconv.AppendUint(scratch[:0], uints[i], 10)
			}
			b.BinaryBuilder.Append(scratch)
		}
		m.release()
		return vec{arr: b.NewArray(), errs: m.errs}, nil
	}
	// string(string), bytes(bytes), bool(bool): the value itself, in the canonical type.
	m.release()
	var dt arrow.DataType = arrow.BinaryTypes.String
	switch n.oid {
	case overloads.BytesToBytes:
		dt = arrow.BinaryTypes.Binary
	case overloads.BoolToBool:
		dt = arrow.FixedWidthTypes.Boolean
	}
	if a.arr != nil && arrow.TypeEqual(a.arr.DataType(), dt) {
		a.arr.Retain()
		return vec{arr: a.arr, errs: a.errs}, nil
	}
	if a.arr == nil {
		return vec{c: a.c}, nil
	}
	return vec{}, errors.New("expr: identity conversion of a " + a.arr.DataType().String())
}

// --- struct fields ----------------------------------------------------------------------------

// fieldNode reads a field of a struct column (s.a.b): the child array, with the nulls of its
// parents merged into its validity. Values are not copied.
type fieldNode struct {
	col  int
	path []int
	name string
}

func (n *fieldNode) String() string { return n.name }

// validity returns the validity of the field at path in the frame of the child's own offset,
// or nil when no level has nulls.
func (n *fieldNode) resolve(c *evalCtx) (child arrow.Array, valid *memory.Buffer) {
	arr := c.batch.Column(n.col)
	levels := []arrow.Array{arr}
	for _, idx := range n.path {
		arr = arr.(*array.Struct).Field(idx)
		levels = append(levels, arr)
	}
	child = arr
	off := child.Data().Offset()
	anyNulls := false
	for _, l := range levels {
		if l.NullN() > 0 {
			anyNulls = true
		}
	}
	if !anyNulls {
		return child, nil
	}
	buf := memory.NewResizableBuffer(c.mem)
	buf.Resize(int(bitutil.BytesForBits(int64(off + c.n))))
	bits := buf.Bytes()
	for i := range bits {
		bits[i] = 0
	}
	for i := range c.n {
		ok := true
		for _, l := range levels {
			if l.IsNull(i) {
				ok = false
				break
			}
		}
		if ok {
			bitutil.SetBit(bits, off+i)
		}
	}
	return child, buf
}

func (n *fieldNode) eval(c *evalCtx) (vec, error) {
	child, valid := n.resolve(c)
	if valid == nil {
		child.Retain()
		return vec{arr: child}, nil
	}
	defer valid.Release()
	d := child.Data()
	bufs := append([]*memory.Buffer{valid}, d.Buffers()[1:]...)
	nd := array.NewData(d.DataType(), d.Len(), bufs, d.Children(), array.UnknownNullCount, d.Offset())
	defer nd.Release()
	return vec{arr: array.MakeFromData(nd)}, nil
}

// hasNode is has(s.f): whether the field is non-null (false when a parent struct is null).
type hasNode struct {
	field *fieldNode
	src   string
}

func (n *hasNode) String() string { return n.src }

func (n *hasNode) eval(c *evalCtx) (vec, error) {
	child, valid := n.field.resolve(c)
	out := c.bitmap(true)
	if valid != nil {
		bitutil.CopyBitmap(valid.Bytes(), child.Data().Offset(), c.n, out.Bytes(), 0)
		valid.Release()
	}
	return c.boolResult(out, mask{}), nil
}

// --- functions --------------------------------------------------------------------------------

// udfNode calls a registered Go function for every row, without cel-go's interpreter.
type udfNode struct {
	o    *overload
	args []node
	dt   arrow.DataType
	id   int64
	src  string
}

func (n *udfNode) String() string {
	parts := make([]string, len(n.args))
	for i, a := range n.args {
		parts[i] = a.String()
	}
	return n.o.fn + "(" + strings.Join(parts, ", ") + ")"
}

func (n *udfNode) eval(c *evalCtx) (vec, error) {
	vals := make([]vec, 0, len(n.args))
	defer func() {
		for _, v := range vals {
			v.release()
		}
	}()
	for _, a := range n.args {
		v, err := a.eval(c)
		if err != nil {
			return vec{}, err
		}
		vals = append(vals, v)
	}
	ptrs := make([]*vec, len(vals))
	readers := make([]reader, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
		if vals[i].arr == nil {
			k := vals[i].c
			readers[i] = func(int) ref.Val { return k }
			continue
		}
		r, err := newReader(vals[i].arr, "", c.p.se.prov)
		if err != nil {
			return vec{}, err
		}
		readers[i] = r
	}
	m, k := c.strict(len(vals) > 2, ptrs...)
	if k != nil {
		return *k, nil
	}
	defer m.release()
	b := array.NewBuilder(c.mem, n.dt)
	defer b.Release()
	b.Reserve(c.n)
	args := make([]ref.Val, len(vals))
	errs := m.errs
	check := hasTimestamp(n.dt)
	for i := range c.n {
		if i%checkEvery == 0 {
			if err := c.ctx.Err(); err != nil {
				return vec{}, err
			}
		}
		if !m.isValid(i) {
			b.AppendNull()
			continue
		}
		for j, r := range readers {
			args[j] = r(i)
		}
		res := n.o.invoke(args)
		if ce, ok := res.(*types.Err); ok {
			errs = append(errs, rowErr{row: i, err: ce.Unwrap(), node: n.id})
			b.AppendNull()
			continue
		}
		if check {
			if rerr := rangeErr(res, n.dt); rerr != nil {
				errs = append(errs, rowErr{row: i, err: rerr, node: n.id})
				b.AppendNull()
				continue
			}
		}
		if err := appendValue(b, res); err != nil {
			return vec{}, err
		}
	}
	m.errs = errs
	m.sortErrs()
	return vec{arr: b.NewArray(), errs: m.errs}, nil
}

// kindArrowType is the Arrow type of computed values of a kernel kind.
func kindArrowType(k types.Kind) arrow.DataType {
	switch k {
	case types.BoolKind:
		return arrow.FixedWidthTypes.Boolean
	case types.IntKind:
		return arrow.PrimitiveTypes.Int64
	case types.UintKind:
		return arrow.PrimitiveTypes.Uint64
	case types.DoubleKind:
		return arrow.PrimitiveTypes.Float64
	case types.StringKind:
		return arrow.BinaryTypes.String
	case types.BytesKind:
		return arrow.BinaryTypes.Binary
	}
	return timestampType
}
