package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"

	"github.com/sluicedev/sluice/operators"
	"github.com/sluicedev/sluice/pipeline"
)

var quiet = pipeline.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

// Read three deterministic rows and print them with the console sink.
func Example() {
	ctx := context.Background()
	p := pipeline.New(quiet)
	q, err := p.ReadStream().
		Format("rate-micro-batch").
		Option("rowsPerBatch", "3").
		Option("startTimestamp", "1700000000000").
		Load().
		WriteStream().
		Format("console").
		Trigger(pipeline.AvailableNow()).
		Start(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := q.AwaitTermination(ctx); err != nil {
		fmt.Println(err)
	}
	// Output:
	// -------------------------------------------
	// Batch: 0
	// -------------------------------------------
	// +-------------------+-----+
	// |          timestamp|value|
	// +-------------------+-----+
	// |2023-11-14 22:13:20|    0|
	// |2023-11-14 22:13:20|    1|
	// |2023-11-14 22:13:20|    2|
	// +-------------------+-----+
}

// Transform whole Arrow batches with a Go function and collect the result in a memory table.
func ExampleStream_MapBatch() {
	ctx := context.Background()
	p := pipeline.New(quiet)
	defer p.Close(ctx)
	double := func(ctx context.Context, in arrow.RecordBatch) (arrow.RecordBatch, error) {
		// Keep rows with an even value.
		values := in.Column(1).(*array.Int64)
		mask := array.NewBooleanBuilder(operators.Allocator(ctx))
		defer mask.Release()
		for i := 0; i < values.Len(); i++ {
			mask.Append(values.Value(i)%2 == 0)
		}
		m := mask.NewArray()
		defer m.Release()
		return compute.FilterRecordBatch(ctx, in, m, compute.DefaultFilterOptions())
	}
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "10").Load().
		MapBatch(double).
		WriteStream().Format("memory").QueryName("evens").
		Trigger(pipeline.AvailableNow()).
		Start(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = q.AwaitTermination(ctx)
	table, _ := p.MemoryTable("evens")
	for _, row := range table.Rows() {
		fmt.Print(row["value"], " ")
	}
	fmt.Println()
	// Output: 0 2 4 6 8
}

// Write each micro-batch with your own code. The batch ID lets the target deduplicate: a batch
// replayed after a failure has the same ID and the same rows.
func ExampleDataStreamWriter_ForeachBatch() {
	ctx := context.Background()
	p := pipeline.New(quiet)
	checkpointDir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(checkpointDir)
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "4").Load().
		WriteStream().
		ForeachBatch(func(ctx context.Context, batch arrow.RecordBatch, batchID int64) error {
			fmt.Printf("batch %d: %d rows\n", batchID, batch.NumRows())
			return nil
		}).
		Option("checkpointLocation", checkpointDir).
		Trigger(pipeline.AvailableNow()).
		Start(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = q.AwaitTermination(ctx)
	fmt.Println(q.LastProgress().Sources[0].NumInputRows, "rows read")
	// Output:
	// batch 0: 4 rows
	// 4 rows read
}

// Start reports every problem with a query at once, before any I/O.
func ExampleValidationError() {
	p := pipeline.New(quiet)
	_, err := p.ReadStream().Format("rate").Option("rowsPerSecnd", "10").Load().
		WriteStream().Format("console").OutputMode("complete").
		Start(context.Background())
	fmt.Println(err)
	// Output:
	// sluice: invalid query: 2 problems:
	//   - rate source: option "rowsPerSecnd": unknown option (did you mean "rowsPerSecond"?); known options: rowsPerSecond, rampUpTime, numPartitions, maxRowsPerBatch
	//   - output mode complete is not supported when there are no streaming aggregations on the stream (use append or update)
}

// Count rows per key across micro-batches: each batch of the rate-micro-batch source adds 10
// rows, and complete mode prints every group's running count.
func ExampleGroupedStream_Count() {
	ctx := context.Background()
	p := pipeline.New(quiet)
	dir, _ := os.MkdirTemp("", "sluice-example-")
	defer os.RemoveAll(dir)
	for range 2 { // two runs on one checkpoint: the counts carry on
		q, err := p.ReadStream().
			Format("rate-micro-batch").
			Option("rowsPerBatch", "10").
			Load().
			GroupBy("value % 3 AS key").
			Count().
			WriteStream().
			OutputMode("complete").
			ForeachBatch(func(_ context.Context, b arrow.RecordBatch, id int64) error {
				keys, counts := b.Column(0).(*array.Int64), b.Column(1).(*array.Int64)
				for i := range int(b.NumRows()) {
					fmt.Printf("batch %d: key %d count %d\n", id, keys.Value(i), counts.Value(i))
				}
				return nil
			}).
			Option("checkpointLocation", dir).
			Trigger(pipeline.Once()).
			Start(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		if err := q.AwaitTermination(ctx); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// batch 0: key 0 count 4
	// batch 0: key 1 count 3
	// batch 0: key 2 count 3
	// batch 1: key 0 count 7
	// batch 1: key 1 count 7
	// batch 1: key 2 count 6
}

// ForeachTable hands over each micro-batch without a copy: its chunks are the Arrow batches
// the query produced.
func ExampleDataStreamWriter_ForeachTable() {
	ctx := context.Background()
	p := pipeline.New(quiet)
	checkpointDir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(checkpointDir)
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "6").Load().
		WriteStream().
		ForeachTable(func(ctx context.Context, table arrow.Table, batchID int64) error {
			fmt.Printf("batch %d: %d rows, columns %d\n", batchID, table.NumRows(), table.NumCols())
			return nil
		}).
		Option("checkpointLocation", checkpointDir).
		Trigger(pipeline.AvailableNow()).
		Start(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = q.AwaitTermination(ctx)
	// Output:
	// batch 0: 6 rows, columns 2
}
