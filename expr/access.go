package expr

import (
	"time"

	"cel.dev/cel-go/common/types"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// The accessors below give kernels the values of a vec, one per row, whatever the Arrow type
// behind its CEL type (an int may be an int8 to int64 column) and for constants too. Values in
// null or failed rows are unspecified: kernels only use them where the strictness mask allows.

// int64s returns an int vec's values.
func (c *evalCtx) int64s(v *vec) []int64 {
	if v.arr == nil {
		x, _ := v.c.(types.Int)
		return fill(c.n, int64(x))
	}
	switch a := v.arr.(type) {
	case *array.Int64:
		return a.Int64Values()
	case *array.Int32:
		return widen[int32, int64](a.Int32Values())
	case *array.Int16:
		return widen[int16, int64](a.Int16Values())
	case *array.Int8:
		return widen[int8, int64](a.Int8Values())
	}
	return make([]int64, c.n)
}

// uint64s returns a uint vec's values.
func (c *evalCtx) uint64s(v *vec) []uint64 {
	if v.arr == nil {
		x, _ := v.c.(types.Uint)
		return fill(c.n, uint64(x))
	}
	switch a := v.arr.(type) {
	case *array.Uint64:
		return a.Uint64Values()
	case *array.Uint32:
		return widen[uint32, uint64](a.Uint32Values())
	case *array.Uint16:
		return widen[uint16, uint64](a.Uint16Values())
	case *array.Uint8:
		return widen[uint8, uint64](a.Uint8Values())
	}
	return make([]uint64, c.n)
}

// float64s returns the values of a numeric vec of kind k as doubles (ints and uints converted
// as cel-go converts them to compare with doubles).
func (c *evalCtx) float64s(v *vec, k types.Kind) []float64 {
	switch k {
	case types.IntKind:
		return widen[int64, float64](c.int64s(v))
	case types.UintKind:
		return widen[uint64, float64](c.uint64s(v))
	}
	if v.arr == nil {
		x, _ := v.c.(types.Double)
		return fill(c.n, float64(x))
	}
	switch a := v.arr.(type) {
	case *array.Float64:
		return a.Float64Values()
	case *array.Float32:
		return widen[float32, float64](a.Float32Values())
	}
	return make([]float64, c.n)
}

func fill[T any](n int, x T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = x
	}
	return out
}

func widen[F int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64 | float32, T int64 | uint64 | float64](in []F) []T {
	out := make([]T, len(in))
	for i, x := range in {
		out[i] = T(x)
	}
	return out
}

// strView reads a string or bytes vec as Go strings, without copying (the strings borrow the
// array's memory).
type strView struct {
	at func(i int) string
}

func newStrView(v *vec) strView {
	if v.arr == nil {
		var s string
		switch x := v.c.(type) {
		case types.String:
			s = string(x)
		case types.Bytes:
			s = string(x)
		}
		return strView{at: func(int) string { return s }}
	}
	switch a := v.arr.(type) {
	case *array.String:
		return strView{at: a.Value}
	case *array.LargeString:
		return strView{at: a.Value}
	case *array.Binary:
		return strView{at: a.ValueString}
	case *array.LargeBinary:
		return strView{at: a.ValueString}
	}
	return strView{at: func(int) string { return "" }}
}

// boolView reads a bool vec.
type boolView struct {
	bits  []byte
	off   int
	konst bool
	val   bool
}

func newBoolView(v *vec) boolView {
	if v.arr == nil {
		x, _ := v.c.(types.Bool)
		return boolView{konst: true, val: bool(x)}
	}
	a := v.arr.(*array.Boolean)
	return boolView{bits: a.Data().Buffers()[1].Bytes(), off: a.Data().Offset()}
}

func (b boolView) at(i int) bool {
	if b.konst {
		return b.val
	}
	return bitutil.BitIsSet(b.bits, b.off+i)
}

// tsView reads a timestamp vec as instants: seconds and nanoseconds since the epoch.
type tsView struct {
	vals []int64 // raw values in unit; nil for a constant
	unit arrow.TimeUnit
	sec  int64 // the constant
	nsec int64
}

func newTSView(v *vec) tsView {
	if v.arr == nil {
		x, _ := v.c.(types.Timestamp)
		return tsView{sec: x.Unix(), nsec: int64(x.Nanosecond())}
	}
	a := v.arr.(*array.Timestamp)
	vals := a.TimestampValues()
	raw := make([]int64, len(vals))
	for i, x := range vals {
		raw[i] = int64(x)
	}
	return tsView{vals: raw, unit: a.DataType().(*arrow.TimestampType).Unit}
}

// at returns row i's instant.
func (t tsView) at(i int) (sec, nsec int64) {
	if t.vals == nil {
		return t.sec, t.nsec
	}
	x := t.vals[i]
	per := int64(time.Second) / int64(t.unit.Multiplier()) // units per second
	sec, rem := x/per, x%per
	if rem < 0 {
		sec--
		rem += per
	}
	return sec, rem * int64(t.unit.Multiplier())
}
