package bench

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedev/sluice/bench/internal/fakekinesis"
	"github.com/sluicedev/sluice/pipeline"
	"github.com/sluicedev/sluice/sources/kinesis"
)

// TestKinesisSourceThrottled reads a fake stream that throttles every third GetRecords call
// with a pipeline as bench/cmd/sluicebench builds one (the Kinesis source from the trim
// horizon, Trigger AvailableNow, a ForeachTable sink): the source retries the throttled calls
// with the same iterator, and every record arrives exactly once.
func TestKinesisSourceThrottled(t *testing.T) {
	logs := fakekinesis.NewLogs(fakekinesis.LogConfig{Shards: 3, RecordsPerShard: 500, RecordSize: 1000, MaxPerResponse: 100, ThrottleEvery: 3})
	srv := httptest.NewServer(logs)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var mu sync.Mutex
	seen := map[string]int{} // shard ID + "/" + sequence number → times received
	var dataBytes int64
	shardCol, seqCol := kinesis.Schema.FieldIndices("shardId")[0], kinesis.Schema.FieldIndices("sequenceNumber")[0]
	p := pipeline.New()
	defer p.Close(context.WithoutCancel(ctx))
	q, err := p.ReadStream().Format("kinesis").Options(map[string]string{
		"streamName":      "bench",
		"region":          "us-east-1",
		"endpoint":        srv.URL,
		"awsAccessKey":    "bench",
		"awsSecretKey":    "bench",
		"initialPosition": "trim_horizon",
		"minFetchPeriod":  "200ms",
	}).Load().WriteStream().ForeachTable(func(_ context.Context, tbl arrow.Table, _ int64) error {
		mu.Lock()
		defer mu.Unlock()
		dataBytes += dataColumnBytes(tbl)
		shards, seqs := tbl.Column(shardCol).Data().Chunks(), tbl.Column(seqCol).Data().Chunks()
		for c := range shards {
			sh, sq := shards[c].(*array.String), seqs[c].(*array.String)
			for i := range sh.Len() {
				seen[sh.Value(i)+"/"+sq.Value(i)]++
			}
		}
		return nil
	}).Option("checkpointLocation", filepath.Join(t.TempDir(), "checkpoint")).
		Trigger(pipeline.AvailableNow()).
		Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.AwaitTermination(ctx); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	for k, n := range seen {
		if n != 1 {
			t.Errorf("record %s received %d times", k, n)
		}
	}
	if len(seen) != logs.Records() || dataBytes != logs.Stats().DataBytes {
		t.Errorf("received %d distinct records, %d data bytes; the stream holds %d, %d bytes", len(seen), dataBytes, logs.Records(), logs.Stats().DataBytes)
	}
	calls, throttled := logs.GetRecordsCalls.Load(), logs.GetRecordsThrottled.Load()
	if throttled == 0 || throttled != calls/3 {
		t.Errorf("%d GetRecords calls, %d throttled; want every third throttled", calls, throttled)
	}
	t.Logf("%d records in %d GetRecords calls, %d throttled", len(seen), calls, throttled)
}

// dataColumnBytes adds up the bytes of the data column of a table of Kinesis records.
func dataColumnBytes(t arrow.Table) int64 {
	var n int64
	for _, c := range t.Column(kinesis.Schema.FieldIndices("data")[0]).Data().Chunks() {
		if offs := c.(*array.Binary).ValueOffsets(); len(offs) > 1 {
			n += int64(offs[len(offs)-1] - offs[0])
		}
	}
	return n
}
