// Command filesinkcrash runs a rate → MapBatch → parquet query for the file sink's
// TestSIGKILLRestart: the test kills it with SIGKILL at random moments and restarts it on the
// same checkpoint and output path, then checks that the committed files hold every row exactly
// once.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedev/sluice/operators"
	"github.com/sluicedev/sluice/pipeline"
	_ "github.com/sluicedev/sluice/sinks/file"
)

// schema is the rate source's schema plus bucket = value % 3, the partition column.
var schema = arrow.NewSchema([]arrow.Field{
	{Name: "timestamp", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	{Name: "value", Type: arrow.PrimitiveTypes.Int64},
	{Name: "bucket", Type: arrow.PrimitiveTypes.Int64},
}, nil)

func main() {
	cp := flag.String("checkpoint", "", "checkpoint directory")
	out := flag.String("out", "", "output path")
	format := flag.String("format", "parquet", "parquet or json")
	availableNow := flag.Bool("available-now", false, "process what is available, then exit")
	flag.Parse()
	if err := run(*cp, *out, *format, *availableNow); err != nil {
		fmt.Fprintln(os.Stderr, "crashprog:", err)
		os.Exit(1)
	}
}

func addBucket(ctx context.Context, in arrow.RecordBatch) (arrow.RecordBatch, error) {
	values := in.Column(1).(*array.Int64)
	b := array.NewInt64Builder(operators.Allocator(ctx))
	defer b.Release()
	for i := range values.Len() {
		b.Append(values.Value(i) % 3)
	}
	bucket := b.NewInt64Array()
	defer bucket.Release()
	return array.NewRecordBatch(schema, []arrow.Array{in.Column(0), in.Column(1), bucket}, in.NumRows()), nil
}

func run(cp, out, format string, availableNow bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	trigger := pipeline.ProcessingTime(10 * time.Millisecond)
	if availableNow {
		trigger = pipeline.AvailableNow()
	}
	p := pipeline.New(pipeline.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))))
	q, err := p.ReadStream().Format("rate").
		Option("rowsPerSecond", "3000").Option("maxRowsPerBatch", "400").Option("numPartitions", "2").Load().
		MapBatch(addBucket, schema).
		WriteStream().Format(format).
		Option("path", out).
		Option("partitionBy", "bucket").
		Option("maxRecordsPerFile", "40").
		Option("checkpointLocation", cp).
		Trigger(trigger).
		Start(ctx)
	if err != nil {
		return err
	}
	fmt.Println("started") // the test waits for this line before it may kill
	return q.AwaitTermination(context.Background())
}
