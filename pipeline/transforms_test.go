package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sluicedev/sluice/internal/testkit"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/expr"
	"github.com/sluicedev/sluice/operators"
	"github.com/sluicedev/sluice/pipeline"
)

// Keep the rows whose value is a multiple of 3.
func ExampleStream_Filter() {
	ctx := context.Background()
	p := pipeline.New(quiet)
	defer p.Close(ctx)
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "10").Load().
		Filter("value % 3 == 0").
		WriteStream().Format("memory").QueryName("threes").Trigger(pipeline.AvailableNow()).
		Start(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = q.AwaitTermination(ctx)
	table, _ := p.MemoryTable("threes")
	for _, row := range table.Rows() {
		fmt.Print(row["value"], " ")
	}
	fmt.Println()
	// Output: 0 3 6 9
}

// Add a column computed from the others.
func ExampleStream_WithColumn() {
	ctx := context.Background()
	p := pipeline.New(quiet)
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "4").Load().
		WithColumn("square", "value * value").
		WithColumn("label", `value % 2 == 0 ? "even" : "odd"`).
		Drop("timestamp").
		WriteStream().Format("console").Trigger(pipeline.AvailableNow()).
		Start(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = q.AwaitTermination(ctx)
	// Output:
	// -------------------------------------------
	// Batch: 0
	// -------------------------------------------
	// +-----+------+-----+
	// |value|square|label|
	// +-----+------+-----+
	// |    0|     0| even|
	// |    1|     1|  odd|
	// |    2|     4| even|
	// |    3|     9|  odd|
	// +-----+------+-----+
}

// Project columns and expressions; a failure goes to an error column instead of failing the
// query.
func ExampleStream_Select() {
	ctx := context.Background()
	p := pipeline.New(quiet)
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "3").Load().
		OnError(pipeline.ErrorColumn("error")).
		Select("value AS n", "12 / value AS share", `string(value) + "!" AS shout`).
		WriteStream().Format("console").Option("truncate", "false").Trigger(pipeline.AvailableNow()).
		Start(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = q.AwaitTermination(ctx)
	// Output:
	// -------------------------------------------
	// Batch: 0
	// -------------------------------------------
	// +---+-----+-----+---------------------------------------+
	// |n  |share|shout|error                                  |
	// +---+-----+-----+---------------------------------------+
	// |0  |NULL |0!   |"12 / value" (at 1:4): division by zero|
	// |1  |12   |1!   |NULL                                   |
	// |2  |6    |2!   |NULL                                   |
	// +---+-----+-----+---------------------------------------+
}

// TestTransformsValidatedAtStart: every bad expression of a query is reported by Start, with
// its position, before any I/O.
func TestTransformsValidatedAtStart(t *testing.T) {
	p := pipeline.New(pipeline.WithLogger(testkit.Logger(t)))
	_, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "1").Load().
		Filter("valu > 3").
		WithColumn("x", "value * 2").
		Select("value", "timestamp.nosuch()", "x +").
		WriteStream().Format("console").Start(context.Background())
	var ve *pipeline.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Start: %v; want a *ValidationError", err)
	}
	// Collect the *expr.Errors of the whole error tree.
	var exprErrs []string
	var walk func(err error)
	walk = func(err error) {
		if ee, ok := err.(*expr.Error); ok {
			exprErrs = append(exprErrs, fmt.Sprintf("%s at %d:%d", ee.Expr, ee.Line, ee.Column))
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	want := []string{"valu > 3 at 1:1", "timestamp.nosuch() at 1:17", "x + at 1:4"}
	if diff := cmp.Diff(want, exprErrs); diff != "" {
		t.Errorf("compile errors (-want +got):\n%s\nfull error:\n%v", diff, err)
	}
}

// TestTransformsExplain: the plan names each transform, its error policy and the functions its
// expressions call.
func TestTransformsExplain(t *testing.T) {
	expr.Register(expr.Func("explainTestShout", func(s string) string { return strings.ToUpper(s) }))
	p := pipeline.New(pipeline.WithLogger(testkit.Logger(t)))
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "2").Load().
		OnError(pipeline.ErrorColumn("err")).
		Filter("value >= 0").
		Select("value", `explainTestShout(string(value)) AS loud`).
		WithColumnRenamed("loud", "LOUD").
		WriteStream().Format("memory").QueryName("explain").Trigger(pipeline.AvailableNow()).
		Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := await(t, q); err != nil {
		t.Fatal(err)
	}
	plan := q.Explain()
	for _, want := range []string{
		"+- WithColumnRenamed(loud -> LOUD)\n",
		"+- Select(value, explainTestShout(string(value)) AS loud) [functions: explainTestShout]\n",
		"+- Filter(value >= 0)\n",
		"+- OnError(ErrorColumn(err))\n",
		"LOUD: utf8 (nullable = true)\nerr: utf8 (nullable = true)\n",
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("Explain lacks %q:\n%s", want, plan)
		}
	}
}

// TestTransformsJSON parses JSON payloads, filters and projects them, with a malformed record
// sent aside, and checks Arrow memory.
func TestTransformsJSON(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)))
	defer p.Close(context.Background())
	var mu sync.Mutex
	var aside []string
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "level", Type: arrow.BinaryTypes.String},
	}, nil)
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "8").Load().
		OnError(pipeline.SideOutput(func(_ context.Context, failed arrow.RecordBatch) error {
			mu.Lock()
			defer mu.Unlock()
			col := failed.Column(int(failed.NumCols()) - 1)
			for i := range col.Len() {
				aside = append(aside, arrowbatch.FormatValue(col, i))
			}
			return nil
		})).
		// Every fifth record is not JSON.
		WithColumn("data", `value % 5 == 4 ? b"oops" : bytes("{\"id\": " + string(value) + ", \"level\": \"" + (value % 2 == 0 ? "info" : "error") + "\"}")`).
		FromJSON("data", schema).
		Filter(`level == "error"`).
		Select("id", "value * 10 AS tenfold").
		WriteStream().Format("memory").QueryName("json").Trigger(pipeline.AvailableNow()).
		Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := await(t, q); err != nil {
		t.Fatal(err)
	}
	table, _ := p.MemoryTable("json")
	var got []string
	for _, row := range table.Rows() {
		got = append(got, fmt.Sprint(row["id"], "/", row["tenfold"]))
	}
	if diff := cmp.Diff([]string{"1/10", "3/30", "5/50", "7/70"}, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"json: invalid character 'o' looking for beginning of value"}, aside); diff != "" {
		t.Errorf("side output (-want +got):\n%s", diff)
	}
}

// TestTransformsFailBatch: by default a failing row fails the batch, naming the row.
func TestTransformsFailBatch(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)))
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "5").Load().
		WithColumn("inverse", "10 / (value - 2)").
		WriteStream().Format("console").Trigger(pipeline.AvailableNow()).
		Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = await(t, q)
	var be *pipeline.BatchError
	var re *operators.RowError
	var ee *expr.EvalError
	if !errors.As(err, &be) || !errors.As(err, &re) || !errors.As(err, &ee) {
		t.Fatalf("query error %v; want a BatchError with a RowError and an EvalError", err)
	}
	if re.Row != 2 || ee.Column != 4 || !strings.Contains(be.Stage, "WithColumn(inverse = 10 / (value - 2))") {
		t.Errorf("row %d, column %d, stage %q", re.Row, ee.Column, be.Stage)
	}
}

// Word is a row of TestTransformsMapExplode.
type Word struct {
	Word  string `sluice:"word"`
	Value int64  `sluice:"value"`
}

// Tagged is the output of TestTransformsMapExplode.
type Tagged struct {
	Tag    string `sluice:"tag"`
	Length int    `sluice:"length"`
}

// TestTransformsMapExplode splits lines into words, then maps each word with a Go function.
func TestTransformsMapExplode(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)))
	defer p.Close(context.Background())
	s := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "3").Load().
		WithColumn("line", `["to be", "or not", "to be"][value]`).
		Explode("word", `line.split(" ")`)
	q, err := pipeline.Map(s, func(_ context.Context, w Word) (Tagged, error) {
		return Tagged{Tag: fmt.Sprintf("%d:%s", w.Value, w.Word), Length: len(w.Word)}, nil
	}).WriteStream().Format("memory").QueryName("words").Trigger(pipeline.AvailableNow()).
		Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := await(t, q); err != nil {
		t.Fatal(err)
	}
	table, _ := p.MemoryTable("words")
	var got []string
	for _, row := range table.Rows() {
		got = append(got, fmt.Sprint(row["tag"], "=", row["length"]))
	}
	want := []string{"0:to=2", "0:be=2", "1:or=2", "1:not=3", "2:to=2", "2:be=2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !strings.Contains(q.Explain(), "Map(pipeline_test.Word -> pipeline_test.Tagged)") {
		t.Errorf("Explain:\n%s", q.Explain())
	}
}

// TestTransformsErrorRowsReachSink: under ErrorColumn, a row that failed in one transform is
// not dropped by a later Filter (whose condition is null for it) or Explode.
func TestTransformsErrorRowsReachSink(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)))
	defer p.Close(context.Background())
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "3").Load().
		OnError(pipeline.ErrorColumn("e")).WithColumn("x", "10/value").Filter("x > 0").
		Explode("w", "x > 5 ? [x] : []").
		WriteStream().Format("memory").QueryName("carried").Trigger(pipeline.AvailableNow()).
		Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := await(t, q); err != nil {
		t.Fatal(err)
	}
	table, _ := p.MemoryTable("carried")
	var got []string
	for _, row := range table.Rows() {
		got = append(got, fmt.Sprint(row["value"], " ", row["w"], " ", row["e"]))
	}
	want := []string{`0 <nil> "10/value" (at 1:3): division by zero`, "1 10 <nil>"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
