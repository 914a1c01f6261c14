package kinesis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicedev/sluice/internal/testkit"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedev/sluice/internal/localaws"
	"github.com/sluicedev/sluice/pipeline"
	"github.com/sluicedev/sluice/sources"
)

// openFactory builds a source from Spark-style options through the registry and opens it.
func openFactory(t *testing.T, kv map[string]string) *Source {
	t.Helper()
	src, err := factory(t, kv)
	if err != nil {
		t.Fatal(err)
	}
	s := src.(*Source)
	mem := newChecked(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Open(ctx, sources.Info{Allocator: mem, Logger: testkit.Logger(t)}); err != nil {
		s.Close(context.Background())
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// TestInitialPositions reads one stream of kinesis-local from every initial position, through
// the registered factory with Spark-style options.
func TestInitialPositions(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesisEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 2)
	before := records("before", 30, 6)
	localaws.PutRecords(t, c, name, before)
	// A whole second strictly between the two batches, in the format of the reference's example.
	at := time.Now().Add(1100 * time.Millisecond).Truncate(time.Second)
	time.Sleep(time.Until(at) + 100*time.Millisecond)
	after := records("after", 30, 6)
	localaws.PutRecords(t, c, name, after)
	all := append(append([]localaws.Record(nil), before...), after...)

	atJSON := fmt.Sprintf(`{"at_timestamp": "%s UTC", "format": "MM/dd/yyyy HH:mm:ss ZZZ"}`, at.UTC().Format("01/02/2006 15:04:05"))
	for _, tt := range []struct {
		position string
		want     []localaws.Record
	}{
		{"trim_horizon", all},
		{"earliest", all},
		{atJSON, after},
		// The reference's example, exactly: a time before the stream existed reads everything.
		{`{"at_timestamp": "06/25/2020 10:23:45 PDT", "format": "MM/dd/yyyy HH:mm:ss ZZZ"}`, all},
		{`{"at_timestamp": "06/25/2020 10:23:45 PDT"}`, all},
	} {
		t.Run(tt.position, func(t *testing.T) {
			s := openFactory(t, localOpts(ep, name, "initialPosition", tt.position))
			start, err := s.InitialOffset(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			rows, end := readUntil(t, s, start, len(tt.want), time.Minute)
			checkExactlyOnce(t, rows, tt.want)
			// Nothing more arrives.
			time.Sleep(300 * time.Millisecond)
			if more, _ := step(t, t.Context(), s, end); len(more) > 0 {
				t.Errorf("%d more rows", len(more))
			}
			for _, r := range rows {
				if r.Stream != name || !strings.HasPrefix(r.ShardID, "shardId-") || r.Seq == "" || r.Arrival.IsZero() {
					t.Fatalf("row %+v", r)
				}
			}
		})
	}
	t.Run("latest", func(t *testing.T) {
		s := openFactory(t, localOpts(ep, name)) // latest is the default
		start, err := s.InitialOffset(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		o, _ := decodeOffset(start)
		for id, p := range o.streams[name].shards {
			if p.kind != posAtTimestamp {
				t.Errorf("latest: shard %s starts at %s, want at_timestamp", id, p)
			}
		}
		time.Sleep(50 * time.Millisecond)
		later := records("latest", 20, 4)
		localaws.PutRecords(t, c, name, later)
		rows, _ := readUntil(t, s, start, len(later), time.Minute)
		checkExactlyOnce(t, rows, later)
		// A new source replays the first batch over the same range: the same rows.
	})
}

// TestLatestReplay: the first batch of a latest query, replayed by another source as after a
// crash, has the same rows.
func TestLatestReplay(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesisEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 1)
	localaws.PutRecords(t, c, name, records("old", 10, 2))
	a := openFactory(t, localOpts(ep, name))
	start, err := a.InitialOffset(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	want := records("new", 15, 3)
	localaws.PutRecords(t, c, name, want)
	rows, end := readUntil(t, a, start, len(want), time.Minute)
	checkExactlyOnce(t, rows, want)
	b := openFactory(t, localOpts(ep, name))
	again, err := read(t.Context(), b, start, end)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(again) != fmt.Sprint(rows) {
		t.Errorf("replayed rows differ:\n%v\n%v", again, rows)
	}
}

// TestPipelineMultiStream reads two kinesalite streams in one query through the pipeline with
// Trigger.AvailableNow, then once more after new records arrive.
func TestPipelineMultiStream(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesaliteEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	a, b := localaws.CreateStream(t, c, 2), localaws.CreateStream(t, c, 3)
	wantA, wantB := records("a", 2000, 50), records("b", 1500, 50)
	localaws.PutRecords(t, c, a, wantA)
	localaws.PutRecords(t, c, b, wantB)
	snk := newIdemSink()
	dir := t.TempDir()
	run := func() *pipeline.Query {
		p := newPipeline(t)
		var progress []pipeline.QueryProgress
		q, err := p.ReadStream().Format("kinesis").Options(localOpts(ep, a+","+b, "initialPosition", "trim_horizon")).Load().
			WriteStream().Sink(snk).Option("checkpointLocation", dir).Trigger(pipeline.AvailableNow()).Start(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		if err := q.AwaitTermination(ctx); err != nil {
			t.Fatal(err)
		}
		progress = q.RecentProgress()
		if len(progress) == 0 {
			t.Fatal("no progress")
		}
		sp := progress[len(progress)-1].Sources[0]
		if sp.Description != "KinesisV2["+a+", "+b+"]" {
			t.Errorf("description %q", sp.Description)
		}
		for _, k := range []string{"avgMsBehindLatest", "maxMsBehindLatest", "minMsBehindLatest", "totalPrefetchedBytes", "numTotalShards", "numClosedShards", "numThrottled"} {
			if _, ok := sp.Metrics[k]; !ok {
				t.Errorf("metric %s missing: %v", k, sp.Metrics)
			}
		}
		if sp.Metrics["numTotalShards"] != "5" {
			t.Errorf("numTotalShards = %s", sp.Metrics["numTotalShards"])
		}
		if strings.Contains(q.Explain(), localaws.SecretAccessKey) {
			t.Errorf("Explain shows the secret key:\n%s", q.Explain())
		}
		return q
	}
	run()
	rows := snk.rows()
	var gotA, gotB []row
	for _, r := range rows {
		switch r.Stream {
		case a:
			gotA = append(gotA, r)
		case b:
			gotB = append(gotB, r)
		default:
			t.Fatalf("row of stream %q", r.Stream)
		}
	}
	checkExactlyOnce(t, gotA, wantA)
	checkExactlyOnce(t, gotB, wantB)

	// New records; the next AvailableNow run reads exactly them.
	moreA := records("a2", 300, 50)
	localaws.PutRecords(t, c, a, moreA)
	run()
	var got []row
	for _, r := range snk.rows()[len(rows):] {
		got = append(got, r)
	}
	checkExactlyOnce(t, got, moreA)
}

// TestPipelineRestart stops a query and starts it again on its checkpoint, and makes the sink
// fail a batch so that it is replayed by a new source: every record reaches the idempotent
// sink exactly once.
func TestPipelineRestart(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesaliteEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 3)
	dir := t.TempDir()
	snk := newIdemSink()
	opts := localOpts(ep, name, "initialPosition", "trim_horizon", "maxRecordsPerFetch", "200")
	start := func() *pipeline.Query {
		p := newPipeline(t)
		q, err := p.ReadStream().Format("kinesis").Options(opts).Load().
			WriteStream().Sink(snk).Option("checkpointLocation", dir).Start(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	var want []localaws.Record
	put := func(prefix string, n int) {
		rs := records(prefix, n, 30)
		localaws.PutRecords(t, c, name, rs)
		want = append(want, rs...)
	}
	put("one", 1500)
	q := start()
	waitRows(t, q, snk.numRows, 300, time.Minute)
	put("two", 1500)
	if err := q.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("first run: %d rows", snk.numRows())

	// The second run fails the commit of its second batch: the query stops with the batch
	// planned but not committed.
	snk.mu.Lock()
	snk.failAt = snk.last + 2
	snk.mu.Unlock()
	q = start()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := q.AwaitTermination(ctx); err == nil || !strings.Contains(err.Error(), "injected sink failure") {
		t.Fatalf("second run ended with %v", err)
	}
	put("three", 1000)

	// The third run replays the failed batch (read again from Kinesis) and goes on.
	q = start()
	waitRows(t, q, snk.numRows, len(want), 2*time.Minute)
	time.Sleep(500 * time.Millisecond)
	if err := q.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, snk.rows(), want)
}

// TestReshardLocal splits and merges shards of a kinesis-local stream while a query reads it:
// no record is lost or duplicated, per-key order holds, and no batch mixes a parent's rows with
// its child's.
func TestReshardLocal(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesisEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 2)
	snk := newIdemSink()
	p := newPipeline(t)
	q, err := p.ReadStream().Format("kinesis").Options(localOpts(ep, name, "initialPosition", "trim_horizon")).Load().
		WriteStream().Sink(snk).Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Stop(context.Background())
	var want []localaws.Record
	seq := 0
	put := func(n int) {
		rs := make([]localaws.Record, n)
		for i := range rs {
			rs[i] = localaws.Record{PartitionKey: fmt.Sprintf("key-%d", seq%12), Data: []byte(fmt.Sprintf("%06d", seq))}
			seq++
		}
		localaws.PutRecords(t, c, name, rs)
		want = append(want, rs...)
	}
	put(120)
	waitRows(t, q, snk.numRows, 60, time.Minute)

	shards := listShards(t, c, name)
	s0 := shards[0]
	lo, hi := hashRange(s0)
	mid := new(bigInt).add(lo, hi)
	_, err = c.SplitShard(t.Context(), &kinesis.SplitShardInput{StreamName: aws.String(name), ShardToSplit: s0.ShardId, NewStartingHashKey: aws.String(mid)})
	if err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, name)
	put(120)
	waitRows(t, q, snk.numRows, 150, time.Minute)

	var children []types.Shard
	for _, s := range listShards(t, c, name) {
		if aws.ToString(s.ParentShardId) == aws.ToString(s0.ShardId) {
			children = append(children, s)
		}
	}
	if len(children) != 2 {
		t.Fatalf("children of %s: %d", aws.ToString(s0.ShardId), len(children))
	}
	_, err = c.MergeShards(t.Context(), &kinesis.MergeShardsInput{StreamName: aws.String(name), ShardToMerge: children[0].ShardId, AdjacentShardToMerge: children[1].ShardId})
	if err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, name)
	put(120)
	waitRows(t, q, snk.numRows, len(want), 2*time.Minute)
	time.Sleep(500 * time.Millisecond)
	if err := q.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	rows := snk.rows()
	checkExactlyOnce(t, rows, want)

	parents := map[string][]string{}
	for _, s := range listShards(t, c, name) {
		for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
			if p != nil {
				parents[aws.ToString(s.ShardId)] = append(parents[aws.ToString(s.ShardId)], *p)
			}
		}
	}
	if len(parents) != 3 {
		t.Errorf("shards with parents: %v", parents)
	}
	for i, b := range snk.perBatch() {
		in := map[string]bool{}
		for _, r := range b {
			in[r.ShardID] = true
		}
		for child, ps := range parents {
			for _, p := range ps {
				if in[child] && in[p] {
					t.Errorf("batch %d holds rows of %s and of its parent %s", i, child, p)
				}
			}
		}
	}
	lp := q.LastProgress()
	if lp == nil || lp.Sources[0].Metrics["numClosedShards"] != "3" {
		t.Errorf("progress metrics: %+v", lp)
	}
}

func listShards(t *testing.T, c *kinesis.Client, name string) []types.Shard {
	t.Helper()
	out, err := c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Shards
}

func waitActive(t *testing.T, c *kinesis.Client, name string) {
	t.Helper()
	for range 500 {
		out, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("stream %s is not ACTIVE", name)
}

// TestStreamRecreatedLocal deletes and re-creates a stream under a query's checkpoint: the
// restarted query stops with ErrStreamRecreated.
func TestStreamRecreatedLocal(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesisEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 1)
	localaws.PutRecords(t, c, name, records("x", 10, 2))
	dir := t.TempDir()
	snk := newIdemSink()
	opts := localOpts(ep, name, "initialPosition", "trim_horizon")
	p := newPipeline(t)
	q, err := p.ReadStream().Format("kinesis").Options(opts).Load().WriteStream().Sink(snk).Option("checkpointLocation", dir).Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	waitRows(t, q, snk.numRows, 10, time.Minute)
	if err := q.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteStream(t.Context(), &kinesis.DeleteStreamInput{StreamName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	deleteDeadline := time.Now().Add(time.Minute)
	for {
		_, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			break
		}
		if time.Now().After(deleteDeadline) {
			t.Fatalf("stream %s still exists a minute after DeleteStream (last DescribeStreamSummary error: %v)", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, name)
	q, err = p.ReadStream().Format("kinesis").Options(opts).Load().WriteStream().Sink(snk).Option("checkpointLocation", dir).Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err = q.AwaitTermination(ctx)
	if !errors.Is(err, ErrStreamRecreated) {
		t.Fatalf("query ended with %v, want ErrStreamRecreated", err)
	}
	t.Log(err)
	if snk.numRows() != 10 {
		t.Errorf("%d rows", snk.numRows())
	}

	// A stream that does not exist fails Start.
	_, err = p.ReadStream().Format("kinesis").Options(localOpts(ep, name+"-missing")).Load().WriteStream().Sink(newIdemSink()).Start(t.Context())
	if !errors.Is(err, ErrStreamNotFound) {
		t.Errorf("Start on a missing stream: %v", err)
	}
}

// TestLatestKinesalite: kinesalite never answers GetShardIterator(AT_TIMESTAMP) while no record
// at or after the time exists; the source treats the timeout as "nothing yet" and asks again,
// so latest works there too, a few seconds late.
func TestLatestKinesalite(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesaliteEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 2)
	localaws.PutRecords(t, c, name, records("old", 50, 5))
	s := openFactory(t, localOpts(ep, name))
	start, err := s.InitialOffset(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the first GetShardIterator calls hang
	want := records("new", 100, 5)
	localaws.PutRecords(t, c, name, want)
	rows, _ := readUntil(t, s, start, len(want), time.Minute)
	checkExactlyOnce(t, rows, want)
}

// TestOnceReadsEverythingAvailable: Trigger.Once runs one batch of every record available when
// the query starts (as the pipeline documents, and Spark's Once), not of what prefetching
// happened to have fetched by then (which, at start, is nothing). Records put after the
// start are left for the next query.
func TestOnceReadsEverythingAvailable(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesaliteEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 2)
	want := records("once", 1200, 20)
	localaws.PutRecords(t, c, name, want)
	dir := t.TempDir()
	snk := newIdemSink()
	// maxRecordsPerFetch 100: several GetRecords calls per shard before everything is there.
	opts := localOpts(ep, name, "initialPosition", "trim_horizon", "maxRecordsPerFetch", "100")
	run := func(trigger pipeline.Trigger) {
		q, err := newPipeline(t).ReadStream().Format("kinesis").Options(opts).Load().
			WriteStream().Sink(snk).Option("checkpointLocation", dir).Trigger(trigger).Start(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if err := q.AwaitTermination(ctx); err != nil {
			t.Fatal(err)
		}
	}
	run(pipeline.Once())
	if b := snk.perBatch(); len(b) != 1 {
		t.Fatalf("Once ran %d batches; want 1", len(b))
	}
	checkExactlyOnce(t, snk.rows(), want)
	later := records("later", 300, 20)
	localaws.PutRecords(t, c, name, later)
	run(pipeline.Once())
	if b := snk.perBatch(); len(b) != 2 {
		t.Fatalf("the second Once ran %d batches in all; want 2", len(b))
	}
	checkExactlyOnce(t, snk.rows(), append(want, later...))
}

// TestAvailableNowBatchesHoldEveryShard: under AvailableNow each batch of a backlog waits until
// every shard has data for it, so the first batch holds records of both shards rather than
// those of the shard that was fetched first (which moved an event-time watermark past the other
// shard's rows and made them late); every record is read once.
func TestAvailableNowBatchesHoldEveryShard(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesaliteEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 2)
	want := records("an", 1200, 20)
	localaws.PutRecords(t, c, name, want)
	snk := newIdemSink()
	opts := localOpts(ep, name, "initialPosition", "trim_horizon", "maxRecordsPerFetch", "100")
	q, err := newPipeline(t).ReadStream().Format("kinesis").Options(opts).Load().
		WriteStream().Sink(snk).Option("checkpointLocation", t.TempDir()).Trigger(pipeline.AvailableNow()).Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := q.AwaitTermination(ctx); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, snk.rows(), want)
	batches := snk.perBatch()
	if len(batches) == 0 {
		t.Fatal("no batch")
	}
	shards := map[string]int{}
	for _, r := range batches[0] {
		shards[r.ShardID]++
	}
	if len(shards) != 2 {
		t.Errorf("the first batch holds %d of %d records, per shard %v; want records of both shards", len(batches[0]), len(want), shards)
	}
}
