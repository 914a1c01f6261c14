package kinesis_test

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicedev/sluice/internal/testkit"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/internal/localaws"
	"github.com/sluicedev/sluice/sinks/kinesis"
)

// TestRoundTrip writes rows (some with explicit hash keys) in several Write calls and reads
// back exactly those rows, once each, on both local servers; rows with an explicit hash key
// land on the shard whose range holds it.
func TestRoundTrip(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			mem := testkit.CheckedAlloc(t)
			ep := srv.endpoint(t)
			client := localaws.KinesisClient(t, ep)
			stream := localaws.CreateStream(t, client, 2)
			rows := makeRows("rt", 300, 40)
			rows[5].EHK = "0"
			rows[6].EHK = "340282366920938463463374607431768211455"
			s := openSink(t, mem, ep, stream, nil, nil)
			if err := write(t, mem, s, 0, rows, 70); err != nil {
				t.Fatal(err)
			}
			m := s.Metrics()
			if m["recordsSent"] != "300" || m["kinesisRecordsSent"] != "300" || m["recordsRetried"] != "0" {
				t.Errorf("metrics %v", m)
			}
			got := readAll(t, client, stream)
			want := rowsOf(nil, nil)
			for _, r := range rows {
				want = append(want, row{PK: r.PK, Data: r.Data})
			}
			sortRows(want)
			if diff := cmp.Diff(want, rowsOf(got, nil)); diff != "" {
				t.Errorf("rows read back (-want +got):\n%s", diff)
			}
			shardOf := map[string]string{}
			for _, r := range got {
				shardOf[r.PK] = r.shard
			}
			if shardOf[rows[5].PK] == shardOf[rows[6].PK] {
				t.Errorf("rows with explicit hash keys 0 and 2^128-1 are on the same shard %s", shardOf[rows[5].PK])
			}
		})
	}
}

// TestRoundTripAggregated writes with aggregationEnabled to a 3-shard stream: fewer Kinesis
// records than rows, every row read back once after de-aggregation, and every aggregate holds
// only rows of its own shard (a KCL consumer keeps them all).
func TestRoundTripAggregated(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			mem := testkit.CheckedAlloc(t)
			ep := srv.endpoint(t)
			client := localaws.KinesisClient(t, ep)
			stream := localaws.CreateStream(t, client, 3)
			rows := makeRows("agg", 2000, 100)
			rows[10].Data = strings.Repeat("L", 60000) // too large to aggregate: sent alone
			s := openSink(t, mem, ep, stream, nil, func(o *kinesis.Options) {
				o.AggregationEnabled = true
				o.AggregationMaxSize = 20000
			})
			if err := write(t, mem, s, 0, rows, 500); err != nil {
				t.Fatal(err)
			}
			got := readAll(t, client, stream)
			want := rowsOf(nil, nil)
			for _, r := range rows {
				want = append(want, row{PK: r.PK, Data: r.Data})
			}
			sortRows(want)
			if diff := cmp.Diff(want, rowsOf(got, nil)); diff != "" {
				t.Errorf("rows read back (-want +got):\n%s", diff)
			}
			seqs := map[string]bool{}
			for _, r := range got {
				seqs[r.shard+"/"+r.seq] = true
				if !r.inRange {
					t.Errorf("row %s is in an aggregate on %s that a KCL consumer would drop", r.PK, r.shard)
				}
				if r.PK == rows[10].PK && r.aggregated {
					t.Errorf("the 60000-byte row was aggregated")
				}
			}
			m := s.Metrics()
			if k, _ := strconv.Atoi(m["kinesisRecordsSent"]); k != len(seqs) || k >= 200 || m["recordsSent"] != "2000" {
				t.Errorf("metrics %v; %d Kinesis records read; want about 2000*120/20000", m, len(seqs))
			}
		})
	}
}

// TestThrottling injects whole-call throttling and partial PutRecords failures
// (ProvisionedThroughputExceededException on entries, taken out before the server sees them):
// the sink retries only what failed, and the stream holds every row exactly once.
func TestThrottling(t *testing.T) {
	for _, aggregate := range []bool{false, true} {
		t.Run(fmt.Sprintf("aggregation=%v", aggregate), func(t *testing.T) {
			t.Parallel()
			mem := testkit.CheckedAlloc(t)
			ep := localaws.KinesaliteEndpoint(t)
			client := localaws.KinesisClient(t, ep)
			stream := localaws.CreateStream(t, client, 2)
			ft := newFaultTransport()
			ft.throttleCall = func(n int) bool { return n%5 == 1 } // every fifth call refused
			failedKeys := map[string]int{}
			ft.failEntry = func(n, i int, key string) bool {
				// About a third of the entries fail, each at most three times.
				if (n+i)%3 == 0 && failedKeys[key] < 3 {
					failedKeys[key]++
					return true
				}
				return false
			}
			rows := makeRows("thr", 3000, 50)
			s := openSink(t, mem, ep, stream, ft, func(o *kinesis.Options) {
				o.AggregationEnabled = aggregate
				o.AggregationMaxSize = 2000
				o.MaxInFlightRequests = 3
			})
			if err := write(t, mem, s, 0, rows, 400); err != nil {
				t.Fatal(err)
			}
			want := rowsOf(nil, nil)
			for _, r := range rows {
				want = append(want, row{PK: r.PK, Data: r.Data})
			}
			sortRows(want)
			if diff := cmp.Diff(want, rowsOf(readAll(t, client, stream), nil)); diff != "" {
				t.Errorf("rows read back (-want +got):\n%s", diff)
			}
			m := s.Metrics()
			retried, _ := strconv.Atoi(m["recordsRetried"])
			throttled, _ := strconv.Atoi(m["recordsThrottled"])
			if retried == 0 || throttled == 0 || m["recordsSent"] != "3000" {
				t.Errorf("metrics %v; want retries and throttling counted", m)
			}
			t.Logf("%d PutRecords calls; metrics %v", len(ft.seen()), m)
		})
	}
}

// TestRetriesBounded: when entries keep failing, the batch fails after maxAttempts tries of
// them, naming the problem, instead of dropping them or retrying forever.
func TestRetriesBounded(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	ep := localaws.KinesaliteEndpoint(t)
	client := localaws.KinesisClient(t, ep)
	stream := localaws.CreateStream(t, client, 1)
	ft := newFaultTransport()
	ft.failEntry = func(n, i int, key string) bool { return key == "bad-key-3" }
	rows := makeRows("bad", 10, 10)
	s := openSink(t, mem, ep, stream, ft, func(o *kinesis.Options) { o.MaxAttempts = 4 })
	err := write(t, mem, s, 0, rows, 10)
	if err == nil || !strings.Contains(err.Error(), "1 of 10 records still failing after 4 tries (row 3 first); last error ProvisionedThroughputExceededException") {
		t.Fatalf("Commit: %v; want a failure after 4 tries", err)
	}
	if n := len(ft.seen()); n != 4 {
		t.Errorf("%d PutRecords calls; want 4", n)
	}
	ft.throttleCall = func(int) bool { return true }
	err = write(t, mem, s, 1, rows[:2], 10)
	if err == nil || !strings.Contains(err.Error(), "still failing after 4 tries") || !strings.Contains(err.Error(), "ProvisionedThroughputExceededException") {
		t.Fatalf("Commit: %v; want a failure after 4 tries", err)
	}
}

// TestLimits: requests never exceed 500 records or 5 MiB (the 501st record goes to the next
// request), and a record over 1 MiB fails the batch with an error naming its row before any
// request carries it.
func TestLimits(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	ep := localaws.KinesaliteEndpoint(t)
	client := localaws.KinesisClient(t, ep)
	stream := localaws.CreateStream(t, client, 2)

	t.Run("records", func(t *testing.T) {
		ft := newFaultTransport()
		s := openSink(t, mem, ep, stream, ft, nil)
		if err := write(t, mem, s, 0, makeRows("n", 1201, 8), 1201); err != nil {
			t.Fatal(err)
		}
		var sizes []int
		for _, c := range ft.seen() {
			sizes = append(sizes, c.entries)
		}
		slices.Sort(sizes) // requests run concurrently
		if diff := cmp.Diff([]int{201, 500, 500}, sizes); diff != "" {
			t.Errorf("records per PutRecords call (-want +got):\n%s", diff)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		ft := newFaultTransport()
		s := openSink(t, mem, ep, stream, ft, nil)
		rows := makeRows("b", 20, 300<<10)
		if err := write(t, mem, s, 1, rows, 7); err != nil {
			t.Fatal(err)
		}
		var sizes []int
		for _, c := range ft.seen() {
			sizes = append(sizes, c.entries)
			if c.bytes > kinesis.MaxBytesPerRequest {
				t.Errorf("a PutRecords call of %d bytes", c.bytes)
			}
		}
		slices.Sort(sizes)
		if diff := cmp.Diff([]int{3, 17}, sizes); diff != "" { // 17 records of 300 KiB fit in 5 MiB
			t.Errorf("records per PutRecords call (-want +got):\n%s", diff)
		}
	})
	t.Run("oversize record", func(t *testing.T) {
		ft := newFaultTransport()
		s := openSink(t, mem, ep, stream, ft, nil)
		rows := makeRows("big", 20, 10)
		rows[7].Data = strings.Repeat("x", kinesis.MaxRecordSize-len(rows[7].PK)+1)
		err := write(t, mem, s, 2, rows, 5)
		var re *kinesis.RecordError
		if !errors.As(err, &re) || re.Row != 7 || re.BatchID != 2 || re.PartitionKey != "big-key-7" || !errors.Is(err, kinesis.ErrRecordTooLarge) {
			t.Fatalf("Write: %v; want a RecordError for row 7", err)
		}
		if want := `kinesis sink: batch 2, row 7 (partition key "big-key-7"): data of 1048568 bytes plus partition key of 9 bytes make 1048577 bytes, over the 1048576-byte Kinesis record limit: record too large`; err.Error() != want {
			t.Errorf("error:\n%s\nwant\n%s", err, want)
		}
		for _, c := range ft.seen() {
			for _, k := range c.keys {
				if k == "big-key-7" {
					t.Errorf("the oversize record reached the server")
				}
			}
		}
	})
}
