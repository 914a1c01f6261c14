package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedev/sluice/pipeline"
)

// onceRuns runs the query built by w once per run with Trigger.Once on one checkpoint, so that
// each run adds one micro-batch of the rate-micro-batch source.
func onceRuns(runs int, w func(dir string) *pipeline.DataStreamWriter) {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "sluice-example-")
	defer os.RemoveAll(dir)
	for range runs {
		q, err := w(dir).Option("checkpointLocation", dir).Trigger(pipeline.Once()).Start(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		if err := q.AwaitTermination(ctx); err != nil {
			fmt.Println(err)
			return
		}
	}
}

// printRows prints each row of a batch as its columns' values.
func printRows(_ context.Context, b arrow.RecordBatch, id int64) error {
	for i := range int(b.NumRows()) {
		vals := make([]string, b.NumCols())
		for c, col := range b.Columns() {
			vals[c] = b.ColumnName(c) + "=" + col.ValueStr(i)
		}
		fmt.Printf("batch %d: %s\n", id, strings.Join(vals, " "))
	}
	return nil
}

// Several aggregates per group; complete mode emits every group after each batch.
func ExampleGroupedStream_Agg() {
	p := pipeline.New(quiet)
	onceRuns(2, func(string) *pipeline.DataStreamWriter {
		return p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "4").Load().
			GroupBy("value % 2 AS parity").
			Agg(pipeline.Count("*"), pipeline.Sum("value"), pipeline.Avg("value").As("mean"), pipeline.Max("value")).
			WriteStream().OutputMode("complete").ForeachBatch(printRows)
	})
	// Output:
	// batch 0: parity=0 count(1)=2 sum(value)=2 mean=1 max(value)=2
	// batch 0: parity=1 count(1)=2 sum(value)=4 mean=2 max(value)=3
	// batch 1: parity=0 count(1)=4 sum(value)=12 mean=3 max(value)=6
	// batch 1: parity=1 count(1)=4 sum(value)=16 mean=4 max(value)=7
}

// Count rows per two-second window of event time. The rate-micro-batch source's batch i has
// event time i seconds; update mode emits the windows each batch changed.
func ExampleStream_Window() {
	p := pipeline.New(quiet)
	onceRuns(3, func(string) *pipeline.DataStreamWriter {
		return p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "3").Load().
			WithWatermark("timestamp", 10*time.Second).
			Window("timestamp", 2*time.Second).
			GroupBy("window").Count().
			WriteStream().OutputMode("update").ForeachBatch(printRows)
	})
	// Output:
	// batch 0: window={"end":"1970-01-01T00:00:02Z","start":"1970-01-01T00:00:00Z"} count=3
	// batch 1: window={"end":"1970-01-01T00:00:02Z","start":"1970-01-01T00:00:00Z"} count=6
	// batch 2: window={"end":"1970-01-01T00:00:04Z","start":"1970-01-01T00:00:02Z"} count=3
}

// In append mode a window is emitted once, when the watermark (the latest event time seen,
// minus the delay, as of the batch before) has passed its end: the window [0 s, 2 s) is final
// in batch 3, which runs with the watermark batch 2 computed (2 s).
func ExampleStream_WithWatermark() {
	p := pipeline.New(quiet)
	onceRuns(4, func(string) *pipeline.DataStreamWriter {
		return p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "3").Load().
			WithWatermark("timestamp", 0).
			Window("timestamp", 2*time.Second).
			GroupBy("window").Count().
			WriteStream().OutputMode("append").ForeachBatch(printRows)
	})
	// Output:
	// batch 3: window={"end":"1970-01-01T00:00:02Z","start":"1970-01-01T00:00:00Z"} count=6
}

// Keep the first row of each key across batches.
func ExampleStream_DropDuplicates() {
	p := pipeline.New(quiet)
	onceRuns(2, func(string) *pipeline.DataStreamWriter {
		return p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "4").Load().
			WithColumn("key", "value % 5").
			Select("value", "key").
			DropDuplicates("key").
			WriteStream().ForeachBatch(printRows)
	})
	// Output:
	// batch 0: value=0 key=0
	// batch 0: value=1 key=1
	// batch 0: value=2 key=2
	// batch 0: value=3 key=3
	// batch 1: value=4 key=4
}

// Parse a JSON string column into typed columns.
func ExampleStream_FromJSON() {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "user", Type: arrow.BinaryTypes.String},
		{Name: "clicks", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	p := pipeline.New(quiet)
	onceRuns(1, func(string) *pipeline.DataStreamWriter {
		return p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "3").Load().
			WithColumn("doc", `'{"user": "u' + string(value) + '", "clicks": ' + string(value * 10) + '}'`).
			FromJSON("doc", schema).
			Select("user", "clicks").
			WriteStream().ForeachBatch(printRows)
	})
	// Output:
	// batch 0: user=u0 clicks=0
	// batch 0: user=u1 clicks=10
	// batch 0: user=u2 clicks=20
}

// Map rows to Go structs: the fields name their columns, and the mapping is built once.
func ExampleMap() {
	type in struct {
		Value int64 `sluice:"value"`
	}
	type out struct {
		Value  int64  `sluice:"value"`
		Square int64  `sluice:"square"`
		Label  string `sluice:"label"`
	}
	p := pipeline.New(quiet)
	onceRuns(1, func(string) *pipeline.DataStreamWriter {
		s := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "3").Load()
		return pipeline.Map(s, func(_ context.Context, r in) (out, error) {
			return out{Value: r.Value, Square: r.Value * r.Value, Label: fmt.Sprintf("#%d", r.Value)}, nil
		}).WriteStream().ForeachBatch(printRows)
	})
	// Output:
	// batch 0: value=0 square=0 label=#0
	// batch 0: value=1 square=1 label=#1
	// batch 0: value=2 square=4 label=#2
}
