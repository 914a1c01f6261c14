// Command filesinkcrash runs a rate → MapBatch → parquet query for the file sink's
// TestSIGKILLRestart: the test kills it with SIGKILL at random moments and restarts it on the
// same checkpoint and output path, then checks that the committed files hold every row exactly
// once.
//
// The output path is a local directory or s3://bucket/prefix; for S3 the -endpoint, -region,
// -access-key, -secret-key and -path-style flags become the sink's endpoint, region,
// awsAccessKey, awsSecretKey and pathStyleAccess options (only those given are set).
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
	var s3 s3Flags
	flag.StringVar(&s3.endpoint, "endpoint", "", "S3 endpoint, e.g. http://127.0.0.1:9000 (S3 output only)")
	flag.StringVar(&s3.region, "region", "", "S3 region (S3 output only)")
	flag.StringVar(&s3.accessKey, "access-key", "", "AWS access key ID (S3 output only)")
	flag.StringVar(&s3.secretKey, "secret-key", "", "AWS secret access key (S3 output only)")
	flag.BoolVar(&s3.pathStyle, "path-style", false, "address S3 buckets by path, as s3rver needs (S3 output only)")
	flag.Parse()
	if err := run(*cp, *out, *format, *availableNow, s3); err != nil {
		fmt.Fprintln(os.Stderr, "crashprog:", err)
		os.Exit(1)
	}
}

// s3Flags are the S3 connection flags; each one given becomes a file sink option.
type s3Flags struct {
	endpoint, region, accessKey, secretKey string
	pathStyle                              bool
}

// options returns the file sink options of the flags that were given, keyed by option name.
func (f s3Flags) options() map[string]string {
	opts := map[string]string{}
	for key, v := range map[string]string{
		"endpoint": f.endpoint, "region": f.region, "awsAccessKey": f.accessKey, "awsSecretKey": f.secretKey,
	} {
		if v != "" {
			opts[key] = v
		}
	}
	if f.pathStyle {
		opts["pathStyleAccess"] = "true"
	}
	return opts
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

func run(cp, out, format string, availableNow bool, s3 s3Flags) error {
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
		Options(s3.options()).
		Option("checkpointLocation", cp).
		Trigger(trigger).
		Start(ctx)
	if err != nil {
		return err
	}
	fmt.Println("started") // the test waits for this line before it may kill
	return q.AwaitTermination(context.Background())
}
