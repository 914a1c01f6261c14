package kinesis

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/sluicedev/sluice/internal/testkit"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicedev/sluice/internal/localaws"
	"github.com/sluicedev/sluice/sources"
)

// row is one emitted row, as Go values.
type row struct {
	PartitionKey string
	Data         string
	Stream       string
	ShardID      string
	Seq          string
	Arrival      time.Time
}

func rowsOf(rec arrow.RecordBatch) []row {
	out := make([]row, rec.NumRows())
	pk := rec.Column(colPartitionKey).(*array.String)
	d := rec.Column(colData).(*array.Binary)
	st := rec.Column(colStream).(*array.String)
	sh := rec.Column(colShardID).(*array.String)
	sq := rec.Column(colSequenceNumber).(*array.String)
	ts := rec.Column(colArrival).(*array.Timestamp)
	for i := range out {
		out[i] = row{pk.Value(i), string(d.Value(i)), st.Value(i), sh.Value(i), sq.Value(i), ts.Value(i).ToTime(arrow.Microsecond).UTC()}
	}
	return out
}

// fastOptions are options for tests: short waits everywhere.
func fastOptions(endpoint string, streams ...string) Options {
	o := DefaultOptions()
	o.StreamNames = streams
	cfg := localaws.AWSConfig(endpoint)
	o.AWSConfig = &cfg
	o.MinFetchPeriod = MinFetchPeriodLimit
	o.MaxFetchDuration = 50 * time.Millisecond
	o.ShardFetchInterval = 200 * time.Millisecond
	o.MaxFetchRate = MaxFetchRateLimit
	return o
}

// openSource builds and opens a source with a checked allocator; cleanup closes it and checks
// for leaks.
func openSource(t *testing.T, o Options) (*Source, *memory.CheckedAllocator) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Open(ctx, sources.Info{Allocator: mem, Logger: testkit.Logger(t)}); err != nil {
		s.Close(context.Background())
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close(context.Background())
		mem.AssertSize(t, 0)
	})
	return s, mem
}

// step runs one micro-batch of the protocol on s from start: LatestOffset, Read, Commit. It
// returns the rows and the end.
func step(t *testing.T, ctx context.Context, s *Source, start sources.Offset) ([]row, sources.Offset) {
	t.Helper()
	end, err := s.LatestOffset(ctx, start, sources.ReadLimit{})
	if err != nil {
		t.Fatalf("LatestOffset: %v", err)
	}
	if bytes.Equal(end, start) {
		return nil, end
	}
	rows, err := read(ctx, s, start, end)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if err := s.Commit(ctx, end); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return rows, end
}

func read(ctx context.Context, s *Source, start, end sources.Offset) ([]row, error) {
	var rows []row
	var mu = make(chan struct{}, 1)
	err := s.Read(ctx, start, end, func(rec arrow.RecordBatch) error {
		if !rec.Schema().Equal(Schema) {
			return fmt.Errorf("batch schema %s", rec.Schema())
		}
		mu <- struct{}{}
		rows = append(rows, rowsOf(rec)...)
		<-mu
		return nil
	})
	return rows, err
}

// readUntil runs micro-batches from start until n rows have been read or the deadline passes.
func readUntil(t *testing.T, s *Source, start sources.Offset, n int, timeout time.Duration) ([]row, sources.Offset) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var all []row
	cur := start
	for len(all) < n {
		rows, end := step(t, ctx, s, cur)
		all = append(all, rows...)
		cur = end
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d rows before the deadline", len(all), n)
		}
		if rows == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return all, cur
}

// records makes n records with keys k0..k(keys-1) and data "prefix-i".
func records(prefix string, n, keys int) []localaws.Record {
	out := make([]localaws.Record, n)
	for i := range out {
		out[i] = localaws.Record{PartitionKey: fmt.Sprintf("k%d", i%keys), Data: []byte(fmt.Sprintf("%s-%06d", prefix, i))}
	}
	return out
}

// checkExactlyOnce checks that rows hold each of want's data exactly once, and that each key's
// rows come in the order they were written.
func checkExactlyOnce(t *testing.T, rows []row, want []localaws.Record) {
	t.Helper()
	count := map[string]int{}
	for _, r := range rows {
		count[r.Data]++
	}
	missing, dup := 0, 0
	for _, w := range want {
		switch count[string(w.Data)] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
	}
	if missing > 0 || dup > 0 || len(rows) != len(want) {
		t.Fatalf("%d rows for %d records: %d missing, %d duplicated", len(rows), len(want), missing, dup)
	}
	// Per partition key, rows come in the order the records were written.
	index := make(map[string]int, len(want))
	for i, w := range want {
		index[string(w.Data)] = i
	}
	last := map[string]int{}
	for i, r := range rows {
		if prev, ok := last[r.PartitionKey]; ok && index[r.Data] < prev {
			t.Fatalf("row %d: key %s: %q (written as record %d) after record %d", i, r.PartitionKey, r.Data, index[r.Data], prev)
		}
		last[r.PartitionKey] = index[r.Data]
	}
}

// checkKeyOrder checks that, per partition key, data values increase in row order.
func checkKeyOrder(t *testing.T, rows []row) {
	t.Helper()
	last := map[string]string{}
	for i, r := range rows {
		if prev, ok := last[r.PartitionKey]; ok && r.Data <= prev {
			t.Fatalf("row %d: key %s: %q after %q", i, r.PartitionKey, r.Data, prev)
		}
		last[r.PartitionKey] = r.Data
	}
}

func sortedData(rows []row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Data
	}
	sort.Strings(out)
	return out
}

var _ = kinesis.NewFromConfig

// newChecked returns a checked allocator that the test's cleanup checks for leaks (after the
// cleanups registered later, such as closing a source, have run).
func newChecked(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

var sourcesReadLimit = sources.ReadLimit{}

func openInfo(t testing.TB, mem memory.Allocator) sources.Info {
	return sources.Info{Allocator: mem, Logger: testkit.Logger(t)}
}

func encode64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func fmtSscan(s string, v *int) (int, error) { return fmt.Sscan(s, v) }
