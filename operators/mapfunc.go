package operators

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Map applies fn to every row as a Go value (Spark's Dataset.map with an encoder): In and Out
// are structs whose exported fields map to columns by name, or by a `sluice:"column"` tag
// (`sluice:"-"` skips a field). As with encoding/json, the tag's name ends at the first comma;
// the options omitempty and omitzero after it are accepted and ignored, an empty name keeps the
// field's name, and another option is an error. An In field without a tag takes the column of
// its exact name or, failing that, the one column whose name equals it ignoring case (two such
// columns are an error); a tagged field needs the exact name. Fields may be string, []byte,
// bool, int, int8 to int64, uint, uint8 to uint64, float32, float64, time.Time, or pointers to
// those for nullable columns (a field of another named type is read by its kind: a
// time.Duration field is an int64, of the column's integer value); a null column value leaves a
// non-pointer field at its zero value.
// An In field may be wider than its column: an integer of the same signedness and more bits,
// float64 from float32 or from any integer column (as Spark's encoders upcast), string and
// []byte from string or binary. Out's fields become the output columns, in order; a nil pointer
// or nil []byte is a null; a time.Time becomes a UTC microsecond timestamp, and one outside
// that range (beyond about 290,000 years from 1970) fails its row. Under ErrorColumn every
// output column is nullable, as a failed row's values are null.
//
// The mapping is built once per input schema from reflection, and rows are read and written
// through precomputed field offsets: there is no reflection per row. An In field without a
// matching column, or of a type the column cannot fill (a string field from an int column), is
// reported by OutputSchema. String and []byte fields borrow the batch's memory: copy them to
// keep them past fn's return. An error returned by fn, or a panic, fails the row, which follows
// o.OnError. fn may be called concurrently.
func Map[In, Out any](name string, fn func(ctx context.Context, in In) (Out, error), o Options) Operator {
	m := &mapOp[In, Out]{name: name, fn: fn, opts: o}
	if m.name == "" {
		m.name = fmt.Sprintf("Map(%s -> %s)", reflect.TypeFor[In](), reflect.TypeFor[Out]())
	}
	var errs []error
	var err error
	if m.in, err = structFields(reflect.TypeFor[In]()); err != nil {
		errs = append(errs, fmt.Errorf("input type: %w", err))
	}
	if m.out, err = structFields(reflect.TypeFor[Out]()); err != nil {
		errs = append(errs, fmt.Errorf("output type: %w", err))
	}
	if fn == nil {
		errs = append(errs, errors.New("the function is nil"))
	}
	m.err = errors.Join(errs...)
	if m.err == nil {
		fields := make([]arrow.Field, len(m.out))
		for i, f := range m.out {
			// Under ErrorColumn a failed row's values are null, so every column may be.
			nullable := f.ptr || f.kind == kBytes || o.OnError.errorColumn() != ""
			fields[i] = arrow.Field{Name: f.column, Type: f.arrowType(), Nullable: nullable}
		}
		m.base = arrow.NewSchema(fields, nil)
		m.outSchema, m.err = withErrorSchema(m.base, o.OnError)
	}
	m.plans.build = m.plan
	return m
}

type mapOp[In, Out any] struct {
	name      string
	fn        func(context.Context, In) (Out, error)
	opts      Options
	in, out   []goField
	base      *arrow.Schema // Out's columns
	outSchema *arrow.Schema // base with the policy's error column
	err       error
	plans     perSchema[[]int]
}

func (m *mapOp[In, Out]) Name() string { return m.name }

// plan maps In's fields to the columns of in.
func (m *mapOp[In, Out]) plan(in *arrow.Schema) ([]int, error) {
	if m.err != nil {
		return nil, m.err
	}
	if err := sideOutputClash(in, m.opts.OnError); err != nil {
		return nil, err
	}
	cols := make([]int, len(m.in))
	var errs []error
	for i, f := range m.in {
		idx, err := columnIndex(in, f.column)
		if err != nil && !f.tagged && len(in.FieldIndices(f.column)) == 0 {
			idx, err = foldedColumnIndex(in, f.column)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("field %s: %w", f.name, err))
			continue
		}
		if !f.readable(in.Field(idx).Type) {
			errs = append(errs, fmt.Errorf("field %s (%s) cannot hold column %q of type %s", f.name, f.typ, in.Field(idx).Name, in.Field(idx).Type))
			continue
		}
		cols[i] = idx
	}
	return cols, errors.Join(errs...)
}

func (m *mapOp[In, Out]) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	if m.err != nil {
		return nil, m.err
	}
	if in != nil {
		if _, err := m.plans.get(in); err != nil {
			return nil, err
		}
	}
	return m.outSchema, nil
}

func (m *mapOp[In, Out]) Process(ctx context.Context, batch arrow.RecordBatch, emit Emit) error {
	cols, err := m.plans.get(batch.Schema())
	if err != nil {
		return err
	}
	readers := make([]func(p unsafe.Pointer, i int), len(m.in))
	for i, f := range m.in {
		readers[i] = f.reader(batch.Column(cols[i]))
	}
	b := array.NewRecordBuilder(Allocator(ctx), m.base)
	defer b.Release()
	n := int(batch.NumRows())
	b.Reserve(n)
	writers := make([]func(p unsafe.Pointer), len(m.out))
	for i, f := range m.out {
		writers[i] = f.writer(b.Field(i))
	}
	var checks []func(p unsafe.Pointer) error
	for _, f := range m.out {
		if c := f.check(); c != nil {
			checks = append(checks, c)
		}
	}
	var fs []failure
	var in In
	for i := range n {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		p := unsafe.Pointer(&in)
		for _, r := range readers {
			r(p, i)
		}
		out, err := m.call(ctx, in)
		q := unsafe.Pointer(&out)
		for _, c := range checks {
			if err == nil {
				if cerr := c(q); cerr != nil {
					err = fmt.Errorf("%s: %w", m.name, cerr)
				}
			}
		}
		if err != nil {
			fs = append(fs, failure{row: i, err: err})
			for _, fb := range b.Fields() {
				fb.AppendNull()
			}
			continue
		}
		for _, w := range writers {
			w(q)
		}
	}
	out := b.NewRecordBatch()
	defer out.Release()
	return finish(ctx, m.opts.OnError, batch, out, m.outSchema, fs, nil, emit)
}

// foldedColumnIndex returns the index of the one column whose name equals name ignoring case.
func foldedColumnIndex(in *arrow.Schema, name string) (int, error) {
	var found []int
	for i, f := range in.Fields() {
		if strings.EqualFold(f.Name, name) {
			found = append(found, i)
		}
	}
	switch len(found) {
	case 0:
		return columnIndex(in, name) // its error
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, k := range found {
		names[i] = strconv.Quote(in.Field(k).Name)
	}
	return 0, fmt.Errorf("no column %q, and columns %s all match it ignoring case: add a `sluice:\"column\"` tag", name, strings.Join(names, ", "))
}

// call calls fn, turning a panic into an error.
func (m *mapOp[In, Out]) call(ctx context.Context, in In) (out Out, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s panicked: %v", m.name, r)
		}
	}()
	out, err = m.fn(ctx, in)
	if err != nil {
		err = fmt.Errorf("%s: %w", m.name, err)
	}
	return out, err
}

// fieldKind is the Go type of a field, pointer removed.
type fieldKind int

const (
	kString fieldKind = iota
	kBytes
	kBool
	kInt
	kInt8
	kInt16
	kInt32
	kInt64
	kUint
	kUint8
	kUint16
	kUint32
	kUint64
	kFloat32
	kFloat64
	kTime
)

// goField is a struct field mapped to a column.
type goField struct {
	name   string // the Go field's name
	column string
	tagged bool // column comes from a tag
	typ    reflect.Type
	kind   fieldKind
	ptr    bool
	offset uintptr
}

var timeRT = reflect.TypeFor[time.Time]()

func kindOf(t reflect.Type) (fieldKind, bool) {
	if t == timeRT {
		return kTime, true
	}
	switch t.Kind() {
	case reflect.String:
		return kString, true
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return kBytes, true
		}
	case reflect.Bool:
		return kBool, true
	case reflect.Int:
		return kInt, true
	case reflect.Int8:
		return kInt8, true
	case reflect.Int16:
		return kInt16, true
	case reflect.Int32:
		return kInt32, true
	case reflect.Int64:
		return kInt64, true
	case reflect.Uint:
		return kUint, true
	case reflect.Uint8:
		return kUint8, true
	case reflect.Uint16:
		return kUint16, true
	case reflect.Uint32:
		return kUint32, true
	case reflect.Uint64:
		return kUint64, true
	case reflect.Float32:
		return kFloat32, true
	case reflect.Float64:
		return kFloat64, true
	}
	return 0, false
}

// structFields maps the exported fields of struct type t.
func structFields(t reflect.Type) ([]goField, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%s is not a struct", t)
	}
	var out []goField
	var errs []error
	seen := map[string]string{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		col, tagged := sf.Name, false
		if tag, ok := sf.Tag.Lookup("sluice"); ok {
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if name != "" {
				col, tagged = name, true
			}
			bad := false
			for opt := range strings.SplitSeq(opts, ",") {
				if opt != "" && opt != "omitempty" && opt != "omitzero" {
					errs = append(errs, fmt.Errorf("field %s: unknown option %q in tag `sluice:%q`", sf.Name, opt, tag))
					bad = true
				}
			}
			if bad {
				continue
			}
		}
		ft, ptr := sf.Type, false
		if ft.Kind() == reflect.Pointer {
			ft, ptr = ft.Elem(), true
		}
		k, ok := kindOf(ft)
		if !ok {
			errs = append(errs, fmt.Errorf("field %s has type %s, which maps to no column type", sf.Name, sf.Type))
			continue
		}
		if other, dup := seen[col]; dup {
			errs = append(errs, fmt.Errorf("fields %s and %s both map to column %q", other, sf.Name, col))
			continue
		}
		seen[col] = sf.Name
		out = append(out, goField{name: sf.Name, column: col, tagged: tagged, typ: sf.Type, kind: k, ptr: ptr, offset: sf.Offset})
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s has no exported fields", t))
	}
	return out, errors.Join(errs...)
}

// arrowType is the column type of an Out field.
func (f goField) arrowType() arrow.DataType {
	switch f.kind {
	case kString:
		return arrow.BinaryTypes.String
	case kBytes:
		return arrow.BinaryTypes.Binary
	case kBool:
		return arrow.FixedWidthTypes.Boolean
	case kInt, kInt64:
		return arrow.PrimitiveTypes.Int64
	case kInt8:
		return arrow.PrimitiveTypes.Int8
	case kInt16:
		return arrow.PrimitiveTypes.Int16
	case kInt32:
		return arrow.PrimitiveTypes.Int32
	case kUint, kUint64:
		return arrow.PrimitiveTypes.Uint64
	case kUint8:
		return arrow.PrimitiveTypes.Uint8
	case kUint16:
		return arrow.PrimitiveTypes.Uint16
	case kUint32:
		return arrow.PrimitiveTypes.Uint32
	case kFloat32:
		return arrow.PrimitiveTypes.Float32
	case kFloat64:
		return arrow.PrimitiveTypes.Float64
	}
	return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
}

// intBits is the width of the integer kinds (int is 64 bits on the platforms sluice supports).
var intBits = map[fieldKind]int{kInt: 64, kInt8: 8, kInt16: 16, kInt32: 32, kInt64: 64, kUint: 64, kUint8: 8, kUint16: 16, kUint32: 32, kUint64: 64}

func signed(k fieldKind) bool { return k >= kInt && k <= kInt64 }

// readable reports whether an In field can hold values of a column type: the same kind, or a
// narrower integer or float of the same signedness, float64 from any integer, or string and
// binary either way.
func (f goField) readable(dt arrow.DataType) bool {
	switch f.kind {
	case kString, kBytes:
		switch dt.ID() {
		case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
			return true
		}
	case kBool:
		return dt.ID() == arrow.BOOL
	case kFloat64:
		return dt.ID() == arrow.FLOAT64 || dt.ID() == arrow.FLOAT32 || arrow.IsInteger(dt.ID())
	case kFloat32:
		return dt.ID() == arrow.FLOAT32
	case kTime:
		return dt.ID() == arrow.TIMESTAMP
	default:
		fw, ok := dt.(arrow.FixedWidthDataType)
		if !ok || !arrow.IsInteger(dt.ID()) {
			return false
		}
		return arrow.IsSignedInteger(dt.ID()) == signed(f.kind) && fw.BitWidth() <= intBits[f.kind]
	}
	return false
}

// reader returns a function storing row i of col in the field of the struct at p. col's type
// was checked by readable.
func (f goField) reader(col arrow.Array) func(p unsafe.Pointer, i int) {
	switch f.kind {
	case kString:
		return assign(f, col, stringGetter(col))
	case kBytes:
		get := stringGetter(col)
		return assign(f, col, func(i int) []byte {
			s := get(i)
			if s == "" {
				return []byte{}
			}
			return unsafe.Slice(unsafe.StringData(s), len(s))
		})
	case kBool:
		return assign(f, col, col.(*array.Boolean).Value)
	case kFloat64:
		switch a := col.(type) {
		case *array.Float32:
			return assign(f, col, func(i int) float64 { return float64(a.Value(i)) })
		case *array.Float64:
			return assign(f, col, a.Value)
		}
		if arrow.IsSignedInteger(col.DataType().ID()) {
			get := intGetter[int64](col)
			return assign(f, col, func(i int) float64 { return float64(get(i)) })
		}
		get := intGetter[uint64](col)
		return assign(f, col, func(i int) float64 { return float64(get(i)) })
	case kFloat32:
		return assign(f, col, col.(*array.Float32).Value)
	case kTime:
		a := col.(*array.Timestamp)
		unit := a.DataType().(*arrow.TimestampType).Unit
		return assign(f, col, func(i int) time.Time { return a.Value(i).ToTime(unit) })
	case kInt:
		return assign(f, col, intGetter[int](col))
	case kInt8:
		return assign(f, col, intGetter[int8](col))
	case kInt16:
		return assign(f, col, intGetter[int16](col))
	case kInt32:
		return assign(f, col, intGetter[int32](col))
	case kInt64:
		return assign(f, col, intGetter[int64](col))
	case kUint:
		return assign(f, col, intGetter[uint](col))
	case kUint8:
		return assign(f, col, intGetter[uint8](col))
	case kUint16:
		return assign(f, col, intGetter[uint16](col))
	case kUint32:
		return assign(f, col, intGetter[uint32](col))
	default:
		return assign(f, col, intGetter[uint64](col))
	}
}

func stringGetter(col arrow.Array) func(int) string {
	switch a := col.(type) {
	case *array.String:
		return a.Value
	case *array.LargeString:
		return a.Value
	case *array.Binary:
		return a.ValueString
	default:
		return col.(*array.LargeBinary).ValueString
	}
}

func intGetter[T int | int8 | int16 | int32 | int64 | uint | uint8 | uint16 | uint32 | uint64](col arrow.Array) func(int) T {
	switch a := col.(type) {
	case *array.Int8:
		return func(i int) T { return T(a.Value(i)) }
	case *array.Int16:
		return func(i int) T { return T(a.Value(i)) }
	case *array.Int32:
		return func(i int) T { return T(a.Value(i)) }
	case *array.Int64:
		return func(i int) T { return T(a.Value(i)) }
	case *array.Uint8:
		return func(i int) T { return T(a.Value(i)) }
	case *array.Uint16:
		return func(i int) T { return T(a.Value(i)) }
	case *array.Uint32:
		return func(i int) T { return T(a.Value(i)) }
	}
	u := col.(*array.Uint64)
	return func(i int) T { return T(u.Value(i)) }
}

// assign returns the function storing get(i), or null, in the field at f.offset.
func assign[T any](f goField, col arrow.Array, get func(int) T) func(p unsafe.Pointer, i int) {
	off := f.offset
	if f.ptr {
		return func(p unsafe.Pointer, i int) {
			dst := (**T)(unsafe.Add(p, off))
			if col.IsNull(i) {
				*dst = nil
				return
			}
			v := get(i)
			*dst = &v
		}
	}
	return func(p unsafe.Pointer, i int) {
		dst := (*T)(unsafe.Add(p, off))
		if col.IsNull(i) {
			var zero T
			*dst = zero
			return
		}
		*dst = get(i)
	}
}

// writer returns a function appending the field of the struct at p to b.
func (f goField) writer(b array.Builder) func(p unsafe.Pointer) {
	switch f.kind {
	case kString:
		sb := b.(*array.StringBuilder)
		return emitField(f, b, sb.Append)
	case kBytes:
		bb := b.(*array.BinaryBuilder)
		off := f.offset
		if !f.ptr {
			return func(p unsafe.Pointer) {
				v := *(*[]byte)(unsafe.Add(p, off))
				if v == nil {
					bb.AppendNull()
					return
				}
				bb.Append(v)
			}
		}
		return emitField(f, b, bb.Append)
	case kBool:
		return emitField(f, b, b.(*array.BooleanBuilder).Append)
	case kFloat64:
		return emitField(f, b, b.(*array.Float64Builder).Append)
	case kFloat32:
		return emitField(f, b, b.(*array.Float32Builder).Append)
	case kTime:
		tb := b.(*array.TimestampBuilder)
		return emitField(f, b, func(t time.Time) { tb.Append(arrow.Timestamp(t.UnixMicro())) })
	case kInt:
		ib := b.(*array.Int64Builder)
		return emitField(f, b, func(v int) { ib.Append(int64(v)) })
	case kInt8:
		return emitField(f, b, b.(*array.Int8Builder).Append)
	case kInt16:
		return emitField(f, b, b.(*array.Int16Builder).Append)
	case kInt32:
		return emitField(f, b, b.(*array.Int32Builder).Append)
	case kInt64:
		return emitField(f, b, b.(*array.Int64Builder).Append)
	case kUint:
		ub := b.(*array.Uint64Builder)
		return emitField(f, b, func(v uint) { ub.Append(uint64(v)) })
	case kUint8:
		return emitField(f, b, b.(*array.Uint8Builder).Append)
	case kUint16:
		return emitField(f, b, b.(*array.Uint16Builder).Append)
	case kUint32:
		return emitField(f, b, b.(*array.Uint32Builder).Append)
	default:
		return emitField(f, b, b.(*array.Uint64Builder).Append)
	}
}

// check returns the function reporting a value of the Out field at p that its column cannot
// hold (a time.Time beyond the range of int64 microseconds), or nil when every value fits.
func (f goField) check() func(p unsafe.Pointer) error {
	if f.kind != kTime {
		return nil
	}
	off := f.offset
	ok := func(t time.Time) error {
		if us := t.UnixMicro(); time.UnixMicro(us).Unix() != t.Unix() {
			return fmt.Errorf("field %s: time %s is out of the range of a timestamp column (int64 microseconds since 1970)", f.name, t.Format(time.RFC3339Nano))
		}
		return nil
	}
	if f.ptr {
		return func(p unsafe.Pointer) error {
			if v := *(**time.Time)(unsafe.Add(p, off)); v != nil {
				return ok(*v)
			}
			return nil
		}
	}
	return func(p unsafe.Pointer) error { return ok(*(*time.Time)(unsafe.Add(p, off))) }
}

// emitField returns the function appending the field at f.offset (a T or a *T) with add.
func emitField[T any](f goField, b array.Builder, add func(T)) func(p unsafe.Pointer) {
	off := f.offset
	if f.ptr {
		return func(p unsafe.Pointer) {
			v := *(**T)(unsafe.Add(p, off))
			if v == nil {
				b.AppendNull()
				return
			}
			add(*v)
		}
	}
	return func(p unsafe.Pointer) { add(*(*T)(unsafe.Add(p, off))) }
}
