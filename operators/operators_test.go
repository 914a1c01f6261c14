package operators_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/expr"
	"github.com/sluicedev/sluice/operators"
)

func checkedAlloc(t *testing.T) *memory.CheckedAllocator {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// events is the schema of the test batches: Kinesis-like records with a JSON payload.
var events = arrow.NewSchema([]arrow.Field{
	{Name: "pk", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "data", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "line", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// eventRows: data holds {"id":1,"level":"info"}, {"id":2,"level":"error"}, not JSON, null.
const eventRows = `[
{"pk": "a", "data": "eyJpZCI6MSwibGV2ZWwiOiJpbmZvIn0=", "n": 4, "line": "the quick fox"},
{"pk": "b", "data": "eyJpZCI6MiwibGV2ZWwiOiJlcnJvciJ9", "n": 0, "line": ""},
{"pk": "c", "data": "bm90IGpzb24=", "n": -2, "line": "jumps"},
{"pk": null, "data": null, "n": null, "line": null}
]`

func eventBatch(t *testing.T, mem memory.Allocator) arrow.RecordBatch {
	t.Helper()
	rec, _, err := array.RecordFromJSON(mem, events, strings.NewReader(eventRows))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// output is what an operator emitted for one input batch, rendered.
type output struct {
	schema []string // "name type"
	rows   []string // "v1 | v2 | ..."
	count  int      // batches emitted
	same   bool     // whether the input batch itself was emitted
}

// run checks op's output schema against in's, processes in, and renders what it emits.
func run(t *testing.T, mem memory.Allocator, op operators.Operator, in arrow.RecordBatch) (output, error) {
	t.Helper()
	declared, err := op.OutputSchema(in.Schema())
	if err != nil {
		return output{}, err
	}
	var out output
	ctx := operators.WithAllocator(context.Background(), mem)
	err = op.Process(ctx, in, func(b arrow.RecordBatch) error {
		if declared != nil && !b.Schema().Equal(declared) {
			t.Errorf("%s emitted schema %s; OutputSchema said %s", op.Name(), b.Schema(), declared)
		}
		out.count++
		out.same = out.same || b == in
		out.schema = nil
		for _, f := range b.Schema().Fields() {
			out.schema = append(out.schema, f.Name+" "+f.Type.String())
		}
		for i := range int(b.NumRows()) {
			var cells []string
			for _, c := range b.Columns() {
				cells = append(cells, arrowbatch.FormatValue(c, i))
			}
			out.rows = append(out.rows, strings.Join(cells, " | "))
		}
		return nil
	})
	return out, err
}

func TestFilter(t *testing.T) {
	tests := []struct {
		cond string
		rows []string
		same bool // the input passes through untouched
	}{
		{`n > 0`, []string{`a | [7B 22 69 64 22 3A 31 2C 22 6C 65 76 65 6C 22 3A 22 69 6E 66 6F 22 7D] | 4 | the quick fox`}, false},
		{`isNull(n) || n >= -2`, []string{"a", "b", "c", "NULL"}, true},
		{`n > 100`, nil, false},
		{`pk in ["b", "c"] && line != ""`, []string{"c"}, false},
		{`string(data).contains("error")`, []string{"b"}, false},
		{`line.split(" ").size() > 1`, []string{"a"}, false}, // row-wise part
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			mem := checkedAlloc(t)
			in := eventBatch(t, mem)
			defer in.Release()
			out, err := run(t, mem, operators.Filter(tt.cond, operators.Options{}), in)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, r := range out.rows {
				keys = append(keys, strings.SplitN(r, " | ", 2)[0])
			}
			want := tt.rows
			if len(want) == 1 && strings.Contains(want[0], " | ") {
				if diff := cmp.Diff(want, out.rows); diff != "" {
					t.Errorf("rows (-want +got):\n%s", diff)
				}
			} else if diff := cmp.Diff(want, keys); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if out.same != tt.same {
				t.Errorf("input passed through: %v, want %v", out.same, tt.same)
			}
			if len(tt.rows) == 0 && out.count != 0 {
				t.Errorf("emitted %d empty batches", out.count)
			}
		})
	}
}

func TestFilterErrors(t *testing.T) {
	_, err := operators.Filter("n + 1", operators.Options{}).OutputSchema(events)
	if err == nil || !strings.Contains(err.Error(), "want bool") {
		t.Errorf("a non-bool condition: %v", err)
	}
	_, err = operators.Filter("size(dat) > 1", operators.Options{}).OutputSchema(events)
	var ee *expr.Error
	if !errors.As(err, &ee) || ee.Column != 6 {
		t.Errorf("a typo: %v; want an *expr.Error at column 6", err)
	}
	if s, err := operators.Filter("anything goes", operators.Options{}).OutputSchema(nil); s != nil || err != nil {
		t.Errorf("OutputSchema(nil) = %v, %v; want nil, nil (compiled at run time)", s, err)
	}
}

// TestLazySchema: with an input schema known only at run time, expressions compile on the
// first batch of each schema, and a bad expression fails Process.
func TestLazySchema(t *testing.T) {
	mem := checkedAlloc(t)
	in := eventBatch(t, mem)
	defer in.Release()
	op := operators.WithColumn("twice", "n * 2", operators.Options{})
	if s, err := op.OutputSchema(nil); s != nil || err != nil {
		t.Fatalf("OutputSchema(nil) = %v, %v", s, err)
	}
	ctx := operators.WithAllocator(context.Background(), mem)
	got := 0
	err := op.Process(ctx, in, func(b arrow.RecordBatch) error { got = int(b.NumCols()); return nil })
	if err != nil || got != 5 {
		t.Errorf("Process: %v, %d columns", err, got)
	}
	bad := operators.WithColumn("x", "nosuch + 1", operators.Options{})
	err = bad.Process(ctx, in, func(arrow.RecordBatch) error { return nil })
	var ee *expr.Error
	if !errors.As(err, &ee) {
		t.Errorf("Process with a bad expression: %v", err)
	}
}

// TestPolicies: a failed row fails the batch, is kept with its error, or is sent aside.
func TestPolicies(t *testing.T) {
	var mu sync.Mutex
	var side []string
	sideFn := func(_ context.Context, failed arrow.RecordBatch) error {
		mu.Lock()
		defer mu.Unlock()
		for i := range int(failed.NumRows()) {
			var cells []string
			for _, c := range failed.Columns() {
				cells = append(cells, arrowbatch.FormatValue(c, i))
			}
			side = append(side, strings.Join(cells, " | "))
		}
		return nil
	}
	const div = `"100 / n" (at 1:5): division by zero`
	const divGT = `"100 / n > 0" (at 1:5): division by zero`
	tests := []struct {
		name   string
		policy operators.ErrorPolicy
		op     func(o operators.Options) operators.Operator
		rows   []string
		side   []string
		err    string
	}{
		{"fail/withColumn", operators.FailBatch(), func(o operators.Options) operators.Operator {
			return operators.WithColumn("q", "100 / n", o)
		}, nil, nil, `expr "100 / n": row 1 (at 1:5): division by zero`},
		{"column/withColumn", operators.ErrorColumn("err"), func(o operators.Options) operators.Operator {
			return operators.WithColumn("q", "100 / n", o)
		}, []string{"a 25 NULL", "b NULL " + div, "c -50 NULL", "NULL NULL NULL"}, nil, ""},
		{"column/filter keeps failed rows", operators.ErrorColumn("err"), func(o operators.Options) operators.Operator {
			return operators.Filter("100 / n > 0", o)
		}, []string{"a NULL", "b " + divGT}, nil, ""},
		{"side/filter", operators.SideOutput(sideFn), func(o operators.Options) operators.Operator {
			return operators.Filter("100 / n > 0", o)
		}, []string{"a"}, []string{"b " + divGT}, ""},
		{"side/select", operators.SideOutput(sideFn), func(o operators.Options) operators.Operator {
			return operators.Select([]string{"pk", "100 / n AS q"}, o)
		}, []string{"a 25", "c -50", "NULL NULL"}, []string{"b " + div}, ""},
		{"fail/json", operators.FailBatch(), func(o operators.Options) operators.Operator {
			return operators.FromJSON("data", arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil), o)
		}, nil, nil, `row 2: json: invalid character 'o' in literal null (expecting 'u'); the document starts "not json"`},
		{"column/json", operators.ErrorColumn("err"), func(o operators.Options) operators.Operator {
			return operators.FromJSON("data", arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil), o)
		}, []string{"a 1 NULL", "b 2 NULL", "c NULL json: invalid character 'o' in literal null (expecting 'u')", "NULL NULL NULL"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := checkedAlloc(t)
			in := eventBatch(t, mem)
			defer in.Release()
			side = nil
			out, err := run(t, mem, tt.op(operators.Options{OnError: tt.policy}), in)
			if tt.err != "" {
				var re *operators.RowError
				if !errors.As(err, &re) || err.Error() != tt.err {
					t.Fatalf("error %v; want a *RowError %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Keep the first column, and the last two (the value and the error column).
			var got []string
			for _, r := range out.rows {
				cells := strings.Split(r, " | ")
				keep := []string{cells[0]}
				switch {
				case strings.HasPrefix(tt.name, "column/filter"):
					keep = append(keep, cells[len(cells)-1])
				case strings.HasPrefix(tt.name, "column/json"):
					keep = append(keep, cells[1], cells[len(cells)-1])
				case strings.HasPrefix(tt.name, "column"):
					keep = append(keep, cells[len(cells)-2], cells[len(cells)-1])
				case strings.HasPrefix(tt.name, "side/select"):
					keep = append(keep, cells[1])
				}
				got = append(got, strings.Join(keep, " "))
			}
			if diff := cmp.Diff(tt.rows, got); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			var gotSide []string
			for _, r := range side {
				cells := strings.Split(r, " | ")
				gotSide = append(gotSide, cells[0]+" "+cells[len(cells)-1])
			}
			if diff := cmp.Diff(tt.side, gotSide); diff != "" {
				t.Errorf("side output (-want +got):\n%s", diff)
			}
		})
	}
}

// TestErrorColumnChain: the messages of two operators accumulate in one error column, which
// follows the rows through a Select that does not name it.
func TestErrorColumnChain(t *testing.T) {
	mem := checkedAlloc(t)
	in := eventBatch(t, mem)
	defer in.Release()
	o := operators.Options{OnError: operators.ErrorColumn("errors")}
	ctx := operators.WithAllocator(context.Background(), mem)
	first := operators.WithColumn("q", "100 / n", o)
	second := operators.Select([]string{"pk", "q", "10 % n AS r"}, o)
	var rows []string
	err := first.Process(ctx, in, func(b arrow.RecordBatch) error {
		return second.Process(ctx, b, func(b arrow.RecordBatch) error {
			for i := range int(b.NumRows()) {
				rows = append(rows, arrowbatch.FormatValue(b.Column(0), i)+": "+arrowbatch.FormatValue(b.Column(3), i))
			}
			if got := arrowbatch.FieldNames(b.Schema()); !cmp.Equal(got, []string{"pk", "q", "r", "errors"}) {
				t.Errorf("columns %v", got)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a: NULL", `b: "100 / n" (at 1:5): division by zero; "10 % n" (at 1:4): modulus by zero`, "c: NULL", "NULL: NULL"}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The same policy twice, with a column of another type: reported by OutputSchema.
	bad := arrow.NewSchema([]arrow.Field{{Name: "errors", Type: arrow.PrimitiveTypes.Int64}}, nil)
	if _, err := operators.Filter("true", o).OutputSchema(bad); err == nil {
		t.Error("an error column of type int64 was accepted")
	}
	if _, err := operators.Filter("true", operators.Options{OnError: operators.ErrorColumn("")}).OutputSchema(events); err == nil {
		t.Error("ErrorColumn(\"\") was accepted")
	}
}

func TestProjections(t *testing.T) {
	tests := []struct {
		name   string
		op     operators.Operator
		schema []string
		first  string // the first row
		err    string
	}{
		{"select", operators.Select([]string{"pk", "size(data) AS bytes", "n * 2", "line as `the line`"}, operators.Options{}),
			[]string{"pk utf8", "bytes int64", "n * 2 int64", "the line utf8"}, "a | 23 | 8 | the quick fox", ""},
		{"select star", operators.Select([]string{"*", "n + 1 AS m"}, operators.Options{}),
			[]string{"pk utf8", "data binary", "n int64", "line utf8", "m int64"}, "", ""},
		{"select errors", operators.Select([]string{"nope", "size(dta)", "pk AS x", "n AS x"}, operators.Options{}),
			nil, "", "undeclared reference to 'nope'"},
		{"select duplicate", operators.Select([]string{"pk", "n AS pk"}, operators.Options{}), nil, "", `two columns named "pk"`},
		{"withColumn append", operators.WithColumn("body", "string(data)", operators.Options{}),
			[]string{"pk utf8", "data binary", "n int64", "line utf8", "body utf8"}, `a | [7B 22 69 64 22 3A 31 2C 22 6C 65 76 65 6C 22 3A 22 69 6E 66 6F 22 7D] | 4 | the quick fox | {"id":1,"level":"info"}`, ""},
		{"withColumn replace", operators.WithColumn("n", "n > 0", operators.Options{}),
			[]string{"pk utf8", "data binary", "n bool", "line utf8"}, "", ""},
		{"drop", operators.Drop("data", "nosuch", "line"), []string{"pk utf8", "n int64"}, "a | 4", ""},
		{"rename", operators.WithColumnRenamed("pk", "key"), []string{"key utf8", "data binary", "n int64", "line utf8"}, "", ""},
		{"rename missing", operators.WithColumnRenamed("nosuch", "x"), []string{"pk utf8", "data binary", "n int64", "line utf8"}, "", ""},
		{"cast binary", operators.Cast("data", "string", operators.Options{}),
			[]string{"pk utf8", "data utf8", "n int64", "line utf8"}, `a | {"id":1,"level":"info"} | 4 | the quick fox`, ""},
		{"cast int", operators.Cast("n", "string", operators.Options{}), []string{"pk utf8", "data binary", "n utf8", "line utf8"}, "", ""},
		{"cast bad type", operators.Cast("n", "varchar", operators.Options{}), nil, "", `unknown type "varchar"`},
		{"cast missing", operators.Cast("x", "int", operators.Options{}), nil, "", `no column "x"`},
		{"explode", operators.Explode("word", `line.split(" ")`, operators.Options{}),
			[]string{"pk utf8", "data binary", "n int64", "line utf8", "word utf8"}, "", ""},
		{"explode not a list", operators.Explode("word", `line`, operators.Options{}), nil, "", "Explode needs a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := checkedAlloc(t)
			in := eventBatch(t, mem)
			defer in.Release()
			out, err := run(t, mem, tt.op, in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v; want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.schema, out.schema); diff != "" {
				t.Errorf("schema (-want +got):\n%s", diff)
			}
			if tt.first != "" && (len(out.rows) == 0 || out.rows[0] != tt.first) {
				t.Errorf("first row %q, want %q", out.rows, tt.first)
			}
		})
	}
}

// TestSelectErrorsCollected: every bad item of a Select is reported, not only the first.
func TestSelectErrorsCollected(t *testing.T) {
	_, err := operators.Select([]string{"nope", "size(dta)"}, operators.Options{}).OutputSchema(events)
	if err == nil || !strings.Contains(err.Error(), "'nope'") || !strings.Contains(err.Error(), "'dta'") {
		t.Errorf("%v; want both bad items", err)
	}
}

// TestZeroCopy: columns passed through, and binary cast to string, share the input's buffers.
func TestZeroCopy(t *testing.T) {
	mem := checkedAlloc(t)
	in := eventBatch(t, mem)
	defer in.Release()
	ctx := operators.WithAllocator(context.Background(), mem)
	check := func(op operators.Operator, col int, from arrow.Array) {
		t.Helper()
		err := op.Process(ctx, in, func(b arrow.RecordBatch) error {
			got, want := b.Column(col).Data().Buffers()[2], from.Data().Buffers()[2]
			if got != want {
				t.Errorf("%s: column %d was copied", op.Name(), col)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check(operators.Select([]string{"line", "string(data) AS body"}, operators.Options{}), 0, in.Column(3))
	check(operators.Select([]string{"line", "string(data) AS body"}, operators.Options{}), 1, in.Column(1))
	check(operators.Cast("data", "string", operators.Options{}), 1, in.Column(1))
	check(operators.WithColumn("copy", "data.cast(\"string\")", operators.Options{}), 4, in.Column(1))
}

func TestCastFailures(t *testing.T) {
	mem := checkedAlloc(t)
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	in, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(`[{"s": "12"}, {"s": "x"}, {"s": null}, {"s": "-4"}]`))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Release()
	out, err := run(t, mem, operators.Cast("s", "bigint", operators.Options{OnError: operators.ErrorColumn("err")}), in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"12 | NULL", `NULL | cast s to bigint: "x" is not a base-10 integer`, "NULL | NULL", "-4 | NULL"}
	if diff := cmp.Diff(want, out.rows); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	_, err = run(t, mem, operators.Cast("s", "bigint", operators.Options{}), in)
	var re *operators.RowError
	if !errors.As(err, &re) || re.Row != 1 || re.Failed != 1 {
		t.Errorf("FailBatch: %v", err)
	}
}

func TestExplode(t *testing.T) {
	tests := []struct {
		name   string
		op     operators.Operator
		rows   []string // pk and the element
		policy operators.ErrorPolicy
	}{
		{"words", operators.Explode("word", `line.split(" ")`, operators.Options{}),
			[]string{"a the", "a quick", "a fox", "b ", "c jumps"}, operators.FailBatch()},
		{"empty lists", operators.Explode("x", `n > 0 ? [n, n + 1] : []`, operators.Options{}),
			[]string{"a 4", "a 5"}, operators.FailBatch()},
		{"replace", operators.Explode("line", `line.split(" ").filter(w, size(w) > 3)`, operators.Options{}),
			[]string{"a quick", "c jumps"}, operators.FailBatch()},
		{"failures kept", operators.Explode("q", `[100 / n]`, operators.Options{OnError: operators.ErrorColumn("err")}),
			[]string{"a 25", "b NULL", "c -50"}, operators.ErrorColumn("err")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := checkedAlloc(t)
			in := eventBatch(t, mem)
			defer in.Release()
			out, err := run(t, mem, tt.op, in)
			if err != nil {
				t.Fatal(err)
			}
			pos := len(out.schema) - 1
			if tt.name == "replace" {
				pos = 3
			} else if tt.name == "failures kept" {
				pos = len(out.schema) - 2
			}
			var got []string
			for _, r := range out.rows {
				cells := strings.Split(r, " | ")
				got = append(got, cells[0]+" "+cells[pos])
			}
			if diff := cmp.Diff(tt.rows, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromJSON(t *testing.T) {
	mem := checkedAlloc(t)
	in := eventBatch(t, mem)
	defer in.Release()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "level", Type: arrow.BinaryTypes.String},
	}, nil)
	out, err := run(t, mem, operators.FromJSON("data", schema, operators.Options{OnError: operators.SideOutput(func(context.Context, arrow.RecordBatch) error { return nil })}), in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"pk utf8", "id int64", "level utf8", "n int64", "line utf8"}, out.schema); diff != "" {
		t.Errorf("schema (-want +got):\n%s", diff)
	}
	want := []string{"a | 1 | info | 4 | the quick fox", "b | 2 | error | 0 | ", "NULL | NULL | NULL | NULL | NULL"}
	if diff := cmp.Diff(want, out.rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		col    string
		schema *arrow.Schema
		want   string
	}{
		{"n", schema, "must be string or binary"},
		{"nosuch", schema, `no column "nosuch"`},
		{"data", arrow.NewSchema([]arrow.Field{{Name: "pk", Type: arrow.BinaryTypes.String}}, nil), `"pk" is already a column`},
		{"data", nil, "at least one field"},
	} {
		_, err := operators.FromJSON(tt.col, tt.schema, operators.Options{}).OutputSchema(events)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("FromJSON(%s): %v; want %q", tt.col, err, tt.want)
		}
	}
}

// Event is Map's input: fields by name, by tag, nullable through pointers.
type Event struct {
	Key     *string `sluice:"pk"`
	N       int64   `sluice:"n"`
	Line    string  `sluice:"line"`
	Ignored string  `sluice:"-"`
	hidden  int     // unexported: not a column
}

var _ = Event{hidden: 0}

// Summary is Map's output.
type Summary struct {
	Key    string
	Words  int32 `sluice:"words"`
	Ratio  *float64
	At     time.Time
	Digest []byte
}

func TestMap(t *testing.T) {
	mem := checkedAlloc(t)
	in := eventBatch(t, mem)
	defer in.Release()
	fn := func(_ context.Context, e Event) (Summary, error) {
		if e.N < 0 {
			return Summary{}, fmt.Errorf("negative %d", e.N)
		}
		s := Summary{Words: int32(len(strings.Fields(e.Line))), At: time.Unix(1700000000, 0).UTC()}
		if e.Key != nil {
			s.Key = *e.Key
			s.Digest = []byte(*e.Key)
		}
		if e.N != 0 {
			r := 1 / float64(e.N)
			s.Ratio = &r
		}
		return s, nil
	}
	op := operators.Map("summarize", fn, operators.Options{OnError: operators.ErrorColumn("err")})
	out, err := run(t, mem, op, in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Key utf8", "words int32", "Ratio float64", "At timestamp[us, tz=UTC]", "Digest binary", "err utf8"}, out.schema); diff != "" {
		t.Errorf("schema (-want +got):\n%s", diff)
	}
	want := []string{
		"a | 3 | 0.25 | 2023-11-14 22:13:20 | [61] | NULL",
		"b | 0 | NULL | 2023-11-14 22:13:20 | [62] | NULL",
		"NULL | NULL | NULL | NULL | NULL | summarize: negative -2",
		" | 0 | NULL | 2023-11-14 22:13:20 | NULL | NULL",
	}
	if diff := cmp.Diff(want, out.rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}

	panicky := operators.Map("", func(context.Context, Event) (Summary, error) { panic("oops") }, operators.Options{})
	if _, err := run(t, mem, panicky, in); err == nil || !strings.Contains(err.Error(), "panicked: oops") {
		t.Errorf("a panicking function: %v", err)
	}
	type wrong struct {
		N string `sluice:"n"`
	}
	bad := operators.Map("", func(context.Context, wrong) (Summary, error) { return Summary{}, nil }, operators.Options{})
	if _, err := bad.OutputSchema(events); err == nil || !strings.Contains(err.Error(), `cannot hold column "n" of type int64`) {
		t.Errorf("a field of the wrong type: %v", err)
	}
	type unsupported struct{ M map[string]int }
	if _, err := operators.Map("", func(context.Context, unsupported) (Summary, error) { return Summary{}, nil }, operators.Options{}).OutputSchema(nil); err == nil {
		t.Error("a map field was accepted")
	}
}
