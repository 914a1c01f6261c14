package kinesis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/sluicedev/sluice/sources"
)

// TestCloseWhileGettingIterator: Close returns while a prefetching task is asking for a shard
// iterator. Once the source is closed, fetchError drops a failed call without a backoff, so the
// task must notice the closing itself instead of asking again at once, forever.
func TestCloseWhileGettingIterator(t *testing.T) {
	f := newFakeAPI()
	f.create("s", 1)
	f.put("s", "shardId-000000000000", time.Now(), "k", []byte("a"))
	// entered has room for one signal: the hook must not drop it when the test is not yet
	// waiting (an unbuffered channel with a non-blocking send hung CI once).
	entered, release := make(chan struct{}, 1), make(chan struct{})
	f.hook = func(op string, _ any) error {
		if op != "GetShardIterator" {
			return nil
		}
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		return errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: use of closed network connection")
	}
	o := fakeOptions(f, "s")
	o.InitialPosition = InitialPosition{Kind: TrimHorizon}
	mem := newChecked(t)
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(t.Context(), openInfo(t, mem)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InitialOffset(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no GetShardIterator call within 10s")
	}
	closed := make(chan struct{})
	go func() {
		s.Close(context.Background())
		close(closed)
	}()
	time.Sleep(20 * time.Millisecond) // let Close mark the source closed
	close(release)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
}

// TestPrefetchReservesInFlightCalls: with many prefetching tasks, the buffer stops growing
// about one answer above FetchBufferSize: each GetRecords call in flight reserves its share
// of the buffer before it starts, so the tasks do not all add an answer to a buffer that was
// nearly full when they started.
func TestPrefetchReservesInFlightCalls(t *testing.T) {
	const (
		shards    = 8
		perFetch  = 10
		dataBytes = 100
		answer    = perFetch * (dataBytes + 1) // data plus the partition key "k"
	)
	f := newFakeAPI()
	f.create("s", shards)
	data := make([]byte, dataBytes)
	for i := range shards {
		for range 6 * perFetch {
			f.put("s", fmt.Sprintf("shardId-%012d", i), time.Now().Add(-time.Minute), "k", data)
		}
	}
	var inFlight, most atomic.Int64
	f.hook = func(op string, _ any) error {
		if op != "GetRecords" {
			return nil
		}
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(20 * time.Millisecond) // the calls overlap
		inFlight.Add(-1)
		return nil
	}
	o := fakeOptions(f, "s")
	o.InitialPosition = InitialPosition{Kind: TrimHorizon}
	o.MaxRecordsPerFetch = perFetch
	o.MaxFetchDuration = time.Hour
	o.ShardsPerTask = 1
	o.FetchBufferSize = 3*answer + answer/2
	s, _ := openSource(t, o)
	if _, err := s.InitialOffset(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Nothing is read: prefetching fills the buffer and stops.
	last, stable := -1, 0
	deadline := time.Now().Add(30 * time.Second)
	for stable < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("GetRecords calls did not stop within 30s (%d so far)", last)
		}
		time.Sleep(20 * time.Millisecond)
		if n := f.count("GetRecords"); n == last {
			stable++
		} else {
			last, stable = n, 0
		}
	}
	s.mu.Lock()
	buffered, inflight := s.bufBytes, s.m.inflight.Load()
	s.mu.Unlock()
	if max := o.FetchBufferSize + answer; buffered > max || buffered < o.FetchBufferSize {
		t.Errorf("buffered %d bytes with FetchBufferSize %d; want at most one answer (%d bytes) more", buffered, o.FetchBufferSize, answer)
	}
	if inflight != 0 {
		t.Errorf("%d bytes still reserved with no call in flight", inflight)
	}
	if most.Load() > 4 {
		t.Errorf("%d GetRecords calls at once; the buffer had room for 4 answers", most.Load())
	}
}

// TestDiscoveryRetriesThrottlingWithoutLimit: throttled DescribeStreamSummary and ListShards
// calls (many queries listing at once exceed their account-wide rate) are retried without
// limit, as the package documents, while transient failures stop Open after
// openTransientFailures in a row (maxTransientFailures once the query runs).
func TestDiscoveryRetriesThrottlingWithoutLimit(t *testing.T) {
	defer func(b func(int) time.Duration) { retryBackoff = b }(retryBackoff)
	retryBackoff = func(int) time.Duration { return time.Millisecond }
	for _, tt := range []struct {
		name   string
		fault  error
		faults int
		ok     bool
	}{
		{"throttled", &types.LimitExceededException{Message: aws.String("Rate exceeded")}, 3 * maxTransientFailures, true},
		// While opening, transient failures stop Start sooner (openTransientFailures).
		{"transient, fewer than the limit", &types.InternalFailureException{Message: aws.String("oops")}, openTransientFailures - 1, true},
		{"transient, the limit", &types.InternalFailureException{Message: aws.String("oops")}, openTransientFailures, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI()
			f.create("s", 1)
			var n atomic.Int64
			f.hook = func(op string, _ any) error {
				if op != "DescribeStreamSummary" && op != "ListShards" {
					return nil
				}
				if n.Add(1) <= int64(tt.faults) {
					return tt.fault
				}
				return nil
			}
			s, err := New(fakeOptions(f, "s"))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Open(t.Context(), openInfo(t, newChecked(t)))
			defer s.Close(context.Background())
			if (err == nil) != tt.ok {
				t.Fatalf("Open after %d faults: %v; want ok=%v", tt.faults, err, tt.ok)
			}
			if tt.ok && tt.name == "throttled" {
				if got := s.Metrics(nil)["numThrottled"]; got != fmt.Sprint(tt.faults) {
					t.Errorf("numThrottled %s; want %d", got, tt.faults)
				}
			}
		})
	}
}

// TestAwaitAvailableNowFullBuffer: Trigger.Once's wait for everything available ends when
// fetchBufferSize is full (prefetching has paused until a commit), so a stream larger than the
// buffer gives one batch of what the buffer holds instead of a wait that never ends.
func TestAwaitAvailableNowFullBuffer(t *testing.T) {
	f := newFakeAPI()
	f.create("s", 1)
	for i := range 50 {
		f.put("s", "shardId-000000000000", time.Now().Add(-time.Minute), "k", bytes.Repeat([]byte{byte(i)}, 100))
	}
	o := fakeOptions(f, "s")
	o.InitialPosition = InitialPosition{Kind: TrimHorizon}
	o.MaxRecordsPerFetch = 5
	o.FetchBufferSize = 1000
	s, _ := openSource(t, o)
	start, err := s.InitialOffset(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PrepareForAvailableNow(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.AwaitAvailableNow(ctx, start); err != nil {
		t.Fatalf("AwaitAvailableNow: %v (with the buffer full, it must return)", err)
	}
	end, err := s.LatestOffset(ctx, start, sources.ReadLimit{})
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	if err := s.Read(ctx, start, end, func(rec arrow.RecordBatch) error { rows += int(rec.NumRows()); return nil }); err != nil {
		t.Fatal(err)
	}
	if rows == 0 || rows >= 50 {
		t.Errorf("one batch of %d rows; want what about 1000 bytes of buffer hold (about 10 of the 50)", rows)
	}
}
