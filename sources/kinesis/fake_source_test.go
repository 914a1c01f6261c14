package kinesis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/internal/kpl"
	"github.com/sluicedev/sluice/sources"
)

// fakeOptions are fast options over a fake API.
func fakeOptions(api API, streams ...string) Options {
	o := DefaultOptions()
	o.StreamNames = streams
	o.Client = api
	o.MinFetchPeriod = MinFetchPeriodLimit
	o.MaxFetchDuration = 20 * time.Millisecond
	o.ShardFetchInterval = 50 * time.Millisecond
	o.MaxFetchRate = MaxFetchRateLimit
	return o
}

// batchesUntil runs micro-batches until n rows were read, returning the rows of each batch.
func batchesUntil(t *testing.T, s *Source, start sources.Offset, n int) ([][]row, sources.Offset) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out [][]row
	total := 0
	cur := start
	for total < n {
		rows, end := step(t, ctx, s, cur)
		if rows != nil {
			out = append(out, rows)
			total += len(rows)
		} else {
			time.Sleep(5 * time.Millisecond)
		}
		cur = end
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d rows", total, n)
		}
	}
	return out, cur
}

func flat(bs [][]row) []row {
	var out []row
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// putKeys puts n records per key into the given shard, continuing each key's counter.
func putKeys(f *fakeAPI, stream, shard string, next map[string]int, n int, keys ...string) {
	for range n {
		for _, k := range keys {
			f.put(stream, shard, time.Now(), k, []byte(fmt.Sprintf("%s-%06d", k, next[k])))
			next[k]++
		}
	}
}

// TestFakeReshard splits and merges shards while a query reads, and checks the child rule: no
// batch holds rows of a shard and of its parent, every record is read once, per-key order holds.
func TestFakeReshard(t *testing.T) {
	f := newFakeAPI()
	f.create("s", 2)
	next := map[string]int{}
	putKeys(f, "s", "shardId-000000000000", next, 50, "a", "b")
	putKeys(f, "s", "shardId-000000000001", next, 50, "c")
	o := fakeOptions(f, "s")
	o.InitialPosition = InitialPosition{Kind: TrimHorizon}
	s, _ := openSource(t, o)
	start, err := s.InitialOffset(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var batches [][]row
	bs, cur := batchesUntil(t, s, start, 150)
	batches = append(batches, bs...)

	// Split shard 0: key a goes to child 2, b to child 3. Write to the parent first.
	putKeys(f, "s", "shardId-000000000000", next, 20, "a", "b")
	c1, c2 := f.split("s", "shardId-000000000000")
	putKeys(f, "s", c1, next, 30, "a")
	putKeys(f, "s", c2, next, 30, "b")
	bs, cur = batchesUntil(t, s, cur, 100)
	batches = append(batches, bs...)

	// Merge the children (with more written to them first) into shard 4.
	putKeys(f, "s", c1, next, 10, "a")
	putKeys(f, "s", c2, next, 10, "b")
	m := f.merge("s", c1, c2)
	putKeys(f, "s", m, next, 25, "a", "b")
	bs, cur = batchesUntil(t, s, cur, 70)
	batches = append(batches, bs...)

	rows := flat(batches)
	if len(rows) != 320 {
		t.Fatalf("%d rows, want 320", len(rows))
	}
	checkKeyOrder(t, rows)
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r.Data] {
			t.Fatalf("%s read twice", r.Data)
		}
		seen[r.Data] = true
	}
	parents := map[string][]string{c1: {"shardId-000000000000"}, c2: {"shardId-000000000000"}, m: {c1, c2}}
	for i, b := range batches {
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
	// The offsets end with the parents closed.
	o2, err := decodeOffset(cur)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"shardId-000000000000", c1, c2} {
		if p, _ := o2.pos("s", id); p.kind != posClosed {
			t.Errorf("%s is at %s, want closed", id, p)
		}
	}
	// Wait for a listing, then check the shard counts.
	time.Sleep(100 * time.Millisecond)
	mt := s.Metrics(cur)
	if mt["numTotalShards"] != "5" || mt["numClosedShards"] != "3" {
		t.Errorf("metrics %v", mt)
	}
}

// TestFakeReplay reads a range in one source and reads it again in a new source, as after a
// restart: the second read comes from Kinesis again and yields the same rows, also for a range
// that ends inside a KPL aggregate.
func TestFakeReplay(t *testing.T) {
	f := newFakeAPI()
	f.create("s", 1)
	sh := "shardId-000000000000"
	var agg kpl.Aggregator
	for i := range 10 {
		if err := agg.Add(fmt.Sprintf("u%d", i), "", []byte(fmt.Sprintf("user-%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	_, _, data := agg.Flush()
	f.put("s", sh, time.Now(), "plain", []byte("p-0"), []byte("p-1"))
	f.put("s", sh, time.Now(), "outer", data)
	f.put("s", sh, time.Now(), "plain", []byte("p-2"))

	o := fakeOptions(f, "s")
	o.InitialPosition = InitialPosition{Kind: TrimHorizon}
	a, _ := openSource(t, o)
	start, err := a.InitialOffset(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rows, end := readUntil(t, a, start, 13, 10*time.Second)
	var got []string
	for _, r := range rows {
		got = append(got, r.PartitionKey+":"+r.Data)
	}
	want := []string{"plain:p-0", "plain:p-1"}
	for i := range 10 {
		want = append(want, fmt.Sprintf("u%d:user-%02d", i, i))
	}
	want = append(want, "plain:p-2")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("rows (-want +got):\n%s", diff)
	}
	aggSeq := rows[2].Seq
	for _, r := range rows[2:12] {
		if r.Seq != aggSeq {
			t.Fatalf("user records of one aggregate have sequence numbers %s and %s", aggSeq, r.Seq)
		}
	}

	// A new source reads [start, end) again, and ranges that start and end inside the aggregate.
	b, _ := openSource(t, o)
	so, _ := decodeOffset(start)
	mid := func(sub int64) sources.Offset {
		x := so.clone()
		x.streams["s"].shards[sh] = after(aggSeq, sub)
		return x.encode()
	}
	for _, r := range []struct {
		from, to sources.Offset
		want     []string
	}{
		{start, end, want},
		{start, mid(3), want[:6]},
		{mid(3), mid(7), want[6:10]},
		{mid(7), end, want[10:]},
		{mid(9), end, want[12:]},
	} {
		rows, err := read(t.Context(), b, r.from, r.to)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, x := range rows {
			got = append(got, x.PartitionKey+":"+x.Data)
		}
		if diff := cmp.Diff(r.want, got); diff != "" {
			t.Errorf("read again %s..%s (-want +got):\n%s", r.from, r.to, diff)
		}
	}
	if b.Metrics(end)["numRereadRecords"] == "0" {
		t.Error("the new source did not read from Kinesis")
	}
	// Prefetching from inside the aggregate resumes there.
	if err := b.Commit(t.Context(), mid(4)); err != nil {
		t.Fatal(err)
	}
	rest, _ := readUntil(t, b, mid(4), 6, 10*time.Second)
	if len(rest) != 6 || rest[0].Data != "user-05" || rest[5].Data != "p-2" {
		t.Errorf("resumed inside the aggregate: %v", rest)
	}
}

// TestFakeAvailableNow: records that arrived before PrepareForAvailableNow are read, later ones
// are not, children of a shard that was split are read too, and LatestOffset then stops
// advancing; also with a buffer so small that it is always full.
func TestFakeAvailableNow(t *testing.T) {
	for _, buffer := range []int64{DefaultFetchBufferSize, 1000} {
		t.Run(fmt.Sprintf("buffer=%d", buffer), func(t *testing.T) {
			f := newFakeAPI()
			f.create("s", 3)
			past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
			for i := range 3 {
				id := fmt.Sprintf("shardId-%012d", i)
				for j := range 40 {
					f.put("s", id, past, "k", []byte(fmt.Sprintf("old-%d-%02d", i, j)))
				}
			}
			c1, c2 := f.split("s", "shardId-000000000002")
			f.put("s", c1, past, "k", []byte("old-c1"))
			f.put("s", c2, past, "k", []byte("old-c2"))
			for _, id := range []string{"shardId-000000000001", c2} {
				f.put("s", id, future, "k", []byte("new-1"), []byte("new-2"))
			}
			o := fakeOptions(f, "s")
			o.InitialPosition = InitialPosition{Kind: TrimHorizon}
			o.MaxRecordsPerFetch = 7
			o.MaxFetchDuration = time.Hour // only AvailableNow (or a full buffer) releases data here
			o.FetchBufferSize = buffer
			s, _ := openSource(t, o)
			if err := s.PrepareForAvailableNow(t.Context()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			cur, err := s.InitialOffset(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var rows []row
			for {
				got, end := step(t, ctx, s, cur)
				if bytes.Equal(end, cur) {
					break
				}
				rows = append(rows, got...)
				cur = end
			}
			if len(rows) != 122 {
				t.Fatalf("%d rows, want the 122 old ones", len(rows))
			}
			for _, r := range rows {
				if strings.HasPrefix(r.Data, "new") {
					t.Fatalf("read %s, which arrived after PrepareForAvailableNow", r.Data)
				}
			}
		})
	}
}

// TestFakeFaults injects throttling, server errors, expired iterators and broken connections
// into every few calls: nothing is lost or duplicated, and the faults are counted.
func TestFakeFaults(t *testing.T) {
	f := newFakeAPI()
	f.create("s", 2)
	next := map[string]int{}
	putKeys(f, "s", "shardId-000000000000", next, 300, "a")
	putKeys(f, "s", "shardId-000000000001", next, 300, "b")
	var mu sync.Mutex
	calls := map[string]int{} // per shard: a global count could fault one shard's every call
	faults := []error{
		&types.ProvisionedThroughputExceededException{Message: aws.String("Rate exceeded")},
		&types.KMSThrottlingException{Message: aws.String("slow down")},
		&types.LimitExceededException{Message: aws.String("limit")},
		&types.ExpiredIteratorException{Message: aws.String("expired")},
		&types.InternalFailureException{Message: aws.String("oops")},
		errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: use of closed network connection"),
	}
	f.hook = func(op string, in any) error {
		var shard string
		switch in := in.(type) {
		case *kinesis.GetRecordsInput:
			shard = strings.Split(aws.ToString(in.ShardIterator), "|")[1] // the fake's iterators: stream|shard|index
		case *kinesis.GetShardIteratorInput:
			shard = aws.ToString(in.ShardId)
		default:
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		calls[shard]++
		if n := calls[shard]; n%2 == 0 {
			return faults[(n/2)%len(faults)]
		}
		return nil
	}
	o := fakeOptions(f, "s")
	o.InitialPosition = InitialPosition{Kind: TrimHorizon}
	o.MaxRecordsPerFetch = 60
	s, _ := openSource(t, o)
	start, err := s.InitialOffset(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rows, end := readUntil(t, s, start, 600, 60*time.Second)
	if len(rows) != 600 {
		t.Fatalf("%d rows", len(rows))
	}
	checkKeyOrder(t, rows)
	m := s.Metrics(end)
	for _, k := range []string{"numThrottled", "numRetries", "numExpiredIterators"} {
		if m[k] == "0" {
			t.Errorf("%s = 0: %v", k, m)
		}
	}
}

func TestFakeFatalErrors(t *testing.T) {
	t.Run("stream not found", func(t *testing.T) {
		f := newFakeAPI()
		s, err := New(fakeOptions(f, "missing"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(t.Context())
		err = s.Open(t.Context(), sources.Info{Allocator: memory.NewGoAllocator()})
		if !errors.Is(err, ErrStreamNotFound) || !strings.Contains(err.Error(), "stream missing") {
			t.Errorf("Open = %v", err)
		}
	})
	t.Run("access denied", func(t *testing.T) {
		f := newFakeAPI()
		f.create("s", 1)
		f.hook = func(op string, _ any) error {
			if op == "GetRecords" {
				return &types.AccessDeniedException{Message: aws.String("User: arn:aws:iam::123456789012:user/x is not authorized")}
			}
			return nil
		}
		s, _ := openSource(t, fakeOptions(f, "s"))
		start, err := s.InitialOffset(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			if _, err = s.LatestOffset(ctx, start, sources.ReadLimit{}); err != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "kinesis:GetRecords") || !strings.Contains(err.Error(), "kinesis:ListShards") {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("stream re-created", func(t *testing.T) {
		f := newFakeAPI()
		f.create("s", 1)
		f.put("s", "shardId-000000000000", time.Now(), "k", []byte("x"))
		o := fakeOptions(f, "s")
		o.InitialPosition = InitialPosition{Kind: TrimHorizon}
		a, _ := openSource(t, o)
		start, err := a.InitialOffset(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		_, end := readUntil(t, a, start, 1, 10*time.Second)
		a.Close(t.Context())
		time.Sleep(2 * time.Millisecond)
		f.create("s", 1) // deleted and created again
		b, _ := openSource(t, o)
		if _, err := b.LatestOffset(t.Context(), end, sources.ReadLimit{}); !errors.Is(err, ErrStreamRecreated) {
			t.Errorf("LatestOffset = %v", err)
		}
		if err := b.Read(t.Context(), start, end, func(arrow.RecordBatch) error { return nil }); !errors.Is(err, ErrStreamRecreated) {
			t.Errorf("Read = %v", err)
		}
		// Re-created while a source reads: the discovery loop stops it.
		c, _ := openSource(t, o)
		start, err = c.InitialOffset(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
		f.create("s", 1)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			if _, err = c.LatestOffset(ctx, start, sources.ReadLimit{}); err != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !errors.Is(err, ErrStreamRecreated) {
			t.Errorf("LatestOffset while re-created = %v", err)
		}
	})
	t.Run("streams changed", func(t *testing.T) {
		f := newFakeAPI()
		f.create("a", 1)
		f.create("b", 1)
		a, _ := openSource(t, fakeOptions(f, "a"))
		start, err := a.InitialOffset(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := openSource(t, fakeOptions(f, "a", "b"))
		if _, err := b.LatestOffset(t.Context(), start, sources.ReadLimit{}); err == nil || !strings.Contains(err.Error(), "streams cannot be added") {
			t.Errorf("LatestOffset = %v", err)
		}
	})
}

// TestCoalesce checks the coalescing rule on emitted batch counts.
func TestCoalesce(t *testing.T) {
	f := newFakeAPI()
	f.create("s", 1)
	for i := range 50 {
		f.put("s", "shardId-000000000000", time.Now(), "k", bytes.Repeat([]byte{byte(i)}, 100))
	}
	for _, tt := range []struct {
		threshold, bin int64
		batches        int
	}{
		{threshold: 1, bin: 1 << 20, batches: 5},        // blocks above the threshold: as they are
		{threshold: 1 << 20, bin: 1 << 20, batches: 1},  // all into one bin
		{threshold: 1 << 20, bin: 3 * 1010, batches: 2}, // bins of 3 blocks of 1010 bytes
		{threshold: 1 << 20, bin: 10, batches: 5},       // each block larger than a bin
	} {
		o := fakeOptions(f, "s")
		o.InitialPosition = InitialPosition{Kind: TrimHorizon}
		o.MaxRecordsPerFetch = 10
		o.CoalesceThresholdBlockSize, o.CoalesceBinSize = tt.threshold, tt.bin
		o.MaxFetchDuration = time.Hour
		o.FetchBufferSize = 50 * 101 // full at the end: everything is released at once
		s, _ := openSource(t, o)
		start, err := s.InitialOffset(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var end sources.Offset
		deadline := time.Now().Add(10 * time.Second)
		for {
			if end, err = s.LatestOffset(t.Context(), start, sources.ReadLimit{}); err != nil {
				t.Fatal(err)
			}
			if e, _ := decodeOffset(end); e.streams["s"].shards["shardId-000000000000"].kind == posAfter && s.Metrics(nil)["numPrefetchedRecords"] == "50" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("timeout")
			}
			time.Sleep(10 * time.Millisecond)
		}
		var n, rows int
		err = s.Read(t.Context(), start, end, func(rec arrow.RecordBatch) error {
			n++
			rows += int(rec.NumRows())
			return nil
		})
		if err != nil || rows != 50 || n != tt.batches {
			t.Errorf("threshold %d bin %d: %d batches, %d rows, %v; want %d batches", tt.threshold, tt.bin, n, rows, err, tt.batches)
		}
		s.Close(t.Context())
	}
}

// TestFakeAvailableNowBatchHoldsEveryShard: under AvailableNow, AwaitAvailableNowBatch waits
// until every shard that can be read has data for the batch, so that a shard whose first
// answer comes late is not left out of the batch (LatestOffset alone offers the first shard
// read up to the recorded time); then each batch holds both shards until one is read through.
func TestFakeAvailableNowBatchHoldsEveryShard(t *testing.T) {
	f := newFakeAPI()
	f.create("s", 2)
	past := time.Now().Add(-time.Minute)
	for i := range 2 {
		id := fmt.Sprintf("shardId-%012d", i)
		for j := range 30 {
			f.put("s", id, past, "k", []byte(fmt.Sprintf("r-%d-%02d", i, j)))
		}
		// A record after the recorded time: the first answer that holds it ends the shard's
		// AvailableNow reading at once.
		f.put("s", id, time.Now().Add(time.Hour), "k", []byte("later"))
	}
	var delayed atomic.Bool
	f.hook = func(op string, in any) error {
		if g, ok := in.(*kinesis.GetRecordsInput); ok && strings.Contains(aws.ToString(g.ShardIterator), "shardId-000000000001") && delayed.CompareAndSwap(false, true) {
			time.Sleep(time.Second) // the second shard's first answer comes late
		}
		return nil
	}
	o := fakeOptions(f, "s")
	o.InitialPosition = InitialPosition{Kind: TrimHorizon}
	o.MaxRecordsPerFetch = 100
	o.MaxFetchDuration = time.Hour // only AvailableNow (or a full buffer) releases data here
	s, _ := openSource(t, o)
	if err := s.PrepareForAvailableNow(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cur, err := s.InitialOffset(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var all []row
	for batch := 0; ; batch++ {
		if err := s.AwaitAvailableNowBatch(ctx, cur); err != nil {
			t.Fatal(err)
		}
		got, end := step(t, ctx, s, cur)
		if bytes.Equal(end, cur) {
			break
		}
		if batch == 0 {
			shards := map[string]int{}
			for _, r := range got {
				shards[r.ShardID]++
			}
			if len(shards) != 2 {
				t.Errorf("the first batch holds %v; want rows of both shards", shards)
			}
		}
		all = append(all, got...)
		cur = end
	}
	if len(all) != 60 {
		t.Errorf("%d rows in all; want 60", len(all))
	}
}
