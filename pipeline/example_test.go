package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

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
