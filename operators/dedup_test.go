package operators_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
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

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/checkpoint"
	"github.com/sluicedev/sluice/internal/testkit"
	"github.com/sluicedev/sluice/operators"
	"github.com/sluicedev/sluice/state"
)

// evMapStore is a state.Store in a map, with Commit and Rollback, for the operator tests.
type evMapStore struct {
	version   int64
	committed map[string]string
	changes   map[string]*string // nil: deleted
}

var _ state.Store = (*evMapStore)(nil)

func newEvMapStore() *evMapStore {
	return &evMapStore{committed: map[string]string{}, changes: map[string]*string{}}
}

func (s *evMapStore) Version() int64 { return s.version }

func (s *evMapStore) Get(key []byte) ([]byte, bool) {
	if v, ok := s.changes[string(key)]; ok {
		if v == nil {
			return nil, false
		}
		return []byte(*v), true
	}
	v, ok := s.committed[string(key)]
	return []byte(v), ok
}

func (s *evMapStore) Put(key, value []byte) {
	v := string(value)
	s.changes[string(key)] = &v
}

func (s *evMapStore) Delete(key []byte) { s.changes[string(key)] = nil }

func (s *evMapStore) view() map[string]string {
	m := maps.Clone(s.committed)
	for k, v := range s.changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = *v
		}
	}
	return m
}

func (s *evMapStore) Range(fn func(key, value []byte) bool) error {
	for k, v := range s.view() {
		if !fn([]byte(k), []byte(v)) {
			break
		}
	}
	return nil
}

func (s *evMapStore) Commit(context.Context) error {
	s.committed = s.view()
	s.changes = map[string]*string{}
	s.version++
	return nil
}

func (s *evMapStore) Rollback() { s.changes = map[string]*string{} }

func (s *evMapStore) Metrics() state.Metrics {
	m := state.Metrics{NumKeys: int64(len(s.view()))}
	for k, v := range s.changes {
		if v == nil {
			m.NumRemoved++
		} else {
			m.NumUpdated++
			m.MemoryUsedBytes += int64(len(k) + len(*v))
		}
	}
	return m
}

func (s *evMapStore) Close() error { return nil }

// evClicks is the input of the DropDuplicates tests; with a delay, ts is marked as
// WithWatermark marks it.
func evClicks(t *testing.T, delay *time.Duration) *arrow.Schema {
	t.Helper()
	s := arrow.NewSchema([]arrow.Field{
		{Name: "user", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "tag", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ms, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	if delay == nil {
		return s
	}
	marked, err := operators.WithWatermark("ts", *delay).OutputSchema(s)
	if err != nil {
		t.Fatal(err)
	}
	return marked
}

func evJSON(t *testing.T, mem memory.Allocator, schema *arrow.Schema, js string) arrow.RecordBatch {
	t.Helper()
	rec, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// evRender renders a row's cells separated by spaces (see evCell).
func evRender(b arrow.RecordBatch, i int) string {
	cells := make([]string, b.NumCols())
	for j, c := range b.Columns() {
		cells[j] = evCell(c, i)
	}
	return strings.Join(cells, " ")
}

// evCell renders a value: timestamps as their integer value, structs as {fields}, the rest as
// arrowbatch.FormatValue does.
func evCell(c arrow.Array, i int) string {
	if c.IsNull(i) {
		return "NULL"
	}
	switch a := c.(type) {
	case *array.Timestamp:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Struct:
		fields := make([]string, a.NumField())
		for j := range fields {
			fields[j] = evCell(a.Field(j), i)
		}
		return "{" + strings.Join(fields, " ") + "}"
	}
	return arrowbatch.FormatValue(c, i)
}

// evStep is one micro-batch: its watermark (nil: none yet) and its input, one Process call
// per JSON array.
type evStep struct {
	wm  *int64
	ins []string
}

// evRunBatch runs one micro-batch through op as the coordinator does (BeginBatch, Process,
// Finish), without committing, and returns the rows emitted and the metrics.
func evRunBatch(t *testing.T, mem memory.Allocator, op operators.Stateful, st state.Store, schema *arrow.Schema, id int64, step evStep) ([]string, operators.StateMetrics) {
	t.Helper()
	ctx := operators.WithAllocator(context.Background(), mem)
	info := operators.BatchInfo{ID: id, Mode: operators.ModeAppend}
	if step.wm != nil {
		info.WatermarkMs, info.HasWatermark = *step.wm, true
	}
	if err := op.BeginBatch(ctx, info, st); err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, js := range step.ins {
		in := evJSON(t, mem, schema, js)
		err := op.Process(ctx, in, func(b arrow.RecordBatch) error {
			if !b.Schema().Equal(schema) {
				t.Errorf("emitted schema %s; want %s", b.Schema(), schema)
			}
			for i := range int(b.NumRows()) {
				rows = append(rows, evRender(b, i))
			}
			return nil
		})
		in.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	err := op.Finish(ctx, func(arrow.RecordBatch) error {
		t.Error("Finish emitted a batch")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows, op.StateMetrics()
}

// evCounts are the metrics a test checks.
type evCounts struct {
	Total, Updated, Removed, Late, Dups int64
}

func evCountsOf(m operators.StateMetrics) evCounts {
	return evCounts{m.NumRowsTotal, m.NumRowsUpdated, m.NumRowsRemoved, m.NumRowsDroppedByWatermark, m.Custom["numDroppedDuplicateRows"]}
}

func TestDropDuplicates(t *testing.T) {
	delay := 10 * time.Second
	wm := func(ms int64) *int64 { return &ms }
	type batch struct {
		step    evStep
		rows    []string
		metrics evCounts
	}
	tests := []struct {
		name    string
		cols    []string
		delay   *time.Duration
		batches []batch
	}{
		{
			name: "by user, no event time: state grows",
			cols: []string{"user"},
			batches: []batch{
				{evStep{nil, []string{`[{"user":"a","n":1},{"user":"b","n":2},{"user":"a","n":3}]`, `[{"user":"c","n":4},{"user":"b","n":5}]`}},
					[]string{"a NULL NULL 1", "b NULL NULL 2", "c NULL NULL 4"}, evCounts{Total: 3, Updated: 3, Dups: 2}},
				{evStep{wm(1 << 40), []string{`[{"user":"b","n":6},{"user":"d","n":7},{"user":"d","n":8},{"user":"a","n":9}]`}},
					[]string{"d NULL NULL 7"}, evCounts{Total: 4, Updated: 1, Dups: 3}},
			},
		},
		{
			name: "all columns",
			batches: []batch{
				{evStep{nil, []string{`[{"user":"a","tag":"x","ts":1000,"n":1},{"user":"a","tag":"x","ts":1000,"n":1},{"user":"a","tag":"x","ts":1000,"n":2},{"user":"a","tag":"x","ts":1001,"n":1}]`}},
					[]string{"a x 1000 1", "a x 1000 2", "a x 1001 1"}, evCounts{Total: 3, Updated: 3, Dups: 1}},
				{evStep{nil, []string{`[{"user":"a","tag":"x","ts":1000,"n":2},{"user":"a","tag":null,"ts":1000,"n":2}]`}},
					[]string{"a NULL 1000 2"}, evCounts{Total: 4, Updated: 1, Dups: 1}},
			},
		},
		{
			name: "nulls and concatenations in keys",
			cols: []string{"user", "tag"},
			batches: []batch{
				{evStep{nil, []string{`[
					{"user":null,"tag":"x","n":0},{"user":null,"tag":"x","n":1},
					{"user":"","tag":"x","n":2},{"user":"NULL","tag":"x","n":3},
					{"user":null,"tag":null,"n":4},{"user":null,"tag":null,"n":5},{"user":"","tag":"","n":6},
					{"user":"ab","tag":"c","n":7},{"user":"a","tag":"bc","n":8},{"user":"abc","tag":"","n":9},
					{"user":"x","tag":null,"n":10},{"user":null,"tag":"x","n":11}
				]`}},
					[]string{"NULL x NULL 0", " x NULL 2", "NULL x NULL 3", "NULL NULL NULL 4", "  NULL 6", "ab c NULL 7", "a bc NULL 8", "abc  NULL 9", "x NULL NULL 10"},
					evCounts{Total: 9, Updated: 9, Dups: 3}},
			},
		},
		{
			name:  "watermark, event time among the keys",
			cols:  []string{"user", "ts"},
			delay: &delay,
			batches: []batch{
				{evStep{nil, []string{`[{"user":"a","ts":1000,"n":1},{"user":"a","ts":1000,"n":2},{"user":"b","ts":5000,"n":3}]`}},
					[]string{"a NULL 1000 1", "b NULL 5000 3"}, evCounts{Total: 2, Updated: 2, Dups: 1}},
				// At the watermark is late; 1 ms after is not. Keys at or before 3000 go.
				{evStep{wm(3000), []string{`[{"user":"a","ts":1000,"n":4},{"user":"c","ts":3000,"n":5},{"user":"c","ts":3001,"n":6},{"user":"b","ts":5000,"n":7}]`}},
					[]string{"c NULL 3001 6"}, evCounts{Total: 2, Updated: 1, Removed: 1, Late: 2, Dups: 1}},
				{evStep{wm(6000), []string{`[{"user":"b","ts":5000,"n":8},{"user":"d","ts":null,"n":9},{"user":"d","ts":null,"n":10}]`}},
					[]string{"d NULL NULL 9"}, evCounts{Total: 1, Updated: 1, Removed: 2, Late: 1, Dups: 1}},
				// A key with a null event time is never removed.
				{evStep{wm(1 << 50), []string{`[{"user":"d","ts":null,"n":11}]`}},
					nil, evCounts{Total: 1, Dups: 1}},
			},
		},
		{
			name:  "watermark, event time not among the keys",
			cols:  []string{"user"},
			delay: &delay,
			batches: []batch{
				{evStep{nil, []string{`[{"user":"a","ts":1000,"n":1}]`}},
					[]string{"a NULL 1000 1"}, evCounts{Total: 1, Updated: 1}},
				// a is kept although the watermark passed its row: the key holds no event
				// time (Spark's dropDuplicates keeps such keys forever).
				{evStep{wm(2000), []string{`[{"user":"a","ts":5000,"n":2}]`}},
					nil, evCounts{Total: 1, Dups: 1}},
				// So a later duplicate is dropped however new its event time; a late row is
				// dropped as late, by its own event time, as in Spark.
				{evStep{wm(2000), []string{`[{"user":"a","ts":6000,"n":3},{"user":"a","ts":1500,"n":4},{"user":"b","ts":1000,"n":5},{"user":"c","ts":7000,"n":6}]`}},
					[]string{"c NULL 7000 6"}, evCounts{Total: 2, Updated: 1, Late: 2, Dups: 1}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := testkit.CheckedAlloc(t)
			schema := evClicks(t, tt.delay)
			op := operators.DropDuplicates(tt.cols, operators.Options{}).(operators.Stateful)
			out, err := op.OutputSchema(schema)
			if err != nil {
				t.Fatal(err)
			}
			if out != schema {
				t.Errorf("OutputSchema = %s; want the input's", out)
			}
			st := newEvMapStore()
			for i, b := range tt.batches {
				rows, m := evRunBatch(t, mem, op, st, schema, int64(i), b.step)
				if diff := cmp.Diff(b.rows, rows); diff != "" {
					t.Errorf("batch %d rows (-want +got):\n%s", i, diff)
				}
				if diff := cmp.Diff(b.metrics, evCountsOf(m)); diff != "" {
					t.Errorf("batch %d metrics (-want +got):\n%s", i, diff)
				}
				if m.OperatorName != "dedupe" {
					t.Errorf("OperatorName = %q", m.OperatorName)
				}
				if err := st.Commit(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestDropDuplicatesReplay: a batch rolled back and run again emits the same rows and
// reports the same metrics.
func TestDropDuplicatesReplay(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	delay := 5 * time.Second
	schema := evClicks(t, &delay)
	op := operators.DropDuplicates([]string{"user", "ts"}, operators.Options{}).(operators.Stateful)
	if _, err := op.OutputSchema(schema); err != nil {
		t.Fatal(err)
	}
	st := newEvMapStore()
	first := evStep{nil, []string{`[{"user":"a","ts":1000},{"user":"b","ts":2000},{"user":"c","ts":9000}]`}}
	evRunBatch(t, mem, op, st, schema, 0, first)
	if err := st.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	wm := int64(2000)
	second := evStep{&wm, []string{`[{"user":"a","ts":1000},{"user":"c","ts":9000},{"user":"d","ts":3000},{"user":"d","ts":3000}]`, `[{"user":"e","ts":4000}]`}}
	rows1, m1 := evRunBatch(t, mem, op, st, schema, 1, second)
	st.Rollback()
	rows2, m2 := evRunBatch(t, mem, op, st, schema, 1, second)
	if diff := cmp.Diff(rows1, rows2); diff != "" {
		t.Errorf("replayed rows (-first +replay):\n%s", diff)
	}
	if diff := cmp.Diff(m1, m2); diff != "" {
		t.Errorf("replayed metrics (-first +replay):\n%s", diff)
	}
	if want := []string{"d NULL 3000 NULL", "e NULL 4000 NULL"}; !cmp.Equal(want, rows2) {
		t.Errorf("rows %q; want %q", rows2, want)
	}
	if diff := cmp.Diff(evCounts{Total: 3, Updated: 2, Removed: 2, Late: 1, Dups: 2}, evCountsOf(m2)); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

// TestDropDuplicatesBoundedState: over a long run with the event time moving on, the watermark
// computed from WithWatermark's statistics keeps the state to the keys of the last delay, and
// the output matches a model of Spark's semantics.
func TestDropDuplicatesBoundedState(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	ctx := operators.WithAllocator(context.Background(), mem)
	base := evClicks(t, nil)
	const delay = 5 * time.Second
	wmOp := operators.WithWatermark("ts", delay)
	schema, err := wmOp.OutputSchema(base)
	if err != nil {
		t.Fatal(err)
	}
	obs := wmOp.(operators.EventTimeObserver)
	op := operators.DropDuplicates([]string{"user", "ts"}, operators.Options{}).(operators.Stateful)
	if _, err := op.OutputSchema(schema); err != nil {
		t.Fatal(err)
	}
	if got := op.EventTimeKey(); got != "ts" {
		t.Errorf("EventTimeKey() = %q", got)
	}
	st := newEvMapStore()
	rng := rand.New(rand.NewPCG(7, 7))
	model := map[string]int64{} // key -> event time (ms)
	var watermark *int64
	maxTotal := int64(0)
	for batchID := range int64(300) {
		now := batchID * 1000
		var js []string
		var want []string
		late, dups := int64(0), int64(0)
		for range 40 {
			user := "u" + strconv.Itoa(rng.IntN(5))
			ts := now - rng.Int64N(12)*1000 // up to 11 s behind: some rows are late
			js = append(js, fmt.Sprintf(`{"user":%q,"ts":%d}`, user, ts))
			key := user + "@" + strconv.FormatInt(ts, 10)
			switch _, seen := model[key]; {
			case watermark != nil && ts <= *watermark:
				late++
			case seen:
				dups++
			default:
				model[key] = ts
				want = append(want, user+" NULL "+strconv.FormatInt(ts, 10)+" NULL")
			}
		}
		if watermark != nil {
			for k, ts := range model {
				if ts <= *watermark {
					delete(model, k)
				}
			}
		}

		// The coordinator: WithWatermark before DropDuplicates, then the watermark moves to
		// max event time - delay.
		obs.ResetEventTimeStats()
		info := operators.BatchInfo{ID: batchID, Mode: operators.ModeAppend}
		if watermark != nil {
			info.WatermarkMs, info.HasWatermark = *watermark, true
		}
		if err := op.BeginBatch(ctx, info, st); err != nil {
			t.Fatal(err)
		}
		in := evJSON(t, mem, base, "["+strings.Join(js, ",")+"]")
		var got []string
		err := wmOp.Process(ctx, in, func(b arrow.RecordBatch) error {
			return op.Process(ctx, b, func(b arrow.RecordBatch) error {
				for i := range int(b.NumRows()) {
					got = append(got, evRender(b, i))
				}
				return nil
			})
		})
		in.Release()
		if err != nil {
			t.Fatal(err)
		}
		if err := op.Finish(ctx, func(arrow.RecordBatch) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if err := st.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("batch %d rows (-want +got):\n%s", batchID, diff)
		}
		m := op.StateMetrics()
		if m.NumRowsTotal != int64(len(model)) || m.NumRowsDroppedByWatermark != late || m.Custom["numDroppedDuplicateRows"] != dups {
			t.Fatalf("batch %d: metrics %+v; want %d keys, %d late, %d duplicates", batchID, m, len(model), late, dups)
		}
		maxTotal = max(maxTotal, m.NumRowsTotal)
		if _, maxMs, _, n := obs.EventTimeStats(); n > 0 {
			w := maxMs - delay.Milliseconds()
			if watermark == nil || w > *watermark {
				watermark = &w
			}
		}
	}
	// 5 users times the 12 seconds of event time a batch's rows span, at most.
	if maxTotal > 5*12 {
		t.Errorf("the state grew to %d keys", maxTotal)
	}
}

// TestDropDuplicatesConcurrent: batches processed concurrently emit each key exactly once.
func TestDropDuplicatesConcurrent(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	ctx := operators.WithAllocator(context.Background(), mem)
	schema := evClicks(t, nil)
	op := operators.DropDuplicates([]string{"user"}, operators.Options{}).(operators.Stateful)
	if _, err := op.OutputSchema(schema); err != nil {
		t.Fatal(err)
	}
	st := newEvMapStore()
	if err := op.BeginBatch(ctx, operators.BatchInfo{}, st); err != nil {
		t.Fatal(err)
	}
	var batches []arrow.RecordBatch
	for b := range 40 {
		var rows []string
		for i := range 50 {
			rows = append(rows, fmt.Sprintf(`{"user":"u%d","n":%d}`, (b*7+i*13)%200, i))
		}
		batches = append(batches, evJSON(t, mem, schema, "["+strings.Join(rows, ",")+"]"))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(batches); i += 4 {
				err := op.Process(ctx, batches[i], func(b arrow.RecordBatch) error {
					users := b.Column(0).(*array.String)
					mu.Lock()
					defer mu.Unlock()
					for j := range users.Len() {
						seen[users.Value(j)]++
					}
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for _, b := range batches {
		b.Release()
	}
	if err := op.Finish(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for u, n := range seen {
		if n != 1 {
			t.Errorf("%s emitted %d times", u, n)
		}
	}
	m := op.StateMetrics()
	if len(seen) != 200 || m.NumRowsTotal != 200 || m.NumRowsUpdated != 200 || m.Custom["numDroppedDuplicateRows"] != 40*50-200 {
		t.Errorf("%d keys emitted; metrics %+v", len(seen), m)
	}
}

// TestDropDuplicatesWindow: after Window, a key with the window is late once window.end is at
// or before the watermark.
func TestDropDuplicatesWindow(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	ctx := operators.WithAllocator(context.Background(), mem)
	delay := time.Second
	marked := evClicks(t, &delay)
	win := operators.Window("ts", 10*time.Second, 0, operators.Options{})
	schema, err := win.OutputSchema(marked)
	if err != nil {
		t.Fatal(err)
	}
	op := operators.DropDuplicates([]string{"user", "window"}, operators.Options{}).(operators.Stateful)
	if _, err := op.OutputSchema(schema); err != nil {
		t.Fatal(err)
	}
	if got := op.EventTimeKey(); got != "window" {
		t.Errorf("EventTimeKey() = %q; want window", got)
	}
	st := newEvMapStore()
	run := func(wm int64, js string) ([]string, operators.StateMetrics) {
		if err := op.BeginBatch(ctx, operators.BatchInfo{WatermarkMs: wm, HasWatermark: true}, st); err != nil {
			t.Fatal(err)
		}
		in := evJSON(t, mem, marked, js)
		defer in.Release()
		var got []string
		err := win.Process(ctx, in, func(b arrow.RecordBatch) error {
			return op.Process(ctx, b, func(b arrow.RecordBatch) error {
				for i := range int(b.NumRows()) {
					got = append(got, evRender(b, i))
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := op.Finish(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if err := st.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		return got, op.StateMetrics()
	}
	// Window [0s, 10s) ends at 10000: not late at watermark 9999, and kept.
	got, m := run(9999, `[{"user":"a","ts":1},{"user":"a","ts":9999},{"user":"a","ts":10000}]`)
	if want := []string{"a NULL 1 NULL {0 10000000}", "a NULL 10000 NULL {10000000 20000000}"}; !cmp.Equal(want, got) {
		t.Errorf("rows %q; want %q", got, want)
	}
	if m.NumRowsTotal != 2 || m.NumRowsRemoved != 0 {
		t.Errorf("metrics %+v", m)
	}
	// At watermark 10000, rows of [0s, 10s) are late, and its key goes.
	got, m = run(10000, `[{"user":"b","ts":5},{"user":"a","ts":10001}]`)
	if len(got) != 0 || m.NumRowsDroppedByWatermark != 1 || m.NumRowsRemoved != 1 || m.NumRowsTotal != 1 {
		t.Errorf("rows %q, metrics %+v", got, m)
	}
}

// TestDropDuplicatesKeyTypes: values of other types are keys too, with floats normalised as
// in Spark (-0 is 0, NaNs are one value).
func TestDropDuplicatesKeyTypes(t *testing.T) {
	float64s := func(mem memory.Allocator) arrow.Array {
		b := array.NewFloat64Builder(mem)
		defer b.Release()
		b.AppendValues([]float64{0, math.Copysign(0, -1), math.NaN(), math.Float64frombits(0x7ff8000000000123), 1, -1}, nil)
		b.AppendNull()
		return b.NewArray()
	}
	fromJSON := func(dt arrow.DataType, js string) func(mem memory.Allocator) arrow.Array {
		return func(mem memory.Allocator) arrow.Array {
			a, _, err := array.FromJSON(mem, dt, strings.NewReader(js))
			if err != nil {
				panic(err)
			}
			return a
		}
	}
	dict := func(mem memory.Allocator) arrow.Array {
		b := array.NewDictionaryBuilder(mem, &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}).(*array.BinaryDictionaryBuilder)
		defer b.Release()
		for _, s := range []string{"x", "y", "x", "", "y"} {
			if err := b.AppendString(s); err != nil {
				panic(err)
			}
		}
		b.AppendNull()
		b.AppendNull()
		return b.NewArray()
	}
	tests := []struct {
		name string
		col  func(mem memory.Allocator) arrow.Array
		keep []int64 // rows emitted
	}{
		{"float64", float64s, []int64{0, 2, 4, 5, 6}},
		{"bool", fromJSON(arrow.FixedWidthTypes.Boolean, `[true, false, null, true, null, false]`), []int64{0, 1, 2}},
		{"int32", fromJSON(arrow.PrimitiveTypes.Int32, `[1, 256, 1, null, 65536, 256]`), []int64{0, 1, 3, 4}},
		{"list", fromJSON(arrow.ListOf(arrow.PrimitiveTypes.Int64), `[[1,2],[1,2],[12],[1],[2,1],null,[],[null],[],null]`), []int64{0, 2, 3, 4, 5, 6, 7}},
		{"struct", fromJSON(arrow.StructOf(arrow.Field{Name: "a", Type: arrow.BinaryTypes.String, Nullable: true}, arrow.Field{Name: "b", Type: arrow.PrimitiveTypes.Int64, Nullable: true}),
			`[{"a":"x","b":1},{"a":"x","b":1},{"a":"x","b":null},null,{"a":null,"b":null},null,{"a":"x1","b":null}]`), []int64{0, 2, 3, 4, 6}},
		{"binary", fromJSON(arrow.BinaryTypes.Binary, `["AA==", "AAA=", "AA==", null, ""]`), []int64{0, 1, 3, 4}},
		{"decimal", fromJSON(&arrow.Decimal128Type{Precision: 10, Scale: 2}, `["1.00", "1.0", "1.01", null]`), []int64{0, 2, 3}},
		{"dictionary", dict, []int64{0, 1, 3, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := testkit.CheckedAlloc(t)
			col := tt.col(mem)
			defer col.Release()
			idx := array.NewInt64Builder(mem)
			defer idx.Release()
			for i := range col.Len() {
				idx.Append(int64(i))
			}
			ids := idx.NewArray()
			defer ids.Release()
			schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: col.DataType(), Nullable: true}, {Name: "i", Type: arrow.PrimitiveTypes.Int64}}, nil)
			in := array.NewRecordBatch(schema, []arrow.Array{col, ids}, int64(col.Len()))
			defer in.Release()
			// Sliced by one row, so that array offsets are exercised too.
			sliced := in.NewSlice(1, in.NumRows())
			defer sliced.Release()
			for _, b := range []arrow.RecordBatch{in, sliced} {
				op := operators.DropDuplicates([]string{"k"}, operators.Options{}).(operators.Stateful)
				if _, err := op.OutputSchema(schema); err != nil {
					t.Fatal(err)
				}
				ctx := operators.WithAllocator(context.Background(), mem)
				if err := op.BeginBatch(ctx, operators.BatchInfo{}, newEvMapStore()); err != nil {
					t.Fatal(err)
				}
				var got []int64
				err := op.Process(ctx, b, func(out arrow.RecordBatch) error {
					got = append(got, out.Column(1).(*array.Int64).Int64Values()...)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				want := tt.keep
				if model := evSliceModel(b); b == sliced {
					want = model
				} else if !cmp.Equal(want, model) {
					t.Fatalf("the table's rows %v disagree with the model's %v", want, model)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("rows emitted of %d-row batch (-want +got):\n%s", b.NumRows(), diff)
				}
			}
		})
	}
}

// evSliceModel returns the values of column 1 of the rows DropDuplicates should emit from b:
// the first row of each distinct value of column 0, compared by their rendering (distinct for
// every type in the table once floats are normalised).
func evSliceModel(b arrow.RecordBatch) []int64 {
	seen := map[string]bool{}
	var out []int64
	for i := range int(b.NumRows()) {
		k := evNormKey(b.Column(0), i)
		if !seen[k] {
			seen[k] = true
			out = append(out, b.Column(1).(*array.Int64).Value(i))
		}
	}
	return out
}

func evNormKey(a arrow.Array, i int) string {
	if f, ok := a.(*array.Float64); ok && f.IsValid(i) {
		v := f.Value(i)
		switch {
		case v != v:
			return "NaN"
		case v == 0:
			return "0"
		}
	}
	if a.IsNull(i) {
		return "<null>"
	}
	return a.DataType().String() + ":" + a.ValueStr(i)
}

func TestDropDuplicatesSchema(t *testing.T) {
	delay := time.Second
	plain := evClicks(t, nil)
	marked := evClicks(t, &delay)
	// Two marked columns (WithWatermark keeps only its own mark, as Spark; a schema can still
	// carry two, as here).
	twoMarks := arrow.NewSchema(append(marked.Fields(), arrow.Field{Name: "ts2", Type: arrow.FixedWidthTypes.Timestamp_s, Nullable: true,
		Metadata: arrow.NewMetadata([]string{operators.WatermarkDelayKey}, []string{"60000"})}), nil)
	tests := []struct {
		name   string
		cols   []string
		in     *arrow.Schema
		title  string
		evtKey string
	}{
		{"no event time", []string{"user"}, plain, "DropDuplicates(user)", ""},
		{"all columns", nil, plain, "DropDuplicates(*)", ""},
		{"event time not a key", []string{"user"}, marked, "DropDuplicates(user)", "ts"},
		{"event time a key", []string{"ts", "user"}, marked, "DropDuplicates(ts, user)", "ts"},
		{"the marked key is preferred", []string{"user", "ts2"}, twoMarks, "DropDuplicates(user, ts2)", "ts2"},
		{"the first mark otherwise", []string{"user"}, twoMarks, "DropDuplicates(user)", "ts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := operators.DropDuplicates(tt.cols, operators.Options{}).(operators.Stateful)
			if got := op.Name(); got != tt.title {
				t.Errorf("Name() = %q; want %q", got, tt.title)
			}
			if op.StateKind() != operators.Deduplication {
				t.Errorf("StateKind() = %v", op.StateKind())
			}
			out, err := op.OutputSchema(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if out != tt.in {
				t.Errorf("OutputSchema changed the schema")
			}
			if got := op.EventTimeKey(); got != tt.evtKey {
				t.Errorf("EventTimeKey() = %q; want %q", got, tt.evtKey)
			}
		})
	}
	if s, err := operators.DropDuplicates(nil, operators.Options{}).OutputSchema(nil); s != nil || err != nil {
		t.Errorf("OutputSchema(nil) = %v, %v", s, err)
	}
}

func TestDropDuplicatesErrors(t *testing.T) {
	plain := evClicks(t, nil)
	union := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "u", Type: arrow.SparseUnionOf([]arrow.Field{{Name: "i", Type: arrow.PrimitiveTypes.Int32}}, []arrow.UnionTypeCode{0})},
	}, nil)
	badMark := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "when", Type: arrow.BinaryTypes.String, Metadata: arrow.NewMetadata([]string{operators.WatermarkDelayKey}, []string{"1000"})},
	}, nil)
	tests := []struct {
		name  string
		cols  []string
		in    *arrow.Schema
		wants []string
	}{
		{"unknown columns", []string{"usr", "user", "tg"}, plain, []string{`no column "usr" (columns: user, tag, ts, n)`, `no column "tg"`}},
		{"a union key", []string{"u"}, union, []string{`column "u"`, "cannot be a deduplication key"}},
		{"a union among all columns", nil, union, []string{`column "u"`}},
		{"an event-time column that is no time", []string{"id"}, badMark, []string{`event-time column "when" is of type utf8`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := operators.DropDuplicates(tt.cols, operators.Options{}).OutputSchema(tt.in)
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

	// The Stateful protocol.
	mem := testkit.CheckedAlloc(t)
	ctx := operators.WithAllocator(context.Background(), mem)
	op := operators.DropDuplicates([]string{"user"}, operators.Options{}).(operators.Stateful)
	in := evJSON(t, mem, plain, `[{"user":"a"}]`)
	defer in.Release()
	if err := op.Process(ctx, in, func(arrow.RecordBatch) error { return nil }); err == nil || !strings.Contains(err.Error(), "before BeginBatch") {
		t.Errorf("Process before BeginBatch: %v", err)
	}
	if err := op.Finish(ctx, nil); err == nil {
		t.Error("Finish before BeginBatch: no error")
	}
	if err := op.BeginBatch(ctx, operators.BatchInfo{}, nil); err == nil {
		t.Error("BeginBatch without a store: no error")
	}
	emitErr := errors.New("sink down")
	if err := op.BeginBatch(ctx, operators.BatchInfo{}, newEvMapStore()); err != nil {
		t.Fatal(err)
	}
	if err := op.Process(ctx, in, func(arrow.RecordBatch) error { return emitErr }); !errors.Is(err, emitErr) {
		t.Errorf("Process with a failing emit: %v", err)
	}
}

// TestDropDuplicatesStateStore runs DropDuplicates on the checkpointed state store: keys
// committed before a restart are still duplicates after it.
func TestDropDuplicatesStateStore(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	ctx := context.Background()
	loc, err := checkpoint.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	delay := time.Second
	schema := evClicks(t, &delay)
	newOp := func() operators.Stateful {
		op := operators.DropDuplicates([]string{"user", "ts"}, operators.Options{}).(operators.Stateful)
		if _, err := op.OutputSchema(schema); err != nil {
			t.Fatal(err)
		}
		return op
	}
	wm := int64(1500)
	steps := []struct {
		step evStep
		rows []string
	}{
		{evStep{nil, []string{`[{"user":"a","ts":1000},{"user":"b","ts":2000},{"user":"a","ts":1000}]`}}, []string{"a NULL 1000 NULL", "b NULL 2000 NULL"}},
		{evStep{&wm, []string{`[{"user":"b","ts":2000},{"user":"c","ts":3000},{"user":"a","ts":1000}]`}}, []string{"c NULL 3000 NULL"}},
		{evStep{&wm, []string{`[{"user":"b","ts":2000},{"user":"c","ts":3000},{"user":"d","ts":3000}]`}}, []string{"d NULL 3000 NULL"}},
	}
	op := newOp()
	for i, s := range steps {
		if i == 2 { // restart
			op = newOp()
		}
		st, err := state.Open(ctx, loc, "state/0", int64(i), state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rows, m := evRunBatch(t, mem, op, st, schema, int64(i), s.step)
		if diff := cmp.Diff(s.rows, rows); diff != "" {
			t.Errorf("batch %d rows (-want +got):\n%s", i, diff)
		}
		if i == 1 && (m.NumRowsRemoved != 1 || m.NumRowsTotal != 2) {
			t.Errorf("batch 1 metrics %+v; want 1 removed, 2 left", m)
		}
		if err := st.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
