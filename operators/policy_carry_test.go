package operators_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/operators"
)

// carrySchema: a value and the error column an earlier transform left ("e").
var carrySchema = arrow.NewSchema([]arrow.Field{
	{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "e", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

func carryBatch(t *testing.T, mem memory.Allocator) arrow.RecordBatch {
	t.Helper()
	rec, _, err := array.RecordFromJSON(mem, carrySchema, strings.NewReader(`[
{"n": null, "e": "earlier failure"},
{"n": 5, "e": null},
{"n": -1, "e": null},
{"n": 0, "e": "other failure"}
]`))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// A row that carries an error is never dropped by a later Filter or Explode under ErrorColumn.
func TestErrorRowsNotDropped(t *testing.T) {
	ec := operators.Options{OnError: operators.ErrorColumn("e")}
	tests := []struct {
		name string
		op   operators.Operator
		want []string
	}{
		{"filter", operators.Filter("n > 0", ec),
			[]string{"NULL | earlier failure", "5 | NULL", "0 | other failure"}},
		{"filter fails too", operators.Filter("10 / n > 0", ec),
			[]string{"NULL | earlier failure", "5 | NULL", `0 | other failure; "10 / n > 0" (at 1:4): division by zero`}},
		{"explode null and empty lists", operators.Explode("x", `n > 0 ? [n, n] : []`, ec),
			[]string{"NULL | earlier failure | NULL", "5 | NULL | 5", "5 | NULL | 5", "0 | other failure | NULL"}},
		// Without the policy's column, a carried error is not known.
		{"filter other column", operators.Filter("n > 0", operators.Options{OnError: operators.ErrorColumn("f")}),
			[]string{"5 | NULL | NULL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := checkedAlloc(t)
			in := carryBatch(t, mem)
			defer in.Release()
			out, err := run(t, mem, tt.op, in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, out.rows); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// SideOutput rejects a column named _error, which the side batch's message would overwrite.
func TestSideOutputErrorColumnClash(t *testing.T) {
	side := operators.SideOutput(func(context.Context, arrow.RecordBatch) error { return nil })
	in := arrow.NewSchema([]arrow.Field{
		{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "_error", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	o := operators.Options{OnError: side}
	for _, op := range []operators.Operator{
		operators.Filter("n > 0", o),
		operators.WithColumn("x", "10 / n", o),
		operators.Select([]string{"10 / n AS x"}, o),
		operators.Explode("x", "[n]", o),
		operators.Map("m", func(_ context.Context, in struct{ N int64 }) (struct{ N int64 }, error) { return in, nil }, o),
	} {
		_, err := op.OutputSchema(in)
		if err == nil || !strings.Contains(err.Error(), `column named "_error"`) {
			t.Errorf("%s: %v; want the clash with _error", op.Name(), err)
		}
	}
	if _, err := operators.Filter("n > 0", operators.Options{OnError: operators.ErrorColumn("e")}).OutputSchema(in); err != nil {
		t.Errorf("ErrorColumn: %v", err)
	}
}

func TestBadPolicyString(t *testing.T) {
	if got := operators.ErrorColumn("").String(); got != `ErrorColumn("")` {
		t.Errorf("got %s", got)
	}
	if got := operators.SideOutput(nil).String(); got != "SideOutput(nil)" {
		t.Errorf("got %s", got)
	}
}

// MapBatch releases a batch its function returns with an error.
func TestMapBatchReleasesOnError(t *testing.T) {
	mem := checkedAlloc(t)
	in := eventBatch(t, mem)
	defer in.Release()
	op := operators.MapBatch("mb", nil, func(ctx context.Context, in arrow.RecordBatch) (arrow.RecordBatch, error) {
		return in.NewSlice(0, 1), errors.New("failed")
	})
	b := array.NewInt64Builder(mem) // a new allocation, so that a leak shows
	b.Append(1)
	col := b.NewArray()
	b.Release()
	op2 := operators.MapBatch("mb2", nil, func(ctx context.Context, in arrow.RecordBatch) (arrow.RecordBatch, error) {
		s := arrow.NewSchema([]arrow.Field{{Name: "z", Type: arrow.PrimitiveTypes.Int64}}, nil)
		return array.NewRecordBatch(s, []arrow.Array{col}, 1), errors.New("failed")
	})
	for _, op := range []operators.Operator{op, op2} {
		if _, err := run(t, mem, op, in); err == nil || err.Error() != "failed" {
			t.Errorf("%s: %v", op.Name(), err)
		}
	}
	col.Release()
}

type tagIn struct {
	Value int64 `sluice:"n,omitempty"`
	Pk    string
	Line  *string `sluice:",omitempty"`
	Skip  int     `sluice:"-"`
}

type tagOut struct {
	Out  string  `sluice:"out,omitzero"`
	Wide float64 `sluice:"wide"`
}

type wideIn struct {
	N float64 `sluice:"n"`
}

// Tags end at a comma; untagged fields match columns ignoring case; float64 reads integers.
func TestMapTagsAndCase(t *testing.T) {
	mem := checkedAlloc(t)
	in := eventBatch(t, mem)
	defer in.Release()
	op := operators.Map("m", func(_ context.Context, r tagIn) (tagOut, error) {
		l := "<nil>"
		if r.Line != nil {
			l = *r.Line
		}
		return tagOut{Out: r.Pk + "/" + l, Wide: float64(r.Value)}, nil
	}, operators.Options{})
	out, err := run(t, mem, op, in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a/the quick fox | 4.0", "b/ | 0.0", "c/jumps | -2.0", "/<nil> | 0.0"}
	if diff := cmp.Diff(want, out.rows); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"out utf8", "wide float64"}, out.schema); diff != "" {
		t.Errorf("schema (-want +got):\n%s", diff)
	}
	wide := operators.Map("w", func(_ context.Context, r wideIn) (wideIn, error) { return wideIn{r.N / 2}, nil }, operators.Options{})
	if out, err = run(t, mem, wide, in); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"2.0", "0.0", "-1.0", "0.0"}, out.rows); diff != "" {
		t.Errorf("float64 from int64 (-want +got):\n%s", diff)
	}

	// Two columns matching an untagged field ignoring case; an unknown tag option.
	ambiguous := arrow.NewSchema([]arrow.Field{
		{Name: "PK", Type: arrow.BinaryTypes.String}, {Name: "pK", Type: arrow.BinaryTypes.String},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64}, {Name: "line", Type: arrow.BinaryTypes.String},
	}, nil)
	if _, err := op.OutputSchema(ambiguous); err == nil || !strings.Contains(err.Error(), "ignoring case") {
		t.Errorf("ambiguous columns: %v", err)
	}
	bad := operators.Map("b", func(_ context.Context, r struct {
		N int64 `sluice:"n,string"`
	}) (tagOut, error) {
		return tagOut{}, nil
	}, operators.Options{})
	if _, err := bad.OutputSchema(events); err == nil || !strings.Contains(err.Error(), `unknown option "string"`) {
		t.Errorf("unknown option: %v", err)
	}
}

type timeOut struct {
	T  time.Time  `sluice:"t"`
	TP *time.Time `sluice:"tp"`
}

// An output time.Time beyond int64 microseconds fails its row instead of wrapping.
func TestMapTimeOutOfRange(t *testing.T) {
	mem := checkedAlloc(t)
	in := eventBatch(t, mem)
	defer in.Release()
	far := time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)
	ok := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	op := operators.Map("m", func(_ context.Context, r struct {
		N *int64 `sluice:"n"`
	}) (timeOut, error) {
		switch {
		case r.N == nil:
			return timeOut{T: ok, TP: &far}, nil
		case *r.N == 0:
			return timeOut{T: far}, nil
		}
		return timeOut{T: ok}, nil
	}, operators.Options{OnError: operators.ErrorColumn("err")})
	out, err := run(t, mem, op, in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"9999-12-31 00:00:00 | NULL | NULL",
		"NULL | NULL | m: field T: time 300000-01-01T00:00:00Z is out of the range of a timestamp column (int64 microseconds since 1970)",
		"9999-12-31 00:00:00 | NULL | NULL",
		"NULL | NULL | m: field TP: time 300000-01-01T00:00:00Z is out of the range of a timestamp column (int64 microseconds since 1970)",
	}
	if diff := cmp.Diff(want, out.rows); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The failed rows' values are null: under ErrorColumn every output column is nullable, or a
	// sink would read the nulls of a non-nullable column as zero values.
	s, err := op.OutputSchema(in.Schema())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range s.Fields() {
		if !f.Nullable {
			t.Errorf("output column %s is not nullable under ErrorColumn", f.Name)
		}
	}
}

// Select: a column name in backticks, an invalid alias, duplicate names.
func TestSelectQuotedNames(t *testing.T) {
	mem := checkedAlloc(t)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "my col", Type: arrow.PrimitiveTypes.Int64},
		{Name: "a`b", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	b.Field(0).(*array.Int64Builder).Append(1)
	b.Field(1).(*array.Int64Builder).Append(2)
	in := b.NewRecordBatch()
	b.Release()
	defer in.Release()
	op := operators.Select([]string{"`my col`", "`a``b` AS `x``y`", "`my col` AS z"}, operators.Options{})
	out, err := run(t, mem, op, in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"my col int64", "x`y int64", "z int64"}, out.schema); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"1 | 2 | 1"}, out.rows); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for item, want := range map[string]string{
		"`my col` AS 1bad": "invalid alias \"1bad\": an alias is a name of letters, digits and _ not starting with a digit, or any name in backticks (AS `1bad`)",
		"`nope`":           `no column "nope"`,
		"`my col` AS":      "\"`my col` AS\": AS is not followed by a name: write \"`my col` AS name\"",
	} {
		_, err := operators.Select([]string{item}, operators.Options{}).OutputSchema(schema)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Select(%s): %v; want %s", item, err, want)
		}
	}
	_, err = operators.Select([]string{"`my col`", "`my col`"}, operators.Options{}).OutputSchema(schema)
	if err == nil || !strings.Contains(err.Error(), `two columns named "my col"`) {
		t.Errorf("duplicates: %v", err)
	}
}

// Window keeps, with a null window, a row whose time is null because an earlier transform
// failed (it carries an error under ErrorColumn); other rows with a null time are dropped, as
// Spark's window() drops them.
func TestWindowKeepsErrorRows(t *testing.T) {
	mem := checkedAlloc(t)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "e", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	in, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(`[
		{"ts": null, "e": "cast ts to timestamp: \"bogus\" is not a valid timestamp"},
		{"ts": 1500, "e": null},
		{"ts": null, "e": null}]`))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Release()
	for _, tc := range []struct {
		slide    time.Duration
		windowed int // windows of the row at 1.5 s
	}{{0, 1}, {500 * time.Millisecond, 2}} {
		slide := tc.slide
		out, err := run(t, mem, operators.Window("ts", time.Second, slide, operators.Options{OnError: operators.ErrorColumn("e")}), in)
		if err != nil {
			t.Fatal(err)
		}
		var kept, windowed int
		for _, r := range out.rows {
			if strings.Contains(r, "bogus") {
				kept++
				if !strings.HasSuffix(r, "| NULL") {
					t.Errorf("slide %s: the error row %q has a window", slide, r)
				}
			} else {
				windowed++
			}
		}
		if kept != 1 || windowed != tc.windowed {
			t.Errorf("slide %s: rows %q; want the error row once and the timed row's windows", slide, out.rows)
		}
	}
}

// As in Spark, a struct field path selected or grouped by without AS is named by its last
// field; other expressions by their text, and a column whose name has a dot keeps it.
func TestFieldPathNames(t *testing.T) {
	geo := arrow.StructOf(arrow.Field{Name: "lat", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		arrow.Field{Name: "place", Type: arrow.StructOf(arrow.Field{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true}), Nullable: true})
	in := arrow.NewSchema([]arrow.Field{
		{Name: "geo", Type: geo, Nullable: true},
		{Name: "a.b", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	out, err := operators.Select([]string{"geo.lat", "geo.place.name", "geo.lat * 2.0", "a.b", "geo.lat AS x"}, operators.Options{}).OutputSchema(in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"lat", "name", "geo.lat * 2.0", "a.b", "x"}, arrowbatch.FieldNames(out)); diff != "" {
		t.Errorf("Select names (-want +got):\n%s", diff)
	}
	agg, err := operators.Aggregate([]string{"geo.place.name"}, []operators.Agg{operators.Count("*")}, operators.Options{}).OutputSchema(in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"name", "count(1)"}, arrowbatch.FieldNames(agg)); diff != "" {
		t.Errorf("GroupBy names (-want +got):\n%s", diff)
	}
}
