package rate_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/sources"
	"github.com/sluicedev/sluice/sources/rate"
)

// start is row 0's time in the tests: a whole millisecond, as offsets keep milliseconds.
var start = time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC)

// clock is a fake Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func newChecked(t *testing.T) *memory.CheckedAllocator {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// newRate returns an opened "rate" source whose clock starts at start.
func newRate(t *testing.T, mem memory.Allocator, o rate.Options) (*rate.Source, *clock) {
	t.Helper()
	c := &clock{t: start}
	o.Now = c.Now
	src, err := rate.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(context.Background(), sources.Info{Allocator: mem}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close(context.Background()) })
	return src, c
}

func newMicroBatch(t *testing.T, mem memory.Allocator, o rate.MicroBatchOptions) *rate.MicroBatch {
	t.Helper()
	src, err := rate.NewMicroBatch(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(context.Background(), sources.Info{Allocator: mem}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close(context.Background()) })
	return src
}

func off(startMs, rows int64) sources.Offset {
	return sources.Offset(fmt.Sprintf(`{"startMs":%d,"rows":%d}`, startMs, rows))
}

// row is one emitted row; batch numbers the Arrow batch that held it.
type row struct {
	Value int64
	TS    time.Time
}

// chunk is one emitted Arrow batch: its rows' first and last value.
type chunk struct{ First, Last int64 }

type result struct {
	rows   []row // sorted by value
	chunks []chunk
}

// read reads [from, to) and collects what was emitted, checking each batch's schema and that
// its values are contiguous. emit may be called concurrently; it borrows the batch.
func read(t *testing.T, src sources.Source, from, to sources.Offset) result {
	t.Helper()
	var mu sync.Mutex
	var res result
	err := src.Read(context.Background(), from, to, func(rec arrow.RecordBatch) error {
		if !rec.Schema().Equal(rate.Schema) {
			return fmt.Errorf("batch schema %s", rec.Schema())
		}
		ts := rec.Column(0).(*array.Timestamp)
		vs := rec.Column(1).(*array.Int64)
		mu.Lock()
		defer mu.Unlock()
		for i := range int(rec.NumRows()) {
			if ts.IsNull(i) || vs.IsNull(i) {
				return fmt.Errorf("null at row %d", i)
			}
			if i > 0 && vs.Value(i) != vs.Value(i-1)+1 {
				return fmt.Errorf("values %d then %d in one batch", vs.Value(i-1), vs.Value(i))
			}
			res.rows = append(res.rows, row{vs.Value(i), ts.Value(i).ToTime(arrow.Microsecond).UTC()})
		}
		if rec.NumRows() > 0 {
			res.chunks = append(res.chunks, chunk{vs.Value(0), vs.Value(int(rec.NumRows()) - 1)})
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Read(%s, %s): %v", from, to, err)
	}
	slices.SortFunc(res.rows, func(a, b row) int { return int(a.Value - b.Value) })
	slices.SortFunc(res.chunks, func(a, b chunk) int { return int(a.First - b.First) })
	return res
}

// rowsOf returns the row count of an offset.
func rowsOf(t *testing.T, o sources.Offset) int64 {
	t.Helper()
	var startMs, rows int64
	if _, err := fmt.Sscanf(string(o), `{"startMs":%d,"rows":%d}`, &startMs, &rows); err != nil {
		t.Fatalf("offset %s: %v", o, err)
	}
	return rows
}

func latest(t *testing.T, src sources.Source, from sources.Offset, limit sources.ReadLimit) sources.Offset {
	t.Helper()
	end, err := src.LatestOffset(context.Background(), from, limit)
	if err != nil {
		t.Fatal(err)
	}
	return end
}

func TestRateInitialOffset(t *testing.T) {
	mem := newChecked(t)
	src, _ := newRate(t, mem, rate.DefaultOptions())
	got, err := src.InitialOffset(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := off(start.UnixMilli(), 0); string(got) != string(want) {
		t.Errorf("InitialOffset = %s; want %s", got, want)
	}
	// No time has passed: no rows yet, and LatestOffset returns start itself.
	if end := latest(t, src, got, sources.ReadLimit{}); string(end) != string(got) {
		t.Errorf("LatestOffset at the start = %s; want %s", end, got)
	}
}

func TestRateRows(t *testing.T) {
	mem := newChecked(t)
	src, clk := newRate(t, mem, rate.Options{RowsPerSecond: 10, NumPartitions: 1})
	s0 := start.UnixMilli()
	clk.Set(start.Add(2500 * time.Millisecond))
	end := latest(t, src, off(s0, 0), sources.ReadLimit{})
	if want := off(s0, 25); string(end) != string(want) {
		t.Fatalf("LatestOffset after 2.5s at 10 rows/s = %s; want %s", end, want)
	}
	got := read(t, src, off(s0, 0), end).rows
	var want []row
	for i := range int64(25) {
		want = append(want, row{i, start.Add(time.Duration(i) * 100 * time.Millisecond)})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	// The timestamps come from the offsets, not from the clock: a later read, or another
	// instance after a restart, yields the same rows.
	clk.Set(start.Add(time.Hour))
	again, _ := newRate(t, mem, rate.Options{RowsPerSecond: 10, NumPartitions: 3})
	for _, s := range []*rate.Source{src, again} {
		if diff := cmp.Diff(got, read(t, s, off(s0, 0), end).rows); diff != "" {
			t.Errorf("second read differs (-first +second):\n%s", diff)
		}
	}
	// A sub-range is the same as that part of the whole.
	if diff := cmp.Diff(got[7:19], read(t, src, off(s0, 7), off(s0, 19)).rows); diff != "" {
		t.Errorf("rows [7, 19) (-want +got):\n%s", diff)
	}
	// An empty or reversed range emits nothing.
	if r := read(t, src, off(s0, 5), off(s0, 5)); len(r.rows) != 0 {
		t.Errorf("empty range emitted %v", r.rows)
	}
}

func TestRateRampUp(t *testing.T) {
	mem := newChecked(t)
	// 10 rows/s reached after 4 s: rows(t) = 10 t²/8 until then, 10 (t - 2) after.
	src, clk := newRate(t, mem, rate.Options{RowsPerSecond: 10, RampUpTime: 4 * time.Second, NumPartitions: 2})
	s0 := start.UnixMilli()
	for _, tt := range []struct {
		after time.Duration
		rows  int64
	}{
		{0, 0}, {-time.Second, 0}, {time.Second, 1}, {2 * time.Second, 5}, {3 * time.Second, 11},
		{4 * time.Second, 20}, {5 * time.Second, 30}, {10 * time.Second, 80}, {time.Hour, 35980},
	} {
		clk.Set(start.Add(tt.after))
		if got, want := latest(t, src, off(s0, 0), sources.ReadLimit{}), off(s0, tt.rows); string(got) != string(want) {
			t.Errorf("LatestOffset %v after the start = %s; want %s", tt.after, got, want)
		}
	}

	rows := read(t, src, off(s0, 0), off(s0, 200)).rows
	// Exact times: row i at sqrt(0.8 i) s during the ramp, i/10 + 2 s after.
	for i, want := range map[int]time.Duration{0: 0, 5: 2 * time.Second, 20: 4 * time.Second, 30: 5 * time.Second, 1: 894427 * time.Microsecond, 199: 21900 * time.Millisecond} {
		if got := rows[i].TS.Sub(start); got != want {
			t.Errorf("row %d at %v; want %v", i, got, want)
		}
	}
	// Timestamps and row counts are inverses: row i's timestamp is when the count reaches i.
	// (Timestamps are microseconds; the exact time lies in [ts, ts+1µs).)
	for i, r := range rows {
		if i > 0 && r.TS.Before(rows[i-1].TS) {
			t.Fatalf("row %d at %v is before row %d at %v", i, r.TS, i-1, rows[i-1].TS)
		}
		if i > 0 {
			clk.Set(r.TS.Add(-time.Microsecond))
			if n := rowsOf(t, latest(t, src, off(s0, 0), sources.ReadLimit{})); n >= int64(i) {
				t.Errorf("just before row %d's timestamp the count is %d; want at most %d", i, n, i-1)
			}
		}
		clk.Set(r.TS.Add(2 * time.Microsecond))
		if n := rowsOf(t, latest(t, src, off(s0, 0), sources.ReadLimit{})); n < int64(i) {
			t.Errorf("just after row %d's timestamp the count is %d; want at least %d", i, n, i)
		}
	}
}

// TestRateNoFutureTimestamps checks that rows available at a time never carry a later
// timestamp, at many times through and after a ramp-up.
func TestRateNoFutureTimestamps(t *testing.T) {
	mem := newChecked(t)
	src, clk := newRate(t, mem, rate.Options{RowsPerSecond: 7, RampUpTime: 3 * time.Second, NumPartitions: 1})
	s0 := start.UnixMilli()
	for ms := int64(0); ms <= 8000; ms += 37 {
		now := start.Add(time.Duration(ms) * time.Millisecond)
		clk.Set(now)
		end := latest(t, src, off(s0, 0), sources.ReadLimit{})
		rows := read(t, src, off(s0, 0), end).rows
		if len(rows) > 0 && rows[len(rows)-1].TS.After(now) {
			t.Fatalf("at %v, row %d has timestamp %v", now, rows[len(rows)-1].Value, rows[len(rows)-1].TS)
		}
	}
}

func TestRatePartitions(t *testing.T) {
	tests := []struct {
		parts    int64
		from, to int64
		want     []chunk
	}{
		{1, 0, 10, []chunk{{0, 9}}},
		{3, 10, 20, []chunk{{10, 12}, {13, 15}, {16, 19}}},
		{4, 0, 8, []chunk{{0, 1}, {2, 3}, {4, 5}, {6, 7}}},
		{5, 100, 102, []chunk{{100, 100}, {101, 101}}}, // no empty partitions
		{2, 0, 1, []chunk{{0, 0}}},
		// A partition emits Arrow batches of at most 65536 rows.
		{1, 0, 100000, []chunk{{0, 65535}, {65536, 99999}}},
		{2, 0, 140000, []chunk{{0, 65535}, {65536, 69999}, {70000, 135535}, {135536, 139999}}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d partitions [%d,%d)", tt.parts, tt.from, tt.to), func(t *testing.T) {
			mem := newChecked(t)
			src, _ := newRate(t, mem, rate.Options{RowsPerSecond: 1, NumPartitions: tt.parts})
			mb := newMicroBatch(t, mem, rate.MicroBatchOptions{RowsPerBatch: 1, NumPartitions: tt.parts})
			for _, s := range []sources.Source{src, mb} {
				res := read(t, s, off(0, tt.from), off(0, tt.to))
				if diff := cmp.Diff(tt.want, res.chunks); diff != "" {
					t.Errorf("%s: Arrow batches (-want +got):\n%s", s.Description(), diff)
				}
				// Every value exactly once.
				if int64(len(res.rows)) != tt.to-tt.from {
					t.Fatalf("%d rows; want %d", len(res.rows), tt.to-tt.from)
				}
				for i, r := range res.rows {
					if r.Value != tt.from+int64(i) {
						t.Fatalf("row %d has value %d; want %d", i, r.Value, tt.from+int64(i))
					}
				}
			}
		})
	}
}

func TestRateEmitErrorStopsReading(t *testing.T) {
	mem := newChecked(t)
	const parts = 4
	src, _ := newRate(t, mem, rate.Options{RowsPerSecond: 1, NumPartitions: parts})
	boom := errors.New("downstream failed")
	var mu sync.Mutex
	emits := 0
	// 12 Arrow batches in all, 3 per partition.
	err := src.Read(context.Background(), off(0, 0), off(0, parts*3*65536), func(arrow.RecordBatch) error {
		mu.Lock()
		defer mu.Unlock()
		emits++
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("Read = %v; want the emit error", err)
	}
	if emits > parts {
		t.Errorf("emit called %d times after failing; want at most one call per partition (%d)", emits, parts)
	}

	// A cancelled context stops reading before any emit.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	emits = 0
	err = src.Read(ctx, off(0, 0), off(0, 10), func(arrow.RecordBatch) error { emits++; return nil })
	if !errors.Is(err, context.Canceled) || emits != 0 {
		t.Errorf("Read with a cancelled context = %v after %d emits", err, emits)
	}
}

func TestRateLimits(t *testing.T) {
	mem := newChecked(t)
	src, clk := newRate(t, mem, rate.Options{RowsPerSecond: 100, NumPartitions: 1, MaxRowsPerBatch: 30})
	s0 := start.UnixMilli()
	clk.Set(start.Add(time.Second)) // 100 rows exist
	if got := src.DefaultReadLimit(); got != (sources.ReadLimit{MaxRows: 30}) {
		t.Errorf("DefaultReadLimit = %+v", got)
	}
	var ends []string
	for from := off(s0, 0); ; {
		end := latest(t, src, from, src.DefaultReadLimit())
		if string(end) == string(from) {
			break
		}
		ends = append(ends, string(end))
		from = end
	}
	want := []string{string(off(s0, 30)), string(off(s0, 60)), string(off(s0, 90)), string(off(s0, 100))}
	if diff := cmp.Diff(want, ends); diff != "" {
		t.Errorf("batch ends (-want +got):\n%s", diff)
	}
	// An explicit limit, and none.
	if got := latest(t, src, off(s0, 10), sources.ReadLimit{MaxRows: 7}); string(got) != string(off(s0, 17)) {
		t.Errorf("LatestOffset with MaxRows 7 = %s", got)
	}
	if got := latest(t, src, off(s0, 10), sources.ReadLimit{}); string(got) != string(off(s0, 100)) {
		t.Errorf("LatestOffset with no limit = %s", got)
	}
	// A start past what the clock says (a clock that went back) is not undone.
	if got := latest(t, src, off(s0, 500), sources.ReadLimit{}); string(got) != string(off(s0, 500)) {
		t.Errorf("LatestOffset from 500 with 100 available = %s; want the start", got)
	}
	if got := (&rate.Source{}).DefaultReadLimit(); got != (sources.ReadLimit{}) {
		t.Errorf("DefaultReadLimit with no maxRowsPerBatch = %+v; want no limit", got)
	}
}

func TestRateAvailableNow(t *testing.T) {
	mem := newChecked(t)
	src, clk := newRate(t, mem, rate.Options{RowsPerSecond: 10, NumPartitions: 1})
	var _ sources.AvailableNow = src
	s0 := start.UnixMilli()
	clk.Set(start.Add(10 * time.Second)) // 100 rows exist
	if err := src.PrepareForAvailableNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	var ends []string
	for from := off(s0, 0); ; {
		end := latest(t, src, from, sources.ReadLimit{MaxRows: 40})
		if string(end) == string(from) {
			break
		}
		ends = append(ends, string(end))
		from = end
		clk.Set(clk.Now().Add(time.Minute)) // more rows appear, beyond the target
	}
	want := []string{string(off(s0, 40)), string(off(s0, 80)), string(off(s0, 100))}
	if diff := cmp.Diff(want, ends); diff != "" {
		t.Errorf("AvailableNow batch ends (-want +got):\n%s", diff)
	}
}

func TestRateInvalidOffsets(t *testing.T) {
	mem := newChecked(t)
	src, _ := newRate(t, mem, rate.DefaultOptions())
	mb := newMicroBatch(t, mem, rate.MicroBatchOptions{RowsPerBatch: 1, NumPartitions: 1})
	good := off(5, 0)
	for _, bad := range []string{`not json`, `{"startMs":5,"rows":-1}`, `[1]`, `{"startMs":"5","rows":0}`, ``,
		`{}`, `{"rows":3}`, `{"startMs":5}`, `{"startMs":5,"rows":3,"extra":1}`, `{"startMs":5,"rows":3} {}`, `null`} {
		want := fmt.Sprintf(`rate: invalid offset %q: want {"startMs": <ms>, "rows": <rows, at least 0>}`, bad)
		for _, s := range []sources.Source{src, mb} {
			if _, err := s.LatestOffset(context.Background(), sources.Offset(bad), sources.ReadLimit{}); err == nil || err.Error() != want {
				t.Errorf("%s: LatestOffset(%s) = %v; want %q", s.Description(), bad, err, want)
			}
			for _, r := range [][2]sources.Offset{{sources.Offset(bad), good}, {good, sources.Offset(bad)}} {
				err := s.Read(context.Background(), r[0], r[1], func(arrow.RecordBatch) error { return nil })
				if err == nil || err.Error() != want {
					t.Errorf("%s: Read(%s, %s) = %v; want %q", s.Description(), r[0], r[1], err, want)
				}
			}
		}
	}
	err := src.Read(context.Background(), off(5, 0), off(6, 3), func(arrow.RecordBatch) error { return nil })
	if want := `rate: offsets {"startMs":5,"rows":0} and {"startMs":6,"rows":3} have different start times`; err == nil || err.Error() != want {
		t.Errorf("Read across start times = %v; want %q", err, want)
	}
}

func TestMicroBatch(t *testing.T) {
	mem := newChecked(t)
	o := rate.MicroBatchOptions{RowsPerBatch: 5, NumPartitions: 2, StartTimestamp: 1_700_000_000_000, AdvanceMillisPerBatch: 250}
	src := newMicroBatch(t, mem, o)
	ctx := context.Background()
	init, err := src.InitialOffset(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := off(o.StartTimestamp, 0); string(init) != string(want) {
		t.Errorf("InitialOffset = %s; want %s", init, want)
	}
	// One batch of rowsPerBatch rows per call, whatever the limit (as in Spark).
	from := init
	for _, limit := range []sources.ReadLimit{{}, {MaxRows: 1}, {MaxRows: 100}} {
		end := latest(t, src, from, limit)
		if want := off(o.StartTimestamp, rowsOf(t, from)+5); string(end) != string(want) {
			t.Errorf("LatestOffset(%s, %+v) = %s; want %s", from, limit, end, want)
		}
		from = end
	}
	got := read(t, src, init, off(o.StartTimestamp, 12)).rows
	var want []row
	for i := range int64(12) {
		ms := o.StartTimestamp + (i/o.RowsPerBatch)*o.AdvanceMillisPerBatch
		want = append(want, row{i, time.UnixMilli(ms).UTC()})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	// Deterministic: the same range again, from another instance.
	other := newMicroBatch(t, mem, rate.MicroBatchOptions{RowsPerBatch: 5, NumPartitions: 1, StartTimestamp: 1, AdvanceMillisPerBatch: 250})
	if diff := cmp.Diff(got, read(t, other, init, off(o.StartTimestamp, 12)).rows); diff != "" {
		t.Errorf("second read (-first +second):\n%s", diff)
	}
	// advanceMillisPerBatch 0: every row at the start timestamp.
	flat := newMicroBatch(t, mem, rate.MicroBatchOptions{RowsPerBatch: 2, NumPartitions: 1, StartTimestamp: 0, AdvanceMillisPerBatch: 0})
	for _, r := range read(t, flat, off(0, 0), off(0, 7)).rows {
		if !r.TS.Equal(time.UnixMilli(0)) {
			t.Errorf("row %d at %v; want the epoch", r.Value, r.TS)
		}
	}
}

func TestMicroBatchAvailableNow(t *testing.T) {
	mem := newChecked(t)
	src := newMicroBatch(t, mem, rate.MicroBatchOptions{RowsPerBatch: 5, NumPartitions: 1, AdvanceMillisPerBatch: 1000})
	var _ sources.AvailableNow = src
	ctx := context.Background()
	from := latest(t, src, off(0, 0), sources.ReadLimit{}) // one batch before AvailableNow
	if err := src.PrepareForAvailableNow(ctx); err != nil {
		t.Fatal(err)
	}
	end := latest(t, src, from, sources.ReadLimit{})
	if want := off(0, 10); string(end) != string(want) {
		t.Errorf("first LatestOffset after PrepareForAvailableNow = %s; want %s", end, want)
	}
	for range 3 {
		if again := latest(t, src, end, sources.ReadLimit{}); string(again) != string(end) {
			t.Errorf("LatestOffset past the AvailableNow target = %s; want %s", again, end)
		}
	}
}

func TestValidate(t *testing.T) {
	rateTests := []struct {
		o   rate.Options
		err string
	}{
		{rate.DefaultOptions(), ""},
		{rate.Options{RowsPerSecond: 0, NumPartitions: 1}, "rate source: rowsPerSecond must be at least 1, got 0"},
		{rate.Options{RowsPerSecond: 1, NumPartitions: 0}, "rate source: numPartitions must be at least 1, got 0"},
		{rate.Options{RowsPerSecond: 1, NumPartitions: 1, RampUpTime: -1}, "rate source: rampUpTime and maxRowsPerBatch must not be negative"},
		{rate.Options{RowsPerSecond: 1, NumPartitions: 1, MaxRowsPerBatch: -1}, "rate source: rampUpTime and maxRowsPerBatch must not be negative"},
	}
	for _, tt := range rateTests {
		err := tt.o.Validate()
		if got := fmt.Sprint(err); (tt.err == "" && err != nil) || (tt.err != "" && got != tt.err) {
			t.Errorf("Validate(%+v) = %v; want %q", tt.o, err, tt.err)
		}
		if _, nerr := rate.New(tt.o); fmt.Sprint(nerr) != fmt.Sprint(err) {
			t.Errorf("New(%+v) = %v; want Validate's error", tt.o, nerr)
		}
	}
	const mbErr = "rate-micro-batch source: rowsPerBatch and numPartitions must be at least 1, startTimestamp and advanceMillisPerBatch not negative"
	mbTests := []struct {
		o   rate.MicroBatchOptions
		err string
	}{
		{rate.MicroBatchOptions{RowsPerBatch: 1, NumPartitions: 1}, ""},
		{rate.DefaultMicroBatchOptions(), mbErr}, // rowsPerBatch has no default
		{rate.MicroBatchOptions{RowsPerBatch: 1, NumPartitions: 0}, mbErr},
		{rate.MicroBatchOptions{RowsPerBatch: 1, NumPartitions: 1, StartTimestamp: -1}, mbErr},
		{rate.MicroBatchOptions{RowsPerBatch: 1, NumPartitions: 1, AdvanceMillisPerBatch: -1}, mbErr},
	}
	for _, tt := range mbTests {
		err := tt.o.Validate()
		if got := fmt.Sprint(err); (tt.err == "" && err != nil) || (tt.err != "" && got != tt.err) {
			t.Errorf("Validate(%+v) = %v; want %q", tt.o, err, tt.err)
		}
		if _, nerr := rate.NewMicroBatch(tt.o); fmt.Sprint(nerr) != fmt.Sprint(err) {
			t.Errorf("NewMicroBatch(%+v) = %v; want Validate's error", tt.o, nerr)
		}
	}
}

func TestFactories(t *testing.T) {
	tests := []struct {
		format string
		kv     map[string]string
		desc   string // the source's Description when valid
		err    string
	}{
		{format: "rate", desc: "RateStreamV2[rowsPerSecond=1, rampUpTimeSeconds=0, numPartitions=1]"},
		{
			format: "RATE",
			kv:     map[string]string{"rowsPerSecond": "500", "RAMPUPTIME": "1m", "numPartitions": "8", "maxRowsPerBatch": "1000"},
			desc:   "RateStreamV2[rowsPerSecond=500, rampUpTimeSeconds=60, numPartitions=8]",
		},
		{
			format: "rate",
			kv:     map[string]string{"rowsPerSecond": "0", "rampUpTime": "2d", "numPartitions": "1025", "maxRowsPerBatch": "-1", "rowsPerBatch": "5"},
			err: `rate source: option "maxRowsPerBatch": invalid value "-1": must be at least 0
rate source: option "numPartitions": invalid value "1025": must be between 1 and 1024
rate source: option "rampUpTime": invalid value "2d": must be between 0s and 24h0m0s
rate source: option "rowsPerBatch": unknown option (did you mean "maxRowsPerBatch"?); known options: rowsPerSecond, rampUpTime, numPartitions, maxRowsPerBatch
rate source: option "rowsPerSecond": invalid value "0": must be between 1 and 2147483647`,
		},
		{
			format: "rate-micro-batch",
			kv:     map[string]string{"rowsPerBatch": "10"},
			desc:   "RatePerMicroBatchStream[rowsPerBatch=10, numPartitions=1, startTimestamp=0, advanceMillisPerBatch=1000]",
		},
		{
			format: "Rate-Micro-Batch",
			kv:     map[string]string{"rowsperbatch": "10", "numPartitions": "2", "startTimestamp": "1700000000000", "advanceMillisPerBatch": "0"},
			desc:   "RatePerMicroBatchStream[rowsPerBatch=10, numPartitions=2, startTimestamp=1700000000000, advanceMillisPerBatch=0]",
		},
		{
			format: "rate-micro-batch",
			kv:     nil,
			err:    `rate-micro-batch source: option "rowsPerBatch": required option is missing`,
		},
		{
			format: "rate-micro-batch",
			kv:     map[string]string{"rowsPerSecond": "10", "startTimestamp": "-1"},
			err: `rate-micro-batch source: option "rowsPerBatch": required option is missing
rate-micro-batch source: option "rowsPerSecond": unknown option; known options: rowsPerBatch, numPartitions, startTimestamp, advanceMillisPerBatch
rate-micro-batch source: option "startTimestamp": invalid value "-1": must be between 0 and 9223372036854775`,
		},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.format, tt.kv), func(t *testing.T) {
			f, err := sources.Default.Lookup(tt.format)
			if err != nil {
				t.Fatal(err)
			}
			src, err := f(tt.kv)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("factory error:\n%v\nwant:\n%s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := src.Description(); got != tt.desc {
				t.Errorf("Description() = %q; want %q", got, tt.desc)
			}
			if src.Schema() != rate.Schema {
				t.Errorf("Schema() = %v", src.Schema())
			}
		})
	}
}
