package arrowbatch_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/arrowbatch"
)

func newChecked(t *testing.T) *memory.CheckedAllocator {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// fromJSON builds an array of type dt from a JSON array (binary values in base64).
func fromJSON(t *testing.T, mem memory.Allocator, dt arrow.DataType, js string) arrow.Array {
	t.Helper()
	a, _, err := array.FromJSON(mem, dt, strings.NewReader(js))
	if err != nil {
		t.Fatalf("FromJSON(%s, %s): %v", dt, js, err)
	}
	return a
}

var kv = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "v", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// batch builds a batch of schema kv.
func batch(t *testing.T, mem memory.Allocator, keys string, values string) arrow.RecordBatch {
	t.Helper()
	k := fromJSON(t, mem, arrow.BinaryTypes.String, keys)
	defer k.Release()
	v := fromJSON(t, mem, arrow.PrimitiveTypes.Int64, values)
	defer v.Release()
	return array.NewRecordBatch(kv, []arrow.Array{k, v}, int64(k.Len()))
}

// contents renders a batch's rows with FormatValue.
func contents(b arrow.RecordBatch) []string {
	var out []string
	for i := range int(b.NumRows()) {
		var cells []string
		for c := range int(b.NumCols()) {
			cells = append(cells, arrowbatch.FormatValue(b.Column(c), i))
		}
		out = append(out, strings.Join(cells, ","))
	}
	return out
}

func TestNumRows(t *testing.T) {
	mem := newChecked(t)
	a := batch(t, mem, `["a","b"]`, `[1,2]`)
	defer a.Release()
	b := batch(t, mem, `[]`, `[]`)
	defer b.Release()
	c := batch(t, mem, `["c"]`, `[3]`)
	defer c.Release()
	for _, tt := range []struct {
		in   []arrow.RecordBatch
		want int64
	}{{nil, 0}, {[]arrow.RecordBatch{b}, 0}, {[]arrow.RecordBatch{a, b, c}, 3}} {
		if got := arrowbatch.NumRows(tt.in); got != tt.want {
			t.Errorf("NumRows = %d; want %d", got, tt.want)
		}
	}
}

func TestConcat(t *testing.T) {
	mem := newChecked(t)
	a := batch(t, mem, `["a",null]`, `[1,2]`)
	b := batch(t, mem, `[]`, `[]`)
	c := batch(t, mem, `["c","d","e"]`, `[3,4,5]`)
	tests := []struct {
		name string
		in   []arrow.RecordBatch
		want []string
	}{
		{"none", nil, nil},
		{"one empty", []arrow.RecordBatch{b}, nil},
		{"two", []arrow.RecordBatch{a, c}, []string{"a,1", "NULL,2", "c,3", "d,4", "e,5"}},
		{"with an empty one", []arrow.RecordBatch{b, a, b, c, b}, []string{"a,1", "NULL,2", "c,3", "d,4", "e,5"}},
		{"the same batch twice", []arrow.RecordBatch{c, c}, []string{"c,3", "d,4", "e,5", "c,3", "d,4", "e,5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := arrowbatch.Concat(mem, kv, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Release()
			if !got.Schema().Equal(kv) {
				t.Errorf("schema %s", got.Schema())
			}
			if got.NumCols() != 2 {
				t.Errorf("%d columns", got.NumCols())
			}
			if diff := cmp.Diff(tt.want, contents(got)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
	// The result owns its data: it outlives the inputs.
	got, err := arrowbatch.Concat(mem, kv, []arrow.RecordBatch{a, c})
	if err != nil {
		t.Fatal(err)
	}
	a.Release()
	b.Release()
	c.Release()
	if diff := cmp.Diff([]string{"a,1", "NULL,2", "c,3", "d,4", "e,5"}, contents(got)); diff != "" {
		t.Errorf("rows after releasing the inputs (-want +got):\n%s", diff)
	}
	got.Release()
}

// TestConcatOneIsRetainedNotCopied checks the zero-copy case: the batch itself comes back
// with one more reference, and no memory is allocated.
func TestConcatOneIsRetainedNotCopied(t *testing.T) {
	mem := newChecked(t)
	a := batch(t, mem, `["a","b"]`, `[1,2]`)
	before := mem.CurrentAlloc()
	got, err := arrowbatch.Concat(mem, kv, []arrow.RecordBatch{a})
	if err != nil {
		t.Fatal(err)
	}
	if got != a {
		t.Error("Concat of one batch returned another batch")
	}
	if mem.CurrentAlloc() != before {
		t.Errorf("Concat of one batch allocated %d bytes", mem.CurrentAlloc()-before)
	}
	a.Release() // the caller's reference; the returned one keeps the data alive
	if diff := cmp.Diff([]string{"a,1", "b,2"}, contents(got)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	got.Release()
}

func TestConcatSchemaMismatch(t *testing.T) {
	mem := newChecked(t)
	a := batch(t, mem, `["a"]`, `[1]`)
	defer a.Release()
	other := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.BinaryTypes.String, Nullable: true}, {Name: "v", Type: arrow.PrimitiveTypes.Int32}}, nil)
	v32 := fromJSON(t, mem, arrow.PrimitiveTypes.Int32, `[7]`)
	k := a.Column(0)
	b := array.NewRecordBatch(other, []arrow.Array{k, v32}, 1)
	v32.Release()
	defer b.Release()
	empty := arrow.NewSchema(nil, nil)

	tests := []struct {
		name   string
		schema *arrow.Schema
		in     []arrow.RecordBatch
		prefix string
	}{
		{"one", kv, []arrow.RecordBatch{b}, "arrowbatch: batch schema "},
		{"second of two", kv, []arrow.RecordBatch{a, b}, "arrowbatch: batch 1 schema "},
		{"first of three", other, []arrow.RecordBatch{a, b, b}, "arrowbatch: batch 0 schema "},
		{"a schema with no columns", empty, []arrow.RecordBatch{a, a}, "arrowbatch: batch 0 schema "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := arrowbatch.Concat(mem, tt.schema, tt.in)
			if err == nil {
				got.Release()
				t.Fatal("Concat succeeded")
			}
			if !strings.HasPrefix(err.Error(), tt.prefix) || !strings.Contains(err.Error(), " differs from ") {
				t.Errorf("error %q; want %q... differs from ...", err, tt.prefix)
			}
		})
	}
}

func TestFieldNames(t *testing.T) {
	if diff := cmp.Diff([]string{"k", "v"}, arrowbatch.FieldNames(kv)); diff != "" {
		t.Errorf("FieldNames (-want +got):\n%s", diff)
	}
	if got := arrowbatch.FieldNames(arrow.NewSchema(nil, nil)); len(got) != 0 {
		t.Errorf("FieldNames of an empty schema = %v", got)
	}
}

var t0 = time.Date(2024, 3, 9, 17, 4, 5, 123456789, time.UTC)

// valueCase is one non-null element: its type, its JSON for FromJSON, and what each function
// returns for it.
type valueCase struct {
	name   string
	dt     arrow.DataType
	js     string // a JSON array of one element
	goVal  any
	format string
	json   string // encoding/json of JSONValue
}

var valueCases = []valueCase{
	{"string", arrow.BinaryTypes.String, `["héllo"]`, "héllo", "héllo", `"héllo"`},
	{"empty string", arrow.BinaryTypes.String, `[""]`, "", "", `""`},
	{"large string", arrow.BinaryTypes.LargeString, `["x"]`, "x", "x", `"x"`},
	{"binary", arrow.BinaryTypes.Binary, `["aGk="]`, []byte("hi"), "[68 69]", `"aGk="`},
	{"binary with small bytes", arrow.BinaryTypes.Binary, `["AAoP/w=="]`, []byte{0x00, 0x0a, 0x0f, 0xff}, "[00 0A 0F FF]", `"AAoP/w=="`},
	{"empty binary", arrow.BinaryTypes.Binary, `[""]`, []byte{}, "[]", `""`},
	{"large binary", arrow.BinaryTypes.LargeBinary, `["AQI="]`, []byte{1, 2}, "[01 02]", `"AQI="`},
	{"int8", arrow.PrimitiveTypes.Int8, `[-128]`, int64(-128), "-128", `-128`},
	{"int16", arrow.PrimitiveTypes.Int16, `[32767]`, int64(32767), "32767", `32767`},
	{"int32", arrow.PrimitiveTypes.Int32, `[-7]`, int64(-7), "-7", `-7`},
	{"int64", arrow.PrimitiveTypes.Int64, `[-9223372036854775808]`, int64(math.MinInt64), "-9223372036854775808", `-9223372036854775808`},
	{"uint8", arrow.PrimitiveTypes.Uint8, `[255]`, uint64(255), "255", `255`},
	{"uint16", arrow.PrimitiveTypes.Uint16, `[65535]`, uint64(65535), "65535", `65535`},
	{"uint32", arrow.PrimitiveTypes.Uint32, `[4294967295]`, uint64(4294967295), "4294967295", `4294967295`},
	{"uint64", arrow.PrimitiveTypes.Uint64, `[18446744073709551615]`, uint64(math.MaxUint64), "18446744073709551615", `18446744073709551615`},
	{"float32", arrow.PrimitiveTypes.Float32, `[0.1]`, float64(float32(0.1)), "0.1", `0.1`},
	{"float32 NaN", arrow.PrimitiveTypes.Float32, `["NaN"]`, math.NaN(), "NaN", `"NaN"`},
	{"float64", arrow.PrimitiveTypes.Float64, `[1.5]`, 1.5, "1.5", `1.5`},
	{"float64 whole", arrow.PrimitiveTypes.Float64, `[3]`, 3.0, "3.0", `3`},
	{"float64 large", arrow.PrimitiveTypes.Float64, `[1e21]`, 1e21, "1.0E21", `1e+21`},
	{"float64 NaN", arrow.PrimitiveTypes.Float64, `["NaN"]`, math.NaN(), "NaN", `"NaN"`},
	{"float64 +Inf", arrow.PrimitiveTypes.Float64, `["+Inf"]`, math.Inf(1), "Infinity", `"Infinity"`},
	{"float64 -Inf", arrow.PrimitiveTypes.Float64, `["-Inf"]`, math.Inf(-1), "-Infinity", `"-Infinity"`},
	{"bool", arrow.FixedWidthTypes.Boolean, `[true]`, true, "true", `true`},
	{"timestamp s", &arrow.TimestampType{Unit: arrow.Second}, `[1710003845]`, t0.Truncate(time.Second), "2024-03-09 17:04:05", `"2024-03-09T17:04:05Z"`},
	{"timestamp ms", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, `[1710003845123]`, t0.Truncate(time.Millisecond), "2024-03-09 17:04:05.123", `"2024-03-09T17:04:05.123Z"`},
	{"timestamp us", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, `[1710003845123456]`, t0.Truncate(time.Microsecond), "2024-03-09 17:04:05.123456", `"2024-03-09T17:04:05.123456Z"`},
	{"timestamp us with trailing zeros", &arrow.TimestampType{Unit: arrow.Microsecond}, `[1710003845100000]`, t0.Truncate(time.Second).Add(100 * time.Millisecond), "2024-03-09 17:04:05.1", `"2024-03-09T17:04:05.1Z"`},
	{"timestamp ns", &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "America/New_York"}, `[1710003845123456789]`, t0, "2024-03-09 17:04:05.123456", `"2024-03-09T17:04:05.123456789Z"`},
	{"timestamp before 1970", &arrow.TimestampType{Unit: arrow.Microsecond}, `[-1500000]`, time.Unix(-2, 5e8).UTC(), "1969-12-31 23:59:58.5", `"1969-12-31T23:59:58.5Z"`},
	{"date32 (string form)", arrow.FixedWidthTypes.Date32, `["2024-03-09"]`, "2024-03-09", "2024-03-09", `"2024-03-09"`},
	{"decimal (string form)", &arrow.Decimal128Type{Precision: 10, Scale: 2}, `["12.34"]`, "12.34", "12.34", `"12.34"`},
}

func TestValues(t *testing.T) {
	for _, tt := range valueCases {
		t.Run(tt.name, func(t *testing.T) {
			mem := newChecked(t)
			a := fromJSON(t, mem, tt.dt, tt.js)
			defer a.Release()
			if diff := cmp.Diff(tt.goVal, arrowbatch.GoValue(a, 0), cmpNaN); diff != "" {
				t.Errorf("GoValue (-want +got):\n%s", diff)
			}
			if got := arrowbatch.FormatValue(a, 0); got != tt.format {
				t.Errorf("FormatValue = %q; want %q", got, tt.format)
			}
			js, err := json.Marshal(arrowbatch.JSONValue(a, 0))
			if err != nil {
				t.Fatalf("json.Marshal(JSONValue): %v", err)
			}
			if string(js) != tt.json {
				t.Errorf("JSONValue encodes as %s; want %s", js, tt.json)
			}

			// The same through a Row of a batch.
			schema := arrow.NewSchema([]arrow.Field{{Name: "other", Type: arrow.PrimitiveTypes.Int64}, {Name: "c", Type: tt.dt, Nullable: true}}, nil)
			other := fromJSON(t, mem, arrow.PrimitiveTypes.Int64, `[1]`)
			defer other.Release()
			rec := array.NewRecordBatch(schema, []arrow.Array{other, a}, 1)
			defer rec.Release()
			row := arrowbatch.Row{Batch: rec, Index: 0}
			v, err := row.Value("c")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.goVal, v, cmpNaN); diff != "" {
				t.Errorf("Row.Value (-want +got):\n%s", diff)
			}
			if got := row.String("c"); got != tt.format {
				t.Errorf("Row.String = %q; want %q", got, tt.format)
			}
			if row.IsNull("c") {
				t.Error("Row.IsNull of a value")
			}
			if row.Schema() != schema {
				t.Error("Row.Schema is not the batch's schema")
			}
		})
	}
}

// cmpNaN makes NaN equal to NaN.
var cmpNaN = cmp.Comparer(func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) })

func TestNulls(t *testing.T) {
	mem := newChecked(t)
	for _, tt := range valueCases {
		a := fromJSON(t, mem, tt.dt, `[null]`)
		if v := arrowbatch.GoValue(a, 0); v != nil {
			t.Errorf("%s: GoValue of null = %#v", tt.name, v)
		}
		if got := arrowbatch.FormatValue(a, 0); got != "NULL" {
			t.Errorf("%s: FormatValue of null = %q", tt.name, got)
		}
		if js, err := json.Marshal(arrowbatch.JSONValue(a, 0)); err != nil || string(js) != "null" {
			t.Errorf("%s: JSONValue of null encodes as %s, %v", tt.name, js, err)
		}
		a.Release()
	}
}

func TestJSONValueInvalidUTF8(t *testing.T) {
	mem := newChecked(t)
	b := array.NewStringBuilder(mem)
	b.Append("ok\xff\xfe!")
	a := b.NewArray()
	b.Release()
	defer a.Release()
	got := arrowbatch.JSONValue(a, 0)
	if got != "ok\uFFFD!" {
		t.Errorf("JSONValue = %q; want the invalid bytes replaced", got)
	}
	if js, err := json.Marshal(got); err != nil || string(js) != "\"ok\uFFFD!\"" {
		t.Errorf("encodes as %s, %v", js, err)
	}
	// FormatValue shows the string as it is.
	if got := arrowbatch.FormatValue(a, 0); got != "ok\xff\xfe!" {
		t.Errorf("FormatValue = %q", got)
	}
}

// TestJSONRow encodes a whole row, as a JSON sink would.
func TestJSONRow(t *testing.T) {
	mem := newChecked(t)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "data", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	cols := []arrow.Array{
		fromJSON(t, mem, arrow.PrimitiveTypes.Int64, `[1,2]`),
		fromJSON(t, mem, arrow.BinaryTypes.Binary, `["aGk=",null]`),
		fromJSON(t, mem, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, `[1710003845123456,0]`),
		fromJSON(t, mem, arrow.PrimitiveTypes.Float64, `["NaN",0.25]`),
	}
	rec := array.NewRecordBatch(schema, cols, 2)
	for _, c := range cols {
		c.Release()
	}
	defer rec.Release()
	var lines []string
	for i := range int(rec.NumRows()) {
		m := map[string]any{}
		for c, name := range arrowbatch.FieldNames(schema) {
			m[name] = arrowbatch.JSONValue(rec.Column(c), i)
		}
		js, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		lines = append(lines, string(js))
	}
	want := []string{
		`{"at":"2024-03-09T17:04:05.123456Z","data":"aGk=","id":1,"score":"NaN"}`,
		`{"at":"1970-01-01T00:00:00Z","data":null,"id":2,"score":0.25}`,
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestRowMissingColumn(t *testing.T) {
	mem := newChecked(t)
	rec := batch(t, mem, `["a",null]`, `[1,2]`)
	defer rec.Release()
	row := arrowbatch.Row{Batch: rec, Index: 1}
	_, err := row.Value("K")
	if want := `arrowbatch: no column "K" (columns: k, v)`; err == nil || err.Error() != want {
		t.Errorf("Value(K) = %v; want %q (names are case-sensitive)", err, want)
	}
	if got := row.String("nope"); got != "" {
		t.Errorf("String of a missing column = %q; want \"\"", got)
	}
	if !row.IsNull("nope") {
		t.Error("IsNull of a missing column is false")
	}
	if !row.IsNull("k") || row.IsNull("v") {
		t.Errorf("IsNull(k), IsNull(v) = %v, %v; want true, false", row.IsNull("k"), row.IsNull("v"))
	}
	if v, err := row.Value("k"); v != nil || err != nil {
		t.Errorf("Value of a null = %v, %v", v, err)
	}
	if got := row.String("k"); got != "NULL" {
		t.Errorf("String of a null = %q", got)
	}
}

func TestOtherTypesUseTheirStringForm(t *testing.T) {
	mem := newChecked(t)
	lb := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int32)
	defer lb.Release()
	lb.Append(true)
	lb.ValueBuilder().(*array.Int32Builder).AppendValues([]int32{1, 2}, nil)
	list := lb.NewArray()
	defer list.Release()
	if got, want := arrowbatch.GoValue(list, 0), list.ValueStr(0); got != want {
		t.Errorf("GoValue of a list = %#v; want its ValueStr %q", got, want)
	}
	if got, want := arrowbatch.FormatValue(list, 0), "[1, 2]"; got != want {
		t.Errorf("FormatValue of a list = %q; want %q, as Spark shows it", got, want)
	}
}

// TestFormatNested: structs, lists and maps print as Spark's show() does, nulls inside them as
// "null".
func TestFormatNested(t *testing.T) {
	mem := newChecked(t)
	st := arrow.StructOf(arrow.Field{Name: "start", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true})
	sb := array.NewStructBuilder(mem, st)
	defer sb.Release()
	sb.Append(true)
	sb.FieldBuilder(0).(*array.Int64Builder).Append(7)
	sb.FieldBuilder(1).(*array.StringBuilder).AppendNull()
	sb.AppendNull()
	structs := sb.NewArray()
	defer structs.Release()
	mb := array.NewMapBuilder(mem, arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64, false)
	defer mb.Release()
	mb.Append(true)
	mb.KeyBuilder().(*array.StringBuilder).AppendValues([]string{"a", "b"}, nil)
	mb.ItemBuilder().(*array.Int64Builder).AppendValues([]int64{1, 0}, []bool{true, false})
	maps := mb.NewArray()
	defer maps.Release()
	for _, tc := range []struct {
		a    arrow.Array
		i    int
		want string
	}{{structs, 0, "{7, null}"}, {structs, 1, "NULL"}, {maps, 0, "{a -> 1, b -> null}"}} {
		if got := arrowbatch.FormatValue(tc.a, tc.i); got != tc.want {
			t.Errorf("FormatValue(%s, %d) = %q; want %q", tc.a.DataType(), tc.i, got, tc.want)
		}
	}
}

// TestFormatFloat: doubles and floats print as Spark casts them to strings (Java's
// Double.toString and Float.toString).
func TestFormatFloat(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		bits int
		want string
	}{
		{0, 64, "0.0"},
		{math.Copysign(0, -1), 64, "-0.0"},
		{1, 64, "1.0"},
		{-2, 64, "-2.0"},
		{0.1, 64, "0.1"},
		{0.001, 64, "0.001"},
		{0.000999, 64, "9.99E-4"},
		{1.5e-5, 64, "1.5E-5"},
		{1234567.5, 64, "1234567.5"},
		{9999999, 64, "9999999.0"},
		{1e7, 64, "1.0E7"},
		{12345678.9, 64, "1.23456789E7"},
		{1e21, 64, "1.0E21"},
		{-1e-300, 64, "-1.0E-300"},
		{math.MaxFloat64, 64, "1.7976931348623157E308"},
		{float64(float32(0.1)), 32, "0.1"},
		{float64(float32(3.4e38)), 32, "3.4E38"},
		{math.NaN(), 64, "NaN"},
		{math.Inf(1), 64, "Infinity"},
		{math.Inf(-1), 32, "-Infinity"},
	} {
		if got := arrowbatch.FormatFloat(tt.v, tt.bits); got != tt.want {
			t.Errorf("FormatFloat(%v, %d) = %q, want %q", tt.v, tt.bits, got, tt.want)
		}
	}
}
