package expr

import (
	"strings"
	"unsafe"

	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// The loops below are the fast paths of the commonest shapes: a column compared with a
// constant, a string column tested against a constant. They read Arrow buffers directly and
// write result bitmaps a byte at a time.

// rawStrings is a utf8 or binary array's buffers: value i is data[offs[i]:offs[i+1]].
type rawStrings struct {
	offs []int32
	data []byte
}

// rawOf returns the buffers of a string or binary vec backed by an array.
func rawOf(v *vec) (rawStrings, bool) {
	var offs []int32
	switch a := v.arr.(type) {
	case *array.String:
		offs = a.ValueOffsets()
	case *array.Binary:
		offs = a.ValueOffsets()
	default:
		return rawStrings{}, false
	}
	var data []byte
	if b := v.arr.Data().Buffers()[2]; b != nil {
		data = b.Bytes()
	}
	return rawStrings{offs: offs, data: data}, true
}

// at returns value i without copying.
func (r rawStrings) at(i int) string {
	s, e := r.offs[i], r.offs[i+1]
	if s == e {
		return ""
	}
	return unsafe.String(&r.data[s], int(e-s))
}

// constString returns the value of a constant string or bytes vec.
func constString(v *vec) (string, bool) {
	if v.arr != nil {
		return "", false
	}
	switch x := v.c.(type) {
	case types.String:
		return string(x), true
	case types.Bytes:
		return string(x), true
	}
	return "", false
}

// flip returns the comparison that holds for (b, a) when op holds for (a, b).
func flip(op string) string {
	switch op {
	case operators.Less:
		return operators.Greater
	case operators.LessEquals:
		return operators.GreaterEquals
	case operators.Greater:
		return operators.Less
	case operators.GreaterEquals:
		return operators.LessEquals
	}
	return op
}

// cmpScalar sets bit i of out (zeroed) where a[i] op c. The loops are written out: Go does not
// specialise generic code per function, so a predicate argument would cost a call per row.
func cmpScalar[T int64 | uint64 | float64](a []T, c T, op string, out []byte) {
	switch op {
	case operators.Equals:
		for i, x := range a {
			if x == c {
				out[i>>3] |= 1 << (i & 7)
			}
		}
	case operators.NotEquals:
		for i, x := range a {
			if x != c {
				out[i>>3] |= 1 << (i & 7)
			}
		}
	case operators.Less:
		for i, x := range a {
			if x < c {
				out[i>>3] |= 1 << (i & 7)
			}
		}
	case operators.LessEquals:
		for i, x := range a {
			if x <= c {
				out[i>>3] |= 1 << (i & 7)
			}
		}
	case operators.Greater:
		for i, x := range a {
			if x > c {
				out[i>>3] |= 1 << (i & 7)
			}
		}
	default:
		for i, x := range a {
			if x >= c {
				out[i>>3] |= 1 << (i & 7)
			}
		}
	}
}

// numConst compares a numeric array with a numeric constant of the same kernel type; ok is
// false when the shapes do not fit.
func (c *evalCtx) numConst(l, r *vec, lk, rk types.Kind, op string, out []byte) bool {
	if (l.arr == nil) == (r.arr == nil) {
		return false
	}
	if l.arr == nil {
		l, r, lk, rk, op = r, l, rk, lk, flip(op)
	}
	switch {
	case lk == types.IntKind && rk == types.IntKind:
		k, _ := r.c.(types.Int)
		cmpScalar(c.int64s(l), int64(k), op, out)
	case lk == types.UintKind && rk == types.UintKind:
		k, _ := r.c.(types.Uint)
		cmpScalar(c.uint64s(l), uint64(k), op, out)
	case lk == types.DoubleKind || rk == types.DoubleKind:
		if lk != types.DoubleKind && lk != types.IntKind && lk != types.UintKind {
			return false
		}
		var k float64
		switch x := r.c.(type) {
		case types.Double:
			k = float64(x)
		case types.Int:
			k = float64(x)
		case types.Uint:
			k = float64(x)
		default:
			return false
		}
		if op == operators.NotEquals {
			return false // NaN != NaN: the general loop handles it
		}
		cmpScalar(c.float64s(l, lk), k, op, out)
	default:
		return false
	}
	return true
}

// strConst compares, or tests with contains/startsWith/endsWith, a string or binary array
// against a constant; ok is false when the shapes do not fit.
func strConst(l, r *vec, op string, out []byte) bool {
	raw, ok := rawOf(l)
	k, kok := constString(r)
	if !ok || !kok {
		if op == overloads.Contains || op == overloads.StartsWith || op == overloads.EndsWith {
			return false
		}
		// A comparison is symmetric up to flipping.
		raw, ok = rawOf(r)
		k, kok = constString(l)
		if !ok || !kok {
			return false
		}
		op = flip(op)
	}
	n := len(raw.offs) - 1
	kl := int32(len(k))
	offs, data := raw.offs, raw.data
	set := func(i int) { out[i>>3] |= 1 << (i & 7) }
	switch op {
	case operators.Equals, operators.NotEquals:
		eq := op == operators.Equals
		for i := range n {
			s, e := offs[i], offs[i+1]
			if (e-s == kl && string(data[s:e]) == k) == eq {
				set(i)
			}
		}
	case operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals:
		for i := range n {
			if holds(op, strings.Compare(raw.at(i), k)) {
				set(i)
			}
		}
	case overloads.StartsWith:
		for i := range n {
			s := offs[i]
			if offs[i+1]-s >= kl && string(data[s:s+kl]) == k {
				set(i)
			}
		}
	case overloads.EndsWith:
		for i := range n {
			e := offs[i+1]
			if e-offs[i] >= kl && string(data[e-kl:e]) == k {
				set(i)
			}
		}
	case overloads.Contains:
		for i := range n {
			if strings.Contains(raw.at(i), k) {
				set(i)
			}
		}
	default:
		return false
	}
	return true
}
