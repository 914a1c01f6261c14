package kinesis_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicedev/sluice/internal/testkit"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/internal/localaws"
	"github.com/sluicedev/sluice/operators"
	"github.com/sluicedev/sluice/pipeline"
	"github.com/sluicedev/sluice/sinks/kinesis"
	_ "github.com/sluicedev/sluice/sources/kinesis"
)

// toRecords turns the rate source's rows into data and partitionKey columns.
var toRecordsSchema = arrow.NewSchema([]arrow.Field{
	{Name: "data", Type: arrow.BinaryTypes.Binary},
	{Name: "partitionKey", Type: arrow.BinaryTypes.String},
}, nil)

func toRecords(ctx context.Context, in arrow.RecordBatch) (arrow.RecordBatch, error) {
	values := in.Column(1).(*array.Int64)
	mem := operators.Allocator(ctx)
	db, kb := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary), array.NewStringBuilder(mem)
	defer db.Release()
	defer kb.Release()
	for i := range values.Len() {
		v := values.Value(i)
		db.Append(fmt.Appendf(nil, `{"value":%d}`, v))
		kb.Append(fmt.Sprintf("key-%d", v%17))
	}
	d, k := db.NewArray(), kb.NewArray()
	defer d.Release()
	defer k.Release()
	return array.NewRecordBatch(toRecordsSchema, []arrow.Array{d, k}, in.NumRows()), nil
}

// TestPipelineRoundTrip writes rows with a query through Format("kinesis") and its
// Spark-style options (aggregation on), then reads them back with a second query through the
// Kinesis source (which de-aggregates) into a memory table: the same rows, once each. The
// first query's Explain shows no secret.
func TestPipelineRoundTrip(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	ep := localaws.KinesisEndpoint(t)
	client := localaws.KinesisClient(t, ep)
	stream := localaws.CreateStream(t, client, 2)
	dir := t.TempDir()
	auth := map[string]string{"streamName": stream, "endpoint": ep, "region": localaws.Region,
		"awsAccessKey": localaws.AccessKeyID, "awsSecretKey": localaws.SecretAccessKey}

	p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)))
	defer p.Close(context.Background())
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "300").Load().
		MapBatch(toRecords, toRecordsSchema).
		WriteStream().Format("kinesis").Options(auth).
		Option("aggregationEnabled", "true").
		Option("checkpointLocation", filepath.Join(dir, "write")).
		Trigger(pipeline.AvailableNow()).
		Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if ex := q.Explain(); strings.Contains(ex, localaws.SecretAccessKey+"]") || !strings.Contains(ex, "awsSecretKey=*****(redacted)") {
		t.Errorf("Explain shows a secret or does not redact it:\n%s", ex)
	}
	if err := awaitQuery(t, q); err != nil {
		t.Fatal(err)
	}
	if m := q.LastProgress().Sink.Metrics; m["recordsSent"] != "300" {
		t.Errorf("sink metrics %v", m)
	}

	read, err := p.ReadStream().Format("kinesis").Options(auth).
		Option("initialPosition", "trim_horizon").Option("maxFetchDuration", "100ms").Option("minFetchPeriod", "200ms").Load().
		WriteStream().Format("memory").QueryName("readback").
		Option("checkpointLocation", filepath.Join(dir, "read")).
		Trigger(pipeline.AvailableNow()).
		Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := awaitQuery(t, read); err != nil {
		t.Fatal(err)
	}
	table, _ := p.MemoryTable("readback")
	var got, want []row
	for _, r := range table.Rows() {
		got = append(got, row{PK: r["partitionKey"].(string), Data: string(r["data"].([]byte))})
	}
	for v := range 300 {
		want = append(want, row{PK: fmt.Sprintf("key-%d", v%17), Data: fmt.Sprintf(`{"value":%d}`, v)})
	}
	sortRows(got)
	sortRows(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows read back by the Kinesis source (-want +got):\n%s", diff)
	}
}

func awaitQuery(t *testing.T, q *pipeline.Query) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	return q.AwaitTermination(ctx)
}

// TestPipelineFailAndReplay: when PutRecords keeps failing, the batch fails after maxAttempts
// tries, the query stops with a BatchError naming the sink, and a restart on the same
// checkpoint replays the batch: every row reaches the stream (at least once).
func TestPipelineFailAndReplay(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	ep := localaws.KinesaliteEndpoint(t)
	client := localaws.KinesisClient(t, ep)
	stream := localaws.CreateStream(t, client, 2)
	cp := filepath.Join(t.TempDir(), "cp")
	ft := newFaultTransport()
	broken := true
	ft.failEntry = func(n, i int, key string) bool { return broken && key == "key-3" } // runs under ft.mu
	run := func() error {
		snk := openSink(t, mem, ep, stream, ft, func(o *kinesis.Options) { o.MaxAttempts = 3 })
		p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)))
		defer p.Close(context.Background())
		q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "100").Load().
			MapBatch(toRecords, toRecordsSchema).
			WriteStream().Sink(snk).Option("checkpointLocation", cp).
			Trigger(pipeline.Once()).Start(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return awaitQuery(t, q)
	}
	err := run()
	var be *pipeline.BatchError
	if !errors.As(err, &be) || be.BatchID != 0 || !strings.HasPrefix(be.Stage, "sink KinesisSink[") || !strings.Contains(err.Error(), "still failing after 3 tries") {
		t.Fatalf("first run: %v; want a BatchError for batch 0 in the sink", err)
	}
	ft.mu.Lock()
	broken = false
	ft.mu.Unlock()
	if err := run(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	seen := map[string]int{}
	for _, r := range readAll(t, client, stream) {
		seen[r.Data]++
	}
	for v := range 100 {
		if seen[fmt.Sprintf(`{"value":%d}`, v)] == 0 {
			t.Errorf("row %d is not in the stream", v)
		}
	}
	t.Logf("%d distinct rows, %d records in the stream (the failed attempt's successful entries are there twice)", len(seen), func() int {
		n := 0
		for _, c := range seen {
			n += c
		}
		return n
	}())
}
