package expr

import (
	"fmt"
	"math"
	"reflect"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// nullVal is how a null Arrow value appears to cel-go: an unknown. cel-go propagates unknowns
// through every strict function and gives && and || three-valued logic (false && unknown is
// false, true || unknown is true), which is SQL's treatment of NULL. See the package comment.
var nullVal ref.Val = types.NewUnknown(0, nil)

// isNullVal reports whether v stands for a null: an unknown, the null literal, or a null
// struct.
func isNullVal(v ref.Val) bool {
	switch x := v.(type) {
	case *types.Unknown:
		return true
	case types.Null:
		return true
	case *structVal:
		return !x.valid
	}
	return false
}

// reader returns the CEL value of element i of an array; it borrows the array's memory.
type reader func(i int) ref.Val

// newReader returns the reader of arr. path names the array (a column name, or a column's
// field path) for struct types; prov holds the struct types.
func newReader(arr arrow.Array, path string, prov *structProvider) (reader, error) {
	switch a := arr.(type) {
	case *array.Boolean:
		return func(i int) ref.Val {
			if a.IsNull(i) {
				return nullVal
			}
			return types.Bool(a.Value(i))
		}, nil
	case *array.Int8:
		return intReader(a, a.Int8Values()), nil
	case *array.Int16:
		return intReader(a, a.Int16Values()), nil
	case *array.Int32:
		return intReader(a, a.Int32Values()), nil
	case *array.Int64:
		return intReader(a, a.Int64Values()), nil
	case *array.Uint8:
		return uintReader(a, a.Uint8Values()), nil
	case *array.Uint16:
		return uintReader(a, a.Uint16Values()), nil
	case *array.Uint32:
		return uintReader(a, a.Uint32Values()), nil
	case *array.Uint64:
		return uintReader(a, a.Uint64Values()), nil
	case *array.Float32:
		vals := a.Float32Values()
		return func(i int) ref.Val {
			if a.IsNull(i) {
				return nullVal
			}
			return types.Double(vals[i])
		}, nil
	case *array.Float64:
		vals := a.Float64Values()
		return func(i int) ref.Val {
			if a.IsNull(i) {
				return nullVal
			}
			return types.Double(vals[i])
		}, nil
	case *array.String:
		return func(i int) ref.Val {
			if a.IsNull(i) {
				return nullVal
			}
			return types.String(a.Value(i))
		}, nil
	case *array.LargeString:
		return func(i int) ref.Val {
			if a.IsNull(i) {
				return nullVal
			}
			return types.String(a.Value(i))
		}, nil
	case *array.Binary:
		return func(i int) ref.Val {
			if a.IsNull(i) {
				return nullVal
			}
			return types.Bytes(a.Value(i))
		}, nil
	case *array.LargeBinary:
		return func(i int) ref.Val {
			if a.IsNull(i) {
				return nullVal
			}
			return types.Bytes(a.Value(i))
		}, nil
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return func(i int) ref.Val {
			if a.IsNull(i) {
				return nullVal
			}
			return types.Timestamp{Time: a.Value(i).ToTime(unit)}
		}, nil
	case *array.Duration:
		unit := a.DataType().(*arrow.DurationType).Unit
		mult := int64(unit.Multiplier())
		return func(i int) ref.Val {
			if a.IsNull(i) {
				return nullVal
			}
			v := int64(a.Value(i))
			if v > math.MaxInt64/mult || v < math.MinInt64/mult {
				// CEL durations are nanoseconds in an int64 (about ±292 years).
				return types.NewErr("duration %d%s is out of range (about ±292 years)", v, unit)
			}
			return types.Duration{Duration: time.Duration(v * mult)}
		}, nil
	case *array.Map:
		keys, err := newReader(a.Keys(), path+".key", prov)
		if err != nil {
			return nil, err
		}
		items, err := newReader(a.Items(), path+".value", prov)
		if err != nil {
			return nil, err
		}
		return func(i int) ref.Val {
			if a.IsNull(i) {
				return nullVal
			}
			start, end := a.ValueOffsets(i) // of a slice too (Offsets() is not shifted)
			m := make(map[ref.Val]ref.Val, end-start)
			for j := start; j < end; j++ {
				m[keys(int(j))] = items(int(j))
			}
			return types.NewRefValMap(types.DefaultTypeAdapter, m)
		}, nil
	case array.ListLike:
		elems, err := newReader(a.ListValues(), path+".element", prov)
		if err != nil {
			return nil, err
		}
		return func(i int) ref.Val {
			if a.IsNull(i) {
				return nullVal
			}
			start, end := a.ValueOffsets(i)
			vals := make([]ref.Val, 0, end-start)
			for j := start; j < end; j++ {
				vals = append(vals, elems(int(j)))
			}
			return types.NewRefValList(types.DefaultTypeAdapter, vals)
		}, nil
	case *array.Struct:
		info := prov.lookup(structTypePrefix + path)
		if info == nil {
			return nil, fmt.Errorf("expr: no struct type for %s", path)
		}
		sr := &structReader{info: info, arr: a, fields: make([]reader, a.NumField())}
		for _, name := range info.names {
			idx := info.index[name]
			r, err := newReader(a.Field(idx), path+"."+name, prov)
			if err != nil {
				return nil, err
			}
			sr.fields[idx] = r
		}
		return func(i int) ref.Val {
			return &structVal{r: sr, row: i, valid: a.IsValid(i)}
		}, nil
	case *array.Null:
		return func(int) ref.Val { return types.NullValue }, nil
	}
	return nil, fmt.Errorf("expr: cannot read %s values", arr.DataType())
}

func intReader[T int8 | int16 | int32 | int64](a arrow.Array, vals []T) reader {
	return func(i int) ref.Val {
		if a.IsNull(i) {
			return nullVal
		}
		return types.Int(vals[i])
	}
}

func uintReader[T uint8 | uint16 | uint32 | uint64](a arrow.Array, vals []T) reader {
	return func(i int) ref.Val {
		if a.IsNull(i) {
			return nullVal
		}
		return types.Uint(vals[i])
	}
}

// structReader reads the fields of a struct array.
type structReader struct {
	info   *structInfo
	arr    *array.Struct
	fields []reader // by field index; nil for fields of unsupported types
}

// structVal is one row of a struct column as a CEL object. A null struct is a structVal that
// is not valid: its fields read as null and has() reports them absent.
type structVal struct {
	r     *structReader
	row   int
	valid bool
}

// field returns the value of field idx: null when the struct is null, except that a nested
// struct stays an object (a null one), so has(a.b.c) is false rather than null.
func (v *structVal) field(idx int) ref.Val {
	val := v.r.fields[idx](v.row)
	if v.valid {
		return val
	}
	if sv, ok := val.(*structVal); ok {
		return &structVal{r: sv.r, row: v.row}
	}
	return nullVal
}

// ConvertToNative implements ref.Val.
func (v *structVal) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("cannot convert a struct value to %v", t)
}

// ConvertToType implements ref.Val.
func (v *structVal) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return v.r.info.typ
	}
	return types.NewErr("type conversion error from struct to '%s'", t.TypeName())
}

// Equal implements ref.Val: two struct values are equal when all their fields are.
func (v *structVal) Equal(other ref.Val) ref.Val {
	o, ok := other.(*structVal)
	if !ok || o.r.info.dt != v.r.info.dt && !arrow.TypeEqual(o.r.info.dt, v.r.info.dt) {
		return types.False
	}
	if !v.valid || !o.valid {
		return nullVal // a null struct compares as any null: the result is null (as in Spark)
	}
	for _, name := range v.r.info.names {
		idx := v.r.info.index[name]
		a, b := v.field(idx), o.field(idx)
		if isNullVal(a) || isNullVal(b) {
			if isNullVal(a) != isNullVal(b) {
				return types.False
			}
			continue
		}
		if types.Equal(a, b) != types.True {
			return types.False
		}
	}
	return types.True
}

// Type implements ref.Val.
func (v *structVal) Type() ref.Type { return v.r.info.typ }

// Value implements ref.Val: the struct value itself, which the field accessors read.
func (v *structVal) Value() any { return v }

// appendValue appends v to b, converting it to b's type. Nulls (unknowns, null, null structs)
// append a null.
func appendValue(b array.Builder, v ref.Val) error {
	if isNullVal(v) {
		b.AppendNull()
		return nil
	}
	bad := func() error {
		return fmt.Errorf("expr: cannot store a %s value in a %s column", v.Type().TypeName(), b.Type())
	}
	switch b := b.(type) {
	case *array.BooleanBuilder:
		x, ok := v.(types.Bool)
		if !ok {
			return bad()
		}
		b.Append(bool(x))
	case *array.Int64Builder:
		x, ok := v.(types.Int)
		if !ok {
			return bad()
		}
		b.Append(int64(x))
	case *array.Int32Builder:
		x, ok := v.(types.Int)
		if !ok {
			return bad()
		}
		b.Append(int32(x))
	case *array.Int16Builder:
		x, ok := v.(types.Int)
		if !ok {
			return bad()
		}
		b.Append(int16(x))
	case *array.Int8Builder:
		x, ok := v.(types.Int)
		if !ok {
			return bad()
		}
		b.Append(int8(x))
	case *array.Uint64Builder:
		x, ok := v.(types.Uint)
		if !ok {
			return bad()
		}
		b.Append(uint64(x))
	case *array.Uint32Builder:
		x, ok := v.(types.Uint)
		if !ok {
			return bad()
		}
		b.Append(uint32(x))
	case *array.Uint16Builder:
		x, ok := v.(types.Uint)
		if !ok {
			return bad()
		}
		b.Append(uint16(x))
	case *array.Uint8Builder:
		x, ok := v.(types.Uint)
		if !ok {
			return bad()
		}
		b.Append(uint8(x))
	case *array.Float64Builder:
		x, ok := v.(types.Double)
		if !ok {
			return bad()
		}
		b.Append(float64(x))
	case *array.Float32Builder:
		x, ok := v.(types.Double)
		if !ok {
			return bad()
		}
		b.Append(float32(x))
	case *array.StringBuilder:
		x, ok := v.(types.String)
		if !ok {
			return bad()
		}
		b.Append(string(x))
	case *array.LargeStringBuilder:
		x, ok := v.(types.String)
		if !ok {
			return bad()
		}
		b.Append(string(x))
	case *array.BinaryBuilder:
		x, ok := v.(types.Bytes)
		if !ok {
			return bad()
		}
		b.Append([]byte(x))
	case *array.TimestampBuilder:
		x, ok := v.(types.Timestamp)
		if !ok {
			return bad()
		}
		ts, err := timeToUnit(x.Time, b.Type().(*arrow.TimestampType).Unit)
		if err != nil {
			return err
		}
		b.Append(arrow.Timestamp(ts))
	case *array.DurationBuilder:
		x, ok := v.(types.Duration)
		if !ok {
			return bad()
		}
		b.Append(arrow.Duration(int64(x.Duration) / int64(b.Type().(*arrow.DurationType).Unit.Multiplier())))
	case *array.MapBuilder:
		m, ok := v.(traits.Mapper)
		if !ok {
			return bad()
		}
		b.Append(true)
		for it := m.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			if err := appendValue(b.KeyBuilder(), k); err != nil {
				return err
			}
			if err := appendValue(b.ItemBuilder(), m.Get(k)); err != nil {
				return err
			}
		}
	case array.ListLikeBuilder:
		l, ok := v.(traits.Lister)
		if !ok {
			return bad()
		}
		n := int(l.Size().(types.Int))
		b.Append(true)
		for j := range n {
			if err := appendValue(b.ValueBuilder(), l.Get(types.Int(j))); err != nil {
				return err
			}
		}
	case *array.StructBuilder:
		s, ok := v.(*structVal)
		if !ok {
			return bad()
		}
		b.Append(true)
		for idx := range b.NumField() {
			fb := b.FieldBuilder(idx)
			if s.r.fields[idx] == nil {
				fb.AppendNull()
				continue
			}
			if err := appendValue(fb, s.field(idx)); err != nil {
				return err
			}
		}
	case *array.NullBuilder:
		b.AppendNull()
	default:
		return bad()
	}
	return nil
}

// The instants an int64 count of milliseconds, microseconds or nanoseconds since the epoch can
// hold (any Go time fits in seconds).
var (
	minMilli, maxMilli = time.UnixMilli(math.MinInt64), time.UnixMilli(math.MaxInt64)
	minMicro, maxMicro = time.UnixMicro(math.MinInt64), time.UnixMicro(math.MaxInt64)
	minNano, maxNano   = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
)

// timeToUnit converts t to a count of unit since the epoch, or fails when it does not fit.
func timeToUnit(t time.Time, unit arrow.TimeUnit) (int64, error) {
	var lo, hi time.Time
	switch unit {
	case arrow.Second:
		return t.Unix(), nil
	case arrow.Millisecond:
		lo, hi = minMilli, maxMilli
	case arrow.Microsecond:
		lo, hi = minMicro, maxMicro
	default:
		lo, hi = minNano, maxNano
	}
	if t.Before(lo) || t.After(hi) {
		return 0, fmt.Errorf("timestamp %s is out of the range of a timestamp[%s] column (%s to %s)",
			t.UTC().Format(time.RFC3339Nano), unit, lo.UTC().Format(time.RFC3339Nano), hi.UTC().Format(time.RFC3339Nano))
	}
	switch unit {
	case arrow.Millisecond:
		return t.UnixMilli(), nil
	case arrow.Microsecond:
		return t.UnixMicro(), nil
	}
	return t.UnixNano(), nil
}

// hasTimestamp reports whether values of dt can hold a timestamp whose unit is finer than
// seconds: those are the values rangeErr must check before appendValue.
func hasTimestamp(dt arrow.DataType) bool {
	switch t := dt.(type) {
	case *arrow.TimestampType:
		return t.Unit != arrow.Second
	case *arrow.MapType:
		return hasTimestamp(t.KeyType()) || hasTimestamp(t.ItemType())
	case arrow.ListLikeType:
		return hasTimestamp(t.Elem())
	case *arrow.StructType:
		for _, f := range t.Fields() {
			if hasTimestamp(f.Type) {
				return true
			}
		}
	}
	return false
}

// rangeErr returns the error of a value that appendValue cannot store in dt because a
// timestamp in it is beyond the range of its column's unit, or nil. Such a value is a row
// error (the row is handled by the query's error policy), not a failure of the batch.
func rangeErr(v ref.Val, dt arrow.DataType) error {
	if isNullVal(v) {
		return nil
	}
	switch t := dt.(type) {
	case *arrow.TimestampType:
		if x, ok := v.(types.Timestamp); ok {
			_, err := timeToUnit(x.Time, t.Unit)
			return err
		}
	case *arrow.MapType:
		m, ok := v.(traits.Mapper)
		if !ok {
			return nil
		}
		for it := m.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			if err := rangeErr(k, t.KeyType()); err != nil {
				return err
			}
			if err := rangeErr(m.Get(k), t.ItemType()); err != nil {
				return err
			}
		}
	case arrow.ListLikeType:
		l, ok := v.(traits.Lister)
		if !ok {
			return nil
		}
		n := int(l.Size().(types.Int))
		for j := range n {
			if err := rangeErr(l.Get(types.Int(j)), t.Elem()); err != nil {
				return err
			}
		}
	case *arrow.StructType:
		sv, ok := v.(*structVal)
		if !ok {
			return nil
		}
		for idx, f := range t.Fields() {
			if idx < len(sv.r.fields) && sv.r.fields[idx] != nil {
				if err := rangeErr(sv.field(idx), f.Type); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
