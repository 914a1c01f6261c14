// Command kinesis-to-parquet is an ETL query: it reads a Kinesis stream, adds a day column
// with a Go MapBatch transform, and writes Parquet files partitioned by day, exactly once,
// with the tuning the Spark connector recommends for ETL into long-term storage (see
// README.md).
//
//	go run ./examples/kinesis-to-parquet -endpoint http://127.0.0.1:4567 -stream demo \
//		-produce 2000 -path /tmp/events -checkpoint /tmp/events-checkpoint -available-now
//
// With -produce N it first creates the stream (if needed) and puts N sample JSON events into
// it, with a second Sluice query: rate-micro-batch → MapBatch → the Kinesis sink. Without
// -endpoint it talks to AWS with the default credential chain; -path may be s3://bucket/prefix.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedev/sluice/operators"
	"github.com/sluicedev/sluice/pipeline"
	filesink "github.com/sluicedev/sluice/sinks/file"
	_ "github.com/sluicedev/sluice/sinks/kinesis" // Format("kinesis") for -produce
	"github.com/sluicedev/sluice/sources/kinesis"
)

func main() {
	var (
		endpoint     = flag.String("endpoint", os.Getenv("SLUICE_KINESIS_ENDPOINT"), "Kinesis endpoint, e.g. http://127.0.0.1:4567 (default $SLUICE_KINESIS_ENDPOINT; empty: AWS)")
		stream       = flag.String("stream", "sluice-etl-demo", "stream to read")
		region       = flag.String("region", envOr("AWS_REGION", "us-east-1"), "AWS region")
		path         = flag.String("path", "", "output directory or s3://bucket/prefix (required)")
		checkpoint   = flag.String("checkpoint", "", "checkpoint directory (required)")
		trigger      = flag.Duration("trigger", 5*time.Minute, "trigger interval: 5-10 minutes makes few, large files")
		fetchDur     = flag.String("max-fetch-duration", "1m", "maxFetchDuration: how long prefetched data is buffered into large blocks")
		fetchBuf     = flag.String("fetch-buffer-size", "2gb", "fetchBufferSize: prefetched bytes that may wait between triggers")
		availableNow = flag.Bool("available-now", false, "process what is in the stream now, then stop")
		produce      = flag.Int("produce", 0, "create the stream if needed and put this many sample events into it first")
	)
	flag.Parse()
	log.SetFlags(0)
	if *path == "" || *checkpoint == "" {
		log.Fatal("give -path and -checkpoint")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := pipeline.New(pipeline.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	defer p.Close(context.Background())

	auth := map[string]string{"streamName": *stream, "region": *region}
	if *endpoint != "" {
		// Local servers accept any keys; they are redacted wherever options are printed.
		auth["endpoint"], auth["awsAccessKey"], auth["awsSecretKey"] = *endpoint, "local", "local"
	}
	if *produce > 0 {
		if err := produceEvents(ctx, p, *endpoint, *region, *stream, *produce, auth); err != nil {
			log.Fatalf("produce: %v", err)
		}
		log.Printf("put %d events into %s", *produce, *stream)
	}

	trig := pipeline.ProcessingTime(*trigger)
	if *availableNow {
		trig = pipeline.AvailableNow()
	}
	q, err := p.ReadStream().Format("kinesis").Options(auth).
		Option("initialPosition", "trim_horizon").
		// ETL tuning (README.md): buffer large blocks, and keep fetching between triggers.
		Option("maxFetchDuration", *fetchDur).
		Option("fetchBufferSize", *fetchBuf).
		Load().
		MapBatch(addDay, outSchema).
		WriteStream().Format("parquet").
		Option("path", *path).
		Option("partitionBy", "day").
		Option("compression", "zstd").
		Option("maxBytesPerFile", "512mb").
		Option("checkpointLocation", *checkpoint).
		Trigger(trig).
		Start(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(os.Stderr, q.Explain())
	if err := q.AwaitTermination(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
	if ctx.Err() != nil { // interrupted: finish and commit the batch in flight
		stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := q.Stop(stopCtx); err != nil {
			log.Fatal(err)
		}
	}
	table, err := filesink.ReadManifest(context.Background(), *path)
	if err != nil {
		log.Fatal(err)
	}
	var rows int64
	for _, f := range table.Files() {
		rows += f.Rows
	}
	log.Printf("%s holds %d committed batches, %d files, %d rows", *path, len(table.Batches), len(table.Files()), rows)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// outSchema is the Kinesis source's schema plus day (the arrival date, UTC), the partition
// column.
var outSchema = func() *arrow.Schema {
	fields := append(kinesis.Schema.Fields(), arrow.Field{Name: "day", Type: arrow.BinaryTypes.String})
	return arrow.NewSchema(fields, nil)
}()

// addDay is the transform: it keeps every column (zero-copy) and appends the arrival day.
func addDay(ctx context.Context, in arrow.RecordBatch) (arrow.RecordBatch, error) {
	idx := in.Schema().FieldIndices("approximateArrivalTimestamp")
	if len(idx) == 0 {
		return nil, errors.New("no approximateArrivalTimestamp column")
	}
	ts := in.Column(idx[0]).(*array.Timestamp)
	unit := ts.DataType().(*arrow.TimestampType).Unit
	b := array.NewStringBuilder(operators.Allocator(ctx))
	defer b.Release()
	for i := range ts.Len() {
		b.Append(ts.Value(i).ToTime(unit).UTC().Format(time.DateOnly))
	}
	day := b.NewArray()
	defer day.Release()
	return array.NewRecordBatch(outSchema, append(in.Columns(), day), in.NumRows()), nil
}

// produceEvents creates the stream if needed, then writes n JSON events into it with a Sluice
// query: rate-micro-batch → MapBatch → Format("kinesis").
func produceEvents(ctx context.Context, p *pipeline.Pipeline, endpoint, region, stream string, n int, auth map[string]string) error {
	if err := createStream(ctx, endpoint, region, stream); err != nil {
		return err
	}
	cp, err := os.MkdirTemp("", "sluice-produce-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cp)
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", fmt.Sprint(n)).Load().
		MapBatch(toEvents, eventSchema).
		WriteStream().Format("kinesis").Options(auth).
		Option("checkpointLocation", cp).
		Trigger(pipeline.AvailableNow()).
		Start(context.Background())
	if err != nil {
		return err
	}
	return q.AwaitTermination(ctx)
}

var eventSchema = arrow.NewSchema([]arrow.Field{
	{Name: "data", Type: arrow.BinaryTypes.Binary},
	{Name: "partitionKey", Type: arrow.BinaryTypes.String},
}, nil)

// toEvents turns rate rows into JSON events keyed by user.
func toEvents(ctx context.Context, in arrow.RecordBatch) (arrow.RecordBatch, error) {
	values := in.Column(1).(*array.Int64)
	mem := operators.Allocator(ctx)
	db, kb := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary), array.NewStringBuilder(mem)
	defer db.Release()
	defer kb.Release()
	kinds := []string{"click", "view", "purchase", "signup"}
	for i := range values.Len() {
		v := values.Value(i)
		user := fmt.Sprintf("user-%03d", v%50)
		db.Append(fmt.Appendf(nil, `{"id":%d,"type":%q,"user":%q,"amount":%d.%02d}`, v, kinds[v%4], user, v%100, v%97))
		kb.Append(user)
	}
	d, k := db.NewArray(), kb.NewArray()
	defer d.Release()
	defer k.Release()
	return array.NewRecordBatch(eventSchema, []arrow.Array{d, k}, in.NumRows()), nil
}

// createStream creates a two-shard stream unless it exists, and waits until it is ACTIVE.
func createStream(ctx context.Context, endpoint, region, stream string) error {
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if endpoint != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return err
	}
	c := awskinesis.NewFromConfig(cfg, func(o *awskinesis.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	_, err = c.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(2)})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create stream %s: %w", stream, err)
	}
	for {
		out, err := c.DescribeStreamSummary(ctx, &awskinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
