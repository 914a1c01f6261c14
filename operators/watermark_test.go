package operators_test

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/internal/testkit"
	"github.com/sluicedev/sluice/operators"
)

// evSchema is the input of the event-time tests: a key, an event time in unit and a value.
func evSchema(unit arrow.TimeUnit) *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: unit, TimeZone: "UTC"}, Nullable: true,
			Metadata: arrow.NewMetadata([]string{"origin"}, []string{"kinesis"})},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
}

// evTimes returns a batch of schema with one row per time (nil: a null time), with ids
// "r0", "r1"... and n the row's index.
func evTimes(mem memory.Allocator, schema *arrow.Schema, times []*int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	ids := b.Field(0).(*array.StringBuilder)
	ts := b.Field(1).(*array.TimestampBuilder)
	ns := b.Field(2).(*array.Int64Builder)
	for i, t := range times {
		ids.Append("r" + strconv.Itoa(i))
		if t == nil {
			ts.AppendNull()
		} else {
			ts.Append(arrow.Timestamp(*t))
		}
		ns.Append(int64(i))
	}
	return b.NewRecordBatch()
}

func evPtr(v int64) *int64 { return &v }

func TestWithWatermarkSchema(t *testing.T) {
	in := evSchema(arrow.Microsecond)
	op := operators.WithWatermark("ts", 10*time.Second)
	if got, want := op.Name(), "WithWatermark(ts, 10s)"; got != want {
		t.Errorf("Name() = %q; want %q", got, want)
	}
	out, err := op.OutputSchema(in)
	if err != nil {
		t.Fatal(err)
	}
	md := func(f arrow.Field) map[string]string {
		m := map[string]string{}
		for i, k := range f.Metadata.Keys() {
			m[k] = f.Metadata.Values()[i]
		}
		return m
	}
	if diff := cmp.Diff(map[string]string{"origin": "kinesis", operators.WatermarkDelayKey: "10000"}, md(out.Field(1))); diff != "" {
		t.Errorf("ts metadata (-want +got):\n%s", diff)
	}
	for _, i := range []int{0, 2} {
		if !out.Field(i).Equal(in.Field(i)) {
			t.Errorf("field %d changed: %v -> %v", i, in.Field(i), out.Field(i))
		}
	}
	if !arrow.TypeEqual(out.Field(1).Type, in.Field(1).Type) {
		t.Errorf("ts type changed to %s", out.Field(1).Type)
	}
	if i, d := operators.EventTimeColumn(out); i != 1 || d != 10*time.Second {
		t.Errorf("EventTimeColumn = %d, %s; want 1, 10s", i, d)
	}
	if i, _ := operators.EventTimeColumn(in); i != -1 {
		t.Errorf("EventTimeColumn of the input = %d; want -1", i)
	}

	// Again on the same column: the delay is replaced. On another timestamp column: both are
	// marked, the first one is the event time.
	again, err := operators.WithWatermark("ts", 0).OutputSchema(out)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"origin": "kinesis", operators.WatermarkDelayKey: "0"}, md(again.Field(1))); diff != "" {
		t.Errorf("second WithWatermark on ts (-want +got):\n%s", diff)
	}
	two := arrow.NewSchema(append(out.Fields(), arrow.Field{Name: "ts2", Type: arrow.FixedWidthTypes.Timestamp_ms}), nil)
	both, err := operators.WithWatermark("ts2", time.Minute).OutputSchema(two)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := both.Field(3).Metadata.GetValue(operators.WatermarkDelayKey); v != "60000" {
		t.Errorf("ts2 delay = %q", v)
	}
	if i, d := operators.EventTimeColumn(both); i != 3 || d != time.Minute { // the last mark, as Spark
		t.Errorf("EventTimeColumn after marking ts2 = %d, %s; want 3, 1m", i, d)
	}
}

func TestWithWatermarkErrors(t *testing.T) {
	in := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32},
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_us},
	}, nil)
	noTS := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}}, nil)
	tests := []struct {
		name  string
		op    operators.Operator
		in    *arrow.Schema
		wants []string
	}{
		{"unknown column", operators.WithWatermark("tss", time.Second), in, []string{`no column "tss"`, "id, day, ts"}},
		{"a date", operators.WithWatermark("day", time.Second), in, []string{`"day" is of type date32`, "timestamp columns: ts"}},
		{"a string, no timestamp", operators.WithWatermark("id", time.Second), noTS, []string{`"id" is of type utf8`, "no timestamp column; columns: id"}},
		{"negative delay", operators.WithWatermark("ts", -time.Second), in, []string{"delay -1s is negative"}},
		{"negative delay, schema unknown", operators.WithWatermark("ts", -time.Second), nil, []string{"delay -1s is negative"}},
		{"sub-millisecond delay", operators.WithWatermark("ts", time.Microsecond), in, []string{"whole number of milliseconds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.op.OutputSchema(tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestWithWatermarkPassthrough: the batch goes on with the marked schema and the input's own
// column arrays; nothing is dropped, nulls included.
func TestWithWatermarkPassthrough(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	in := evTimes(mem, evSchema(arrow.Millisecond), []*int64{evPtr(5), nil, evPtr(-7)})
	defer in.Release()
	op := operators.WithWatermark("ts", time.Second)
	declared, err := op.OutputSchema(in.Schema())
	if err != nil {
		t.Fatal(err)
	}
	before := mem.CurrentAlloc()
	ctx := operators.WithAllocator(context.Background(), mem)
	emitted := 0
	err = op.Process(ctx, in, func(b arrow.RecordBatch) error {
		emitted++
		if !b.Schema().Equal(declared) {
			t.Errorf("schema %s; declared %s", b.Schema(), declared)
		}
		if b.NumRows() != in.NumRows() {
			t.Errorf("%d rows; want %d", b.NumRows(), in.NumRows())
		}
		for i := range int(in.NumCols()) {
			if b.Column(i) != in.Column(i) {
				t.Errorf("column %d was copied", i)
			}
		}
		if got := mem.CurrentAlloc(); got != before {
			t.Errorf("Process allocated %d bytes from the query allocator", got-before)
		}
		return nil
	})
	if err != nil || emitted != 1 {
		t.Fatalf("Process: %v, %d batches", err, emitted)
	}
	obs := op.(operators.EventTimeObserver)
	if obs.Delay() != time.Second {
		t.Errorf("Delay() = %s", obs.Delay())
	}
	minMs, maxMs, avgMs, n := obs.EventTimeStats()
	if diff := cmp.Diff([]int64{-7, 5, -1, 2}, []int64{minMs, maxMs, avgMs, n}); diff != "" {
		t.Errorf("stats (min, max, avg, count) (-want +got):\n%s", diff)
	}
}

// TestWithWatermarkStats: batches processed concurrently, in every unit, with nulls and times
// before 1970; the statistics match a sequential computation, and reset clears them.
func TestWithWatermarkStats(t *testing.T) {
	units := []struct {
		unit arrow.TimeUnit
		toMs func(int64) int64 // rounded down
	}{
		{arrow.Second, func(v int64) int64 { return v * 1000 }},
		{arrow.Millisecond, func(v int64) int64 { return v }},
		{arrow.Microsecond, func(v int64) int64 { return int64(math.Floor(float64(v) / 1e3)) }},
		{arrow.Nanosecond, func(v int64) int64 { return int64(math.Floor(float64(v) / 1e6)) }},
	}
	for _, u := range units {
		t.Run(u.unit.String(), func(t *testing.T) {
			mem := testkit.CheckedAlloc(t)
			ctx := operators.WithAllocator(context.Background(), mem)
			schema := evSchema(u.unit)
			op := operators.WithWatermark("ts", 5*time.Second)
			if _, err := op.OutputSchema(schema); err != nil {
				t.Fatal(err)
			}
			obs := op.(operators.EventTimeObserver)
			rng := rand.New(rand.NewPCG(1, uint64(u.unit)))
			var batches []arrow.RecordBatch
			wantMin, wantMax, sum, count := int64(math.MaxInt64), int64(math.MinInt64), 0.0, int64(0)
			for range 32 {
				var times []*int64
				for range rng.IntN(200) {
					if rng.IntN(10) == 0 {
						times = append(times, nil)
						continue
					}
					// Around 1970 in seconds; up to ±30 years in ns.
					v := rng.Int64N(2_000_000_000) - 1_000_000_000
					times = append(times, &v)
					ms := u.toMs(v)
					wantMin, wantMax = min(wantMin, ms), max(wantMax, ms)
					sum += float64(ms)
					count++
				}
				batches = append(batches, evTimes(mem, schema, times))
			}
			defer func() {
				for _, b := range batches {
					b.Release()
				}
			}()
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Go(func() {
					for i := w; i < len(batches); i += 4 {
						if err := op.Process(ctx, batches[i], func(arrow.RecordBatch) error { return nil }); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			minMs, maxMs, avgMs, n := obs.EventTimeStats()
			if diff := cmp.Diff([]int64{wantMin, wantMax, count}, []int64{minMs, maxMs, n}); diff != "" {
				t.Errorf("min, max, count (-want +got):\n%s", diff)
			}
			if want := math.Floor(sum / float64(count)); math.Abs(float64(avgMs)-want) > 1 {
				t.Errorf("avg = %d; want %v", avgMs, want)
			}
			obs.ResetEventTimeStats()
			if a, b, c, d := obs.EventTimeStats(); a != 0 || b != 0 || c != 0 || d != 0 {
				t.Errorf("after reset: %d %d %d %d", a, b, c, d)
			}
		})
	}
}

// TestWithWatermarkAverageOverflow: the average of times whose sum overflows 64 bits, and of
// nulls only.
func TestWithWatermarkAverageOverflow(t *testing.T) {
	tests := []struct {
		name  string
		times []*int64
		want  []int64 // min, max, avg, count
	}{
		{"large", []*int64{evPtr(math.MaxInt64 - 1), evPtr(math.MaxInt64 - 3), evPtr(math.MaxInt64 - 5)}, []int64{math.MaxInt64 - 5, math.MaxInt64 - 1, math.MaxInt64 - 3, 3}},
		{"small", []*int64{evPtr(math.MinInt64 + 1), evPtr(math.MinInt64 + 2)}, []int64{math.MinInt64 + 1, math.MinInt64 + 2, math.MinInt64 + 1, 2}},
		{"rounded down", []*int64{evPtr(-1), evPtr(-2)}, []int64{-2, -1, -2, 2}},
		{"nulls only", []*int64{nil, nil}, []int64{0, 0, 0, 0}},
		{"none", nil, []int64{0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := testkit.CheckedAlloc(t)
			ctx := operators.WithAllocator(context.Background(), mem)
			op := operators.WithWatermark("ts", 0)
			obs := op.(operators.EventTimeObserver)
			// Two batches, so the 128-bit sums are merged too.
			for _, half := range [][]*int64{tt.times[:len(tt.times)/2], tt.times[len(tt.times)/2:]} {
				in := evTimes(mem, evSchema(arrow.Millisecond), half)
				err := op.Process(ctx, in, func(arrow.RecordBatch) error { return nil })
				in.Release()
				if err != nil {
					t.Fatal(err)
				}
			}
			a, b, c, d := obs.EventTimeStats()
			if diff := cmp.Diff(tt.want, []int64{a, b, c, d}); diff != "" {
				t.Errorf("min, max, avg, count (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSecondWatermarkColumn: as Spark's EventTimeWatermark, a WithWatermark on another column
// makes that column the event time: the earlier column loses its mark (keeping its other
// metadata), so the stateful operators use the last marked column.
func TestSecondWatermarkColumn(t *testing.T) {
	in := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond}, Nullable: true,
			Metadata: arrow.NewMetadata([]string{"origin"}, []string{"kinesis"})},
		{Name: "ts2", Type: &arrow.TimestampType{Unit: arrow.Millisecond}, Nullable: true},
	}, nil)
	first, err := operators.WithWatermark("ts", 5*time.Second).OutputSchema(in)
	if err != nil {
		t.Fatal(err)
	}
	if idx, d := operators.EventTimeColumn(first); idx != 0 || d != 5*time.Second {
		t.Fatalf("after one WithWatermark: column %d, delay %s", idx, d)
	}
	second, err := operators.WithWatermark("ts2", time.Second).OutputSchema(first)
	if err != nil {
		t.Fatal(err)
	}
	if idx, d := operators.EventTimeColumn(second); idx != 1 || d != time.Second {
		t.Errorf("after a second WithWatermark on ts2: column %d, delay %s; want ts2 (1), 1s", idx, d)
	}
	if md := second.Field(0).Metadata; md.FindKey(operators.WatermarkDelayKey) >= 0 || md.FindKey("origin") < 0 {
		t.Errorf("ts keeps metadata %v; want its mark removed and its other metadata kept", md)
	}
}
