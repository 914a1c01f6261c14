package expr_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedev/sluice/internal/golden"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/expr"
)

func checkedAlloc(t *testing.T) *memory.CheckedAllocator {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// batchOf builds a batch of schema from JSON rows.
func batchOf(t *testing.T, mem memory.Allocator, schema *arrow.Schema, rows string) arrow.RecordBatch {
	t.Helper()
	rec, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(rows))
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	return rec
}

// both evaluates p over batch column-wise and row-wise, requires the same result, and returns
// it rendered row by row.
func both(t *testing.T, p *expr.Program, batch arrow.RecordBatch) []string {
	t.Helper()
	ctx := context.Background()
	got, gotErrs, err := p.Eval(ctx, batch)
	if err != nil {
		t.Fatalf("%q: Eval: %v", p.Source(), err)
	}
	defer got.Release()
	want, wantErrs, err := p.EvalRowWise(ctx, batch)
	if err != nil {
		t.Fatalf("%q: EvalRowWise: %v", p.Source(), err)
	}
	defer want.Release()
	g, w := render(got, gotErrs), render(want, wantErrs)
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("%q (plan %s): column-wise differs from row-wise (-row-wise +column-wise):\n%s", p.Source(), p.Plan(), diff)
	}
	if !arrow.TypeEqual(got.DataType(), p.Type()) {
		t.Errorf("%q: Eval returned %s; Type() is %s", p.Source(), got.DataType(), p.Type())
	}
	return g
}

// TestTypeMapping: every Arrow type maps to its CEL type (each expression type-checks only
// with the documented type), its values read back as they were, and a bare column keeps its
// Arrow type.
func TestTypeMapping(t *testing.T) {
	tests := []struct {
		name  string
		typ   arrow.DataType
		rows  string // JSON values of column c, one per row
		expr  string // type-checks only if c has the documented CEL type
		want  []string
		whole []string // the values of the bare column, rendered; nil: the input as given
	}{
		{"bool", arrow.FixedWidthTypes.Boolean, `[true, null, false]`, `!c`, []string{"false", "NULL", "true"}, nil},
		{"int8", arrow.PrimitiveTypes.Int8, `[1, null, -128]`, `c + 1`, []string{"2", "NULL", "-127"}, nil},
		{"int16", arrow.PrimitiveTypes.Int16, `[1, null, 300]`, `c * 2`, []string{"2", "NULL", "600"}, nil},
		{"int32", arrow.PrimitiveTypes.Int32, `[1, null, -5]`, `c - 1`, []string{"0", "NULL", "-6"}, nil},
		{"int64", arrow.PrimitiveTypes.Int64, `[1, null, 9223372036854775807]`, `c + 1`, []string{"2", "NULL", "ERROR 1:3 integer overflow"}, nil},
		{"uint8", arrow.PrimitiveTypes.Uint8, `[1, null, 255]`, `c + 1u`, []string{"2", "NULL", "256"}, nil},
		{"uint32", arrow.PrimitiveTypes.Uint32, `[0, null, 7]`, `c - 1u`, []string{"ERROR 1:3 unsigned integer overflow", "NULL", "6"}, nil},
		{"uint64", arrow.PrimitiveTypes.Uint64, `[1, null, 18446744073709551615]`, `c / 2u`, []string{"0", "NULL", "9223372036854775807"}, nil},
		{"float32", arrow.PrimitiveTypes.Float32, `[1.5, null, -2]`, `c * 2.0`, []string{"3.0", "NULL", "-4.0"}, nil},
		{"float64", arrow.PrimitiveTypes.Float64, `[1.5, null, 0]`, `1.0 / c`, []string{"0.6666666666666666", "NULL", "Infinity"}, nil},
		{"utf8", arrow.BinaryTypes.String, `["héllo", null, ""]`, `c + "!"`, []string{"héllo!", "NULL", "!"}, nil},
		{"large_utf8", arrow.BinaryTypes.LargeString, `["ab", null, "c"]`, `size(c)`, []string{"2", "NULL", "1"}, nil},
		{"binary", arrow.BinaryTypes.Binary, `["aGk=", null, ""]`, `c + b"!"`, []string{"[68 69 21]", "NULL", "[21]"}, []string{"[68 69]", "NULL", "[]"}},
		{"large_binary", arrow.BinaryTypes.LargeBinary, `["aGk=", null]`, `string(c)`, []string{"hi", "NULL"}, []string{"[68 69]", "NULL"}},
		{"timestamp_s", &arrow.TimestampType{Unit: arrow.Second}, `[1704067200, null]`, `c > timestamp("2023-12-31T23:59:59Z")`, []string{"true", "NULL"}, []string{"2024-01-01 00:00:00", "NULL"}},
		{"timestamp_ns", &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, `["2024-01-01T00:00:00.000000001Z", null]`, `c.getFullYear()`, []string{"2024", "NULL"}, []string{"2024-01-01 00:00:00", "NULL"}},
		{"duration", &arrow.DurationType{Unit: arrow.Millisecond}, `[1500, null]`, `c > duration("1s")`, []string{"true", "NULL"}, []string{"1500ms", "NULL"}},
		{"list", arrow.ListOf(arrow.PrimitiveTypes.Int64), `[[1, 2], null, [], [3, null]]`, `c.exists(x, x > 1)`, []string{"true", "NULL", "false", "true"}, nil},
		{"large_list", arrow.LargeListOf(arrow.BinaryTypes.String), `[["a"], null]`, `size(c) + 1`, []string{"2", "NULL"}, nil},
		{"map", arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), `[[{"key": "k", "value": 1}], null, []]`, `"k" in c ? c["k"] + 1 : 0`, []string{"2", "NULL", "0"}, nil},
		{"struct", arrow.StructOf(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true}), `[{"x": 1}, null, {"x": null}]`, `has(c.x) ? c.x + 1 : -1`, []string{"2", "-1", "-1"}, nil},
		{"null", arrow.Null, `[null, null]`, `isNull(c)`, []string{"true", "true"}, nil},
	}
	env := expr.NewEnv()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := checkedAlloc(t)
			schema := arrow.NewSchema([]arrow.Field{{Name: "c", Type: tt.typ, Nullable: true}}, nil)
			arr, _, err := array.FromJSON(mem, tt.typ, strings.NewReader(tt.rows))
			if err != nil {
				t.Fatal(err)
			}
			batch := array.NewRecordBatch(schema, []arrow.Array{arr}, int64(arr.Len()))
			arr.Release()
			defer batch.Release()
			p, err := env.Compile(schema, tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, both(t, p, batch)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.expr, diff)
			}
			bare, err := env.Compile(schema, "c")
			if err != nil {
				t.Fatal(err)
			}
			if !arrow.TypeEqual(bare.Type(), tt.typ) {
				t.Errorf("bare column: type %s, want %s", bare.Type(), tt.typ)
			}
			if len(bare.RowWise()) != 0 {
				t.Errorf("bare column evaluated row-wise: %v", bare.RowWise())
			}
			got := both(t, bare, batch)
			want := tt.whole
			if want == nil {
				want = render(arr, nil)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("bare column (-want +got):\n%s", diff)
			}
		})
	}
}

// kernelSchema is the schema of TestKernels.
var kernelSchema = arrow.NewSchema([]arrow.Field{
	{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "d", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "data", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "geo", Type: arrow.StructOf(
		arrow.Field{Name: "lat", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		arrow.Field{Name: "place", Type: arrow.StructOf(arrow.Field{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true}), Nullable: true},
	), Nullable: true},
	{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
}, nil)

// kernelRows: data is "hello", "", 0xff 0xfe, null.
const kernelRows = `[
{"i": 10, "d": 2.5, "s": "alpha", "data": "aGVsbG8=", "ok": true, "ts": "2024-03-01T12:00:00Z", "geo": {"lat": 48.8, "place": {"name": "Paris"}}, "tags": ["a", "b"]},
{"i": 0, "d": -1, "s": "Beta", "data": "", "ok": false, "ts": "2023-01-01T00:00:00Z", "geo": {"lat": null, "place": null}, "tags": []},
{"i": -3, "d": "NaN", "s": "", "data": "//4=", "ok": null, "ts": null, "geo": null, "tags": null},
{"i": null, "d": null, "s": null, "data": null, "ok": true, "ts": "2024-03-01T12:00:00.001Z", "geo": {"lat": 1, "place": {"name": null}}, "tags": ["b"]}
]`

// TestKernels: each column-wise operation, with nulls, NaN, errors and invalid UTF-8, gives the
// documented values, and the same as cel-go row by row. rowWise is true for expressions that
// are expected to need cel-go's evaluator.
func TestKernels(t *testing.T) {
	tests := []struct {
		expr    string
		want    []string
		rowWise bool
	}{
		// comparisons
		{`i > 0`, []string{"true", "false", "false", "NULL"}, false},
		{`i == 0`, []string{"false", "true", "false", "NULL"}, false},
		{`d >= 2.5`, []string{"true", "false", "false", "NULL"}, false},
		{`d > 1`, []string{"true", "false", "false", "NULL"}, false},  // a double with an int
		{`d != d`, []string{"false", "false", "true", "NULL"}, false}, // NaN
		{`s < "b"`, []string{"true", "true", "true", "NULL"}, false},
		{`data == b"hello"`, []string{"true", "false", "false", "NULL"}, false},
		{`ok == true`, []string{"true", "false", "NULL", "true"}, false},
		{`ts > timestamp("2024-03-01T12:00:00Z")`, []string{"false", "false", "NULL", "true"}, false},
		// arithmetic
		{`i + 1`, []string{"11", "1", "-2", "NULL"}, false},
		{`100 / i`, []string{"10", "ERROR 1:5 division by zero", "-33", "NULL"}, false},
		{`i % 3`, []string{"1", "0", "0", "NULL"}, false},
		{`d * 2.0 - 1.0`, []string{"4.0", "-3.0", "NaN", "NULL"}, false},
		{`-i`, []string{"-10", "0", "3", "NULL"}, false},
		{`s + "!"`, []string{"alpha!", "Beta!", "!", "NULL"}, false},
		// logic, with SQL's treatment of null
		{`i > 0 && ok`, []string{"true", "false", "false", "NULL"}, false},
		{`i > 0 || ok`, []string{"true", "false", "NULL", "true"}, false},
		{`!ok`, []string{"false", "true", "NULL", "false"}, false},
		{`100 / i > 1 || true`, []string{"true", "true", "true", "true"}, false},
		{`100 / i > 1 && i > 5`, []string{"true", "false", "false", "NULL"}, false}, // false wins over the error
		{`100 / i > 1 && i >= 0`, []string{"true", "ERROR 1:5 division by zero", "false", "NULL"}, false},
		{`ok ? s : "none"`, []string{"alpha", "none", "NULL", "NULL"}, false},
		// nulls and structs
		{`isNull(i)`, []string{"false", "false", "false", "true"}, false},
		{`isNotNull(geo)`, []string{"true", "true", "false", "true"}, false},
		{`geo.lat`, []string{"48.8", "NULL", "NULL", "1.0"}, false},
		{`geo.place.name`, []string{"Paris", "NULL", "NULL", "NULL"}, false},
		{`has(geo.place.name)`, []string{"true", "false", "false", "false"}, false},
		{`has(geo.lat)`, []string{"true", "false", "false", "true"}, false},
		// strings and bytes
		{`size(s)`, []string{"5", "4", "0", "NULL"}, false},
		{`size(data)`, []string{"5", "0", "2", "NULL"}, false},
		{`size(tags)`, []string{"2", "0", "NULL", "1"}, false},
		{`s.contains("ph")`, []string{"true", "false", "false", "NULL"}, false},
		{`s.startsWith("B")`, []string{"false", "true", "false", "NULL"}, false},
		{`s.endsWith("a")`, []string{"true", "true", "false", "NULL"}, false},
		{`s.matches("^[a-z]+$")`, []string{"true", "false", "false", "NULL"}, false},
		{`data.contains(b"ll")`, []string{"true", "false", "false", "NULL"}, false},
		{`data.startsWith(b"\xff")`, []string{"false", "false", "true", "NULL"}, false},
		{`data.endsWith(b"lo")`, []string{"true", "false", "false", "NULL"}, false},
		{`data.matches("l+")`, []string{"true", "false", "false", "NULL"}, false},
		{`s in ["alpha", "Beta"]`, []string{"true", "true", "false", "NULL"}, false},
		{`i in [0, 10]`, []string{"true", "true", "false", "NULL"}, false},
		{`s.lowerAscii()`, []string{"alpha", "beta", "", "NULL"}, false},
		{`i > 0 && s.upperAscii() == "ALPHA"`, []string{"true", "false", "false", "NULL"}, false},
		{`string(data).upperAscii()`, []string{"HELLO", "", "\uFFFD\uFFFD", "NULL"}, false}, // as cel-go: invalid UTF-8 becomes U+FFFD
		{`s.split("a")`, []string{`["" "lph" ""]`, `["Bet" ""]`, `[""]`, "NULL"}, false},
		{`s.split("")`, []string{`["a" "l" "p" "h" "a"]`, `["B" "e" "t" "a"]`, "[]", "NULL"}, false},
		{`s.split("l", 1)`, []string{`["alpha"]`, `["Beta"]`, `[""]`, "NULL"}, false},
		{`s.split("", 2)`, []string{`["a" "lpha"]`, `["B" "eta"]`, "[]", "NULL"}, false},
		{`s.split("a", 0)`, []string{"[]", "[]", "[]", "NULL"}, false},
		{`size(string(data).split(""))`, []string{"5", "0", "2", "NULL"}, false},
		// conversions: string(bytes) keeps invalid UTF-8, size counts its bytes as characters
		{`string(data)`, []string{"hello", "", "\xff\xfe", "NULL"}, false},
		{`data.cast("string")`, []string{"hello", "", "\xff\xfe", "NULL"}, false},
		{`i.cast("string")`, []string{"10", "0", "-3", "NULL"}, false},
		{`s.cast("string")`, []string{"alpha", "Beta", "", "NULL"}, false},
		// Spark's cast to the narrower types checks their range; doubles and timestamps are
		// written as Spark writes them
		{`(i * 100).cast("tinyint")`, []string{"ERROR 1:15 cast: 1000 is out of the range of tinyint (-128 to 127)", "0", "ERROR 1:15 cast: -300 is out of the range of tinyint (-128 to 127)", "NULL"}, true},
		{`(i * 1000).cast("smallint")`, []string{"10000", "0", "-3000", "NULL"}, true},
		{`(i * 1000000000).cast("int")`, []string{"ERROR 1:22 cast: 10000000000 is out of the range of int (-2147483648 to 2147483647)", "0", "ERROR 1:22 cast: -3000000000 is out of the range of int (-2147483648 to 2147483647)", "NULL"}, true},
		{`(i * 1000000000).cast("bigint")`, []string{"10000000000", "0", "-3000000000", "NULL"}, false},
		{`(d * 1e300).cast("float")`, []string{"Infinity", "-Infinity", "NaN", "NULL"}, true},
		{`(d / 10.0).cast("float")`, []string{"0.25", "-0.10000000149011612", "NaN", "NULL"}, true},
		{`d.cast("string")`, []string{"2.5", "-1.0", "NaN", "NULL"}, true},
		{`ts.cast("string")`, []string{"2024-03-01 12:00:00", "2023-01-01 00:00:00", "NULL", "2024-03-01 12:00:00.001"}, true},
		{`size(string(data))`, []string{"5", "0", "2", "NULL"}, false},
		{`bytes(s)`, []string{"[61 6C 70 68 61]", "[42 65 74 61]", "[]", "NULL"}, false},
		{`int(d)`, []string{"2", "-1", "ERROR 1:4 integer overflow", "NULL"}, false},
		{`double(i) / 4.0`, []string{"2.5", "0.0", "-0.75", "NULL"}, false},
		{`string(i)`, []string{"10", "0", "-3", "NULL"}, false},
		// evaluated by cel-go, row by row
		{`tags.exists(t, t == "b")`, []string{"true", "false", "NULL", "true"}, true},
		{`s.split(string(data))`, []string{`["alpha"]`, `["B" "e" "t" "a"]`, `[""]`, "NULL"}, true}, // the separator is not a literal
		{`s.replace("a", "o")`, []string{"olpho", "Beto", "", "NULL"}, true},
		{`string(ts)`, []string{"2024-03-01T12:00:00Z", "2023-01-01T00:00:00Z", "NULL", "2024-03-01T12:00:00.001Z"}, true},
	}
	mem := checkedAlloc(t)
	batch := batchOf(t, mem, kernelSchema, kernelRows)
	defer batch.Release()
	env := expr.NewEnv()
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			p, err := env.Compile(kernelSchema, tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(p.RowWise()) > 0; got != tt.rowWise {
				t.Errorf("row-wise parts %q (plan %s); want row-wise %v", p.RowWise(), p.Plan(), tt.rowWise)
			}
			if diff := cmp.Diff(tt.want, both(t, p, batch)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlan shows which parts of an expression run column-wise.
func TestPlan(t *testing.T) {
	env := expr.NewEnv()
	p, err := env.Compile(kernelSchema, `size(data) > 3 && tags.exists(t, t == "a") || geo.lat > 40.0`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Plan(), `(((size(data) > 3) && row(tags.exists(t, t == "a"))) || (geo.lat > 40.0))`; got != want {
		t.Errorf("Plan() = %s\nwant      %s", got, want)
	}
	if diff := cmp.Diff([]string{`tags.exists(t, t == "a")`}, p.RowWise()); diff != "" {
		t.Errorf("RowWise (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"data", "geo", "tags"}, p.Columns()); diff != "" {
		t.Errorf("Columns (-want +got):\n%s", diff)
	}
}

// kinesisSchema is the record schema of the Kinesis source.
var kinesisSchema = arrow.NewSchema([]arrow.Field{
	{Name: "partitionKey", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "data", Type: arrow.BinaryTypes.Binary},
	{Name: "stream", Type: arrow.BinaryTypes.String},
	{Name: "shardId", Type: arrow.BinaryTypes.String},
	{Name: "sequenceNumber", Type: arrow.BinaryTypes.String},
	{Name: "approximateArrivalTimestamp", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
}, nil)

// TestCompileErrors compares the messages of compile errors with testdata/errors.golden
// (go test -update rewrites it).
func TestCompileErrors(t *testing.T) {
	tests := []struct {
		expr         string
		line, column int
	}{
		{`size(dta) > 100`, 1, 6},
		{`partitionKey.startsWith(1)`, 1, 24},
		{"size(data) > 100 &&\n  partitionKey == null", 2, 16},
		{"data.contains(\"x\") ||\n  shardId.matches(1) ||\n  nosuch(stream)", 1, 14},
		{`size(data) >`, 1, 13},
		{`approximateArrivalTimestamp > "2024-01-01"`, 1, 29},
		{`data`, 0, 0}, // a valid expression: no error
		{`dyn(data)`, 1, 1},
		{`data.cast("varchar")`, 1, 11},
		{`sequenceNumber + 1`, 1, 16},
		{`partitionKey.matches("(")`, 1, 22},
		{`approximateArrivalTimestamp > timestamp("yesterday")`, 1, 41},
		{`optional.of(1) == optional.of(1)`, 1, 12},
		{``, 1, 1},
		{`size(data) == 100.0`, 1, 12},
	}
	env := expr.NewEnv()
	var b strings.Builder
	for _, tt := range tests {
		_, err := env.Compile(kinesisSchema, tt.expr)
		if tt.line == 0 {
			if err != nil {
				t.Errorf("%q: %v", tt.expr, err)
			}
			continue
		}
		var ee *expr.Error
		if !errors.As(err, &ee) {
			t.Errorf("%q: error %v is not an *expr.Error", tt.expr, err)
			continue
		}
		if ee.Line != tt.line || ee.Column != tt.column || ee.Expr != tt.expr {
			t.Errorf("%q: at %d:%d, expression %q; want %d:%d", tt.expr, ee.Line, ee.Column, ee.Expr, tt.line, tt.column)
		}
		b.WriteString(err.Error())
		b.WriteString("\n\n")
	}
	golden.Check(t, "errors.golden", b.String())
}

// TestUnusableColumns: columns that cannot be variables are listed, with why.
func TestUnusableColumns(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "my-col", Type: arrow.PrimitiveTypes.Int64},
		{Name: "in", Type: arrow.PrimitiveTypes.Int64},
		{Name: "dec", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}},
		{Name: "ok", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	_, err := expr.NewEnv().Compile(schema, "dec > 1")
	var b strings.Builder
	b.WriteString(err.Error())
	golden.Check(t, "unusable.golden", b.String())
}

// TestFunctions: registered Go functions are callable with their overloads, evaluated
// column-wise, and their errors and panics fail the row.
func TestFunctions(t *testing.T) {
	env := expr.NewEnv(
		expr.Func("normalize", func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }),
		expr.Func("clamp",
			func(x, lo, hi int64) int64 { return min(max(x, lo), hi) },
			func(x, lo, hi float64) float64 { return min(max(x, lo), hi) }),
		expr.Func("checked", func(x int64) (int64, error) {
			if x < 0 {
				return 0, errors.New("negative")
			}
			return x, nil
		}),
		expr.Func("boom", func(s string) bool { panic("boom: " + s) }),
		expr.Func("words", func(s string) []string { return strings.Fields(s) }),
		expr.Func("hex", func(b []byte, upper bool) string {
			s := ""
			for _, x := range b {
				s += string("0123456789abcdef"[x>>4]) + string("0123456789abcdef"[x&15])
			}
			if upper {
				s = strings.ToUpper(s)
			}
			return s
		}),
	)
	mem := checkedAlloc(t)
	batch := batchOf(t, mem, kernelSchema, kernelRows)
	defer batch.Release()
	tests := []struct {
		expr string
		want []string
	}{
		{`normalize(s + " ")`, []string{"alpha", "beta", "", "NULL"}},
		{`clamp(i, 0, 5)`, []string{"5", "0", "0", "NULL"}},
		{`clamp(d, 0.0, 1.0)`, []string{"1.0", "0.0", "NaN", "NULL"}},
		{`checked(i)`, []string{"10", "0", "ERROR 1:8 checked: negative", "NULL"}},
		{`i > 0 || boom(s)`, []string{"true", "ERROR 1:14 boom panicked: boom: Beta", "ERROR 1:14 boom panicked: boom: ", "NULL"}},
		{`size(words(s + " x"))`, []string{"2", "2", "1", "NULL"}},
		{`hex(data, ok)`, []string{"68656C6C6F", "", "NULL", "NULL"}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			p, err := env.Compile(kernelSchema, tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, both(t, p, batch)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	p, err := env.Compile(kernelSchema, `normalize(s) == "x" && clamp(i, 0, 1) > 0`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"clamp", "normalize"}, p.Functions()); diff != "" {
		t.Errorf("Functions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"clamp", "normalize"}, env.FunctionsIn(`normalize(s) == "x" && clamp(i, 0, 1) > 0 && size(s) > 1`)); diff != "" {
		t.Errorf("FunctionsIn (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"clamp(int, int, int) -> int", "clamp(double, double, double) -> double"}, env.Functions()[1].Signatures()); diff != "" {
		t.Errorf("Signatures (-want +got):\n%s", diff)
	}
}

// TestBadFunctions: bad declarations are reported by Compile, all together, without panics.
func TestBadFunctions(t *testing.T) {
	tests := []struct {
		name string
		fn   *expr.Function
		want string
	}{
		{"not a func", expr.Func("f", 42), "int is not a func"},
		{"bad param", expr.Func("f", func(map[string]int) bool { return true }), "parameter 1 has type map[string]int"},
		{"two results", expr.Func("f", func(string) (string, string) { return "", "" }), "want one result"},
		{"bad name", expr.Func("no-dash", func(string) string { return "" }), `function name "no-dash" is not an identifier`},
		{"no impl", expr.Func("f"), "has no implementation"},
		{"collision", expr.Func("size", func(string) int64 { return 0 }), `function "size" is a built-in function`},
		{"same signature", expr.Func("g", func(string) string { return "" }, func(s string) string { return s }), "g"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := expr.NewEnv(tt.fn)
			_, err := env.Compile(kernelSchema, "true")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile: %v; want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestBuiltinNames: a function named like a built-in function or macro is refused with one
// error naming it, whether its signature would collide with a built-in overload (size) or add
// a new one (contains(string, string)); a fresh name works, and separate Funcs of one name are
// overloads of one function.
func TestBuiltinNames(t *testing.T) {
	tests := []struct {
		fn   *expr.Function
		want string
	}{
		{expr.Func("contains", func(s, t string) bool { return true }), `expr: function "contains" is a built-in function; register the UDF under another name`},
		{expr.Func("size", func(string) int64 { return 0 }), `expr: function "size" is a built-in function; register the UDF under another name`},
		{expr.Func("isNull", func(string) bool { return false }), `expr: function "isNull" is a built-in function; register the UDF under another name`},
		{expr.Func("isNotNull", func(int64) bool { return false }), `expr: function "isNotNull" is a built-in function; register the UDF under another name`},
		{expr.Func("split", func(string) []string { return nil }), `expr: function "split" is a built-in function; register the UDF under another name`},
		{expr.Func("lowerAscii", func(string) string { return "" }), `expr: function "lowerAscii" is a built-in function; register the UDF under another name`},
		{expr.Func("timestamp", func(int64) time.Time { return time.Time{} }), `expr: function "timestamp" is a built-in function; register the UDF under another name`},
		{expr.Func("matches", func(string, string) bool { return true }), `expr: function "matches" is a built-in function; register the UDF under another name`},
		{expr.Func("int", func(bool) int64 { return 0 }), `expr: function "int" is a built-in function; register the UDF under another name`},
		{expr.Func("strings.quote", func(int64) string { return "" }), `expr: function "strings.quote" is a built-in function; register the UDF under another name`},
		{expr.Func("has", func(string) bool { return true }), `expr: function "has" is a built-in macro; register the UDF under another name`},
		{expr.Func("exists", func(string) bool { return true }), `expr: function "exists" is a built-in macro; register the UDF under another name`},
		{expr.Func("cast", func(string, string) string { return "" }), `expr: function "cast" is a built-in macro; register the UDF under another name`},
		// Reported once per name, with the other problems of the declaration.
		{expr.Func("size", func(string) int64 { return 0 }, 42), "expr: function \"size\" is a built-in function; register the UDF under another name\n" +
			"expr: function size, implementation 2: int is not a func"},
	}
	const invalid = "expr: a function registered in the environment is invalid, so no expression can be compiled in it until it is fixed: "
	for _, tt := range tests {
		tt.want = invalid + tt.want
		t.Run(tt.fn.Name(), func(t *testing.T) {
			env := expr.NewEnv(tt.fn)
			for range 2 { // reported by every Compile
				_, err := env.Compile(kernelSchema, `s.contains("a")`)
				if err == nil || err.Error() != tt.want {
					t.Fatalf("Compile: %v\nwant: %s", err, tt.want)
				}
			}
			// The name registered again, with another signature, is reported once.
			env.Register(expr.Func(tt.fn.Name(), func(bool) bool { return true }))
			if _, err := env.Compile(kernelSchema, "true"); err == nil || err.Error() != tt.want {
				t.Errorf("Compile after a second Register: %v\nwant: %s", err, tt.want)
			}
		})
	}

	// A fresh name, and overloads of it declared by separate Funcs, work; the built-in
	// contains is untouched.
	env := expr.NewEnv(
		expr.Func("hasText", func(s, t string) bool { return strings.Contains(strings.ToLower(s), t) }),
		expr.Func("hasText", func(b []byte, t string) bool { return strings.Contains(string(b), t) }),
	)
	mem := checkedAlloc(t)
	batch := batchOf(t, mem, kernelSchema, kernelRows)
	defer batch.Release()
	for src, want := range map[string][]string{
		`hasText(s, "b")`:    {"false", "true", "false", "NULL"},
		`hasText(data, "l")`: {"true", "false", "false", "NULL"},
		`s.contains("B")`:    {"false", "true", "false", "NULL"},
	} {
		p, err := env.Compile(kernelSchema, src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if diff := cmp.Diff(want, both(t, p, batch)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", src, diff)
		}
	}
	// Two Funcs of one name with the same parameter types are refused, as before.
	env.Register(expr.Func("hasText", func(s, t string) bool { return false }))
	if _, err := env.Compile(kernelSchema, "true"); err == nil || !strings.Contains(err.Error(), "function hasText is registered twice with the same parameter types") {
		t.Errorf("Compile: %v; want an error about hasText registered twice", err)
	}
}

// TestCache: a (schema, expression) pair is compiled once; Register starts afresh.
func TestCache(t *testing.T) {
	env := expr.NewEnv()
	a, err := env.Compile(kernelSchema, "i > 1")
	if err != nil {
		t.Fatal(err)
	}
	same := arrow.NewSchema(kernelSchema.Fields(), nil) // equal, another pointer
	b, err := env.Compile(same, "i > 1")
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("the same schema and expression compiled twice")
	}
	env.Register(expr.Func("f", func(int64) int64 { return 1 }))
	c, err := env.Compile(kernelSchema, "i > 1")
	if err != nil {
		t.Fatal(err)
	}
	if c == a {
		t.Error("Register did not reset the cache")
	}
	if _, err := env.Compile(kernelSchema, "f(i) > 0"); err != nil {
		t.Errorf("after Register: %v", err)
	}
}

// TestConcurrentUse: one Env and its Programs are used by many goroutines at once (run with
// -race).
func TestConcurrentUse(t *testing.T) {
	mem := checkedAlloc(t)
	batch := batchOf(t, mem, kernelSchema, kernelRows)
	defer batch.Release()
	env := expr.NewEnv(expr.Func("normalize", strings.ToLower))
	exprs := []string{`i > 0 && normalize(s) == "alpha"`, `tags.exists(t, t == "b")`, `size(data) + 1`, `geo.lat * 2.0`}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Go(func() {
			for k := range 20 {
				p, err := env.Compile(kernelSchema, exprs[(g+k)%len(exprs)])
				if err != nil {
					errs <- err
					return
				}
				arr, _, err := p.Eval(context.Background(), batch)
				if err != nil {
					errs <- err
					return
				}
				arr.Release()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestEvalChecks: Eval refuses a batch of another schema and stops when ctx is done.
func TestEvalChecks(t *testing.T) {
	mem := checkedAlloc(t)
	batch := batchOf(t, mem, kernelSchema, kernelRows)
	defer batch.Release()
	p, err := expr.NewEnv().Compile(kinesisSchema, "size(data) > 1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Eval(context.Background(), batch); err == nil || !strings.Contains(err.Error(), "compiled for schema") {
		t.Errorf("Eval of another schema: %v", err)
	}
	q, err := expr.NewEnv().Compile(kernelSchema, "s.lowerAscii()")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := q.Eval(ctx, batch); !errors.Is(err, context.Canceled) {
		t.Errorf("Eval with a cancelled context: %v", err)
	}
}

// TestResultTypes: a result no column can hold is a compile error.
func TestResultTypes(t *testing.T) {
	env := expr.NewEnv()
	for _, src := range []string{`dyn(i)`, `type(i)`, `[i, "x"]`} {
		_, err := env.Compile(kernelSchema, src)
		var ee *expr.Error
		if !errors.As(err, &ee) || !strings.Contains(err.Error(), "cannot be stored in a column") {
			t.Errorf("%s: %v; want a compile error about the result type", src, err)
		}
	}
	p, err := env.Compile(kernelSchema, `{"n": i}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64); !arrow.TypeEqual(p.Type(), want) {
		t.Errorf("map literal: %s, want %s", p.Type(), want)
	}
}

// TestCacheIgnoresMetadata: schemas that differ only in field metadata share a program (the
// cache key leaves metadata out), and the program evaluates batches of either.
func TestCacheIgnoresMetadata(t *testing.T) {
	mem := checkedAlloc(t)
	env := expr.NewEnv()
	with := func(delay string) *arrow.Schema {
		md := arrow.NewMetadata([]string{"sluice.watermarkDelayMs"}, []string{delay})
		return arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true, Metadata: md}}, nil)
	}
	for _, delay := range []string{"10000", "20000"} {
		s := with(delay)
		p, err := env.Compile(s, "x > 1")
		if err != nil {
			t.Fatal(err)
		}
		rec := batchOf(t, mem, s, `[{"x": 1}, {"x": 2}]`)
		if got := both(t, p, rec); !slices.Equal(got, []string{"false", "true"}) {
			t.Errorf("delay %s: got %v", delay, got)
		}
		rec.Release()
	}
}

// TestTimeRange: a computed timestamp beyond the range of its column's unit, or a duration
// column value beyond CEL's (int64 nanoseconds), is a row error, in both paths; a value at the
// very ends of the nanosecond range is stored as it is.
func TestTimeRange(t *testing.T) {
	mem := checkedAlloc(t)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}, Nullable: true},
		{Name: "du", Type: &arrow.DurationType{Unit: arrow.Second}, Nullable: true},
		{Name: "st", Type: arrow.StructOf(arrow.Field{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, Nullable: true}), Nullable: true},
	}, nil)
	rec := batchOf(t, mem, schema, `[
		{"k": 1, "ts": 10000000000000, "du": 10000000000, "st": {"at": 9223372036854775807}},
		{"k": 2, "ts": 1, "du": 1, "st": {"at": -9223372036854775808}}]`)
	defer rec.Release()
	for _, tc := range []struct{ src, want0, want1 string }{
		{"isNull(ts) ? ts : ts", "ERROR 1:12 timestamp 318857-05-20T17:46:40Z is out of the range of a timestamp[us] column", "1970-01-01 00:00:01"},
		{"du > duration('1s')", "ERROR 1:1 duration 10000000000s is out of range", "false"},
		{"int(du)", "ERROR 1:5 duration 10000000000s is out of range", "1000000000"},
		{"k > 0 ? st : st", "{2262-04-11 23:47:16.854775}", "{1677-09-21 00:12:43.145224}"}, // rendered in µs
		{"[st][0].at", "2262-04-11 23:47:16.854775", "1677-09-21 00:12:43.145224"},
	} {
		p, err := expr.Default.Compile(schema, tc.src)
		if err != nil {
			t.Fatal(err)
		}
		got := both(t, p, rec)
		if !strings.HasPrefix(got[0], tc.want0) || got[1] != tc.want1 {
			t.Errorf("%s: got %q; want %q, %q", tc.src, got, tc.want0, tc.want1)
		}
	}
}

// TestSlicedMaps: a batch that is a slice of a larger one (as Filter emits when the rows kept
// are contiguous) reads its map values at its own rows, in both evaluations.
func TestSlicedMaps(t *testing.T) {
	mem := checkedAlloc(t)
	m := arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "v", Type: arrow.PrimitiveTypes.Int64},
		{Name: "m", Type: m, Nullable: true},
		{Name: "sm", Type: arrow.StructOf(arrow.Field{Name: "m", Type: m, Nullable: true}), Nullable: true},
	}, nil)
	var rows []string
	for i := range 6 {
		rows = append(rows, fmt.Sprintf(`{"v": %d, "m": [{"key": "a", "value": "c%d"}, {"key": "b", "value": "x"}], "sm": {"m": [{"key": "a", "value": "s%d"}]}}`, i, i, i))
	}
	full := batchOf(t, mem, schema, "["+strings.Join(rows, ",")+"]")
	defer full.Release()
	batch := full.NewSlice(3, 6)
	defer batch.Release()
	for _, tc := range []struct {
		src  string
		want []string
	}{
		{`m["a"]`, []string{"c3", "c4", "c5"}},
		{`size(m)`, []string{"2", "2", "2"}},
		{`sm.m["a"] + string(v)`, []string{"s33", "s44", "s55"}},
	} {
		p, err := expr.NewEnv().Compile(schema, tc.src)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, both(t, p, batch)); diff != "" {
			t.Errorf("%s on rows 3..5 (-want +got):\n%s", tc.src, diff)
		}
	}
}
