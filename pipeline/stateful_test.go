package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/checkpoint"
	"github.com/sluicedev/sluice/internal/testkit"
	"github.com/sluicedev/sluice/pipeline"
	"github.com/sluicedev/sluice/sources"
	"github.com/sluicedev/sluice/state"
)

// event is one row of a scripted source.
type event struct {
	ts   int64 // event time, Unix milliseconds
	word string
}

var scriptSchema = arrow.NewSchema([]arrow.Field{
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	{Name: "word", Type: arrow.BinaryTypes.String},
}, nil)

// script is a source that serves fixed chunks of events, one chunk per batch: its offset is
// the number of chunks read. Only the first `avail` chunks are available.
type script struct {
	chunks [][]event
	avail  atomic.Int64
	info   sources.Info
}

func newScript(chunks [][]event) *script {
	s := &script{chunks: chunks}
	s.avail.Store(int64(len(chunks)))
	return s
}

func (s *script) Description() string                          { return "Script" }
func (s *script) Schema() *arrow.Schema                        { return scriptSchema }
func (s *script) Open(_ context.Context, i sources.Info) error { s.info = i; return nil }
func (s *script) Commit(context.Context, sources.Offset) error { return nil }
func (s *script) Close(context.Context) error                  { return nil }

// PrepareForAvailableNow implements sources.AvailableNow: AvailableNow reads every chunk, still
// one per batch.
func (s *script) PrepareForAvailableNow(context.Context) error { return nil }

func (s *script) InitialOffset(context.Context) (sources.Offset, error) {
	return sources.Offset("0"), nil
}

func (s *script) LatestOffset(_ context.Context, start sources.Offset, _ sources.ReadLimit) (sources.Offset, error) {
	n, err := strconv.ParseInt(string(start), 10, 64)
	if err != nil {
		return nil, err
	}
	return sources.Offset(strconv.FormatInt(min(n+1, s.avail.Load()), 10)), nil
}

func (s *script) Read(_ context.Context, start, end sources.Offset, emit sources.Emit) error {
	from, _ := strconv.Atoi(string(start))
	to, _ := strconv.Atoi(string(end))
	for c := from; c < to; c++ {
		evs := s.chunks[c]
		// Two Arrow batches per chunk, to cross batch boundaries inside the operators.
		for _, part := range [][]event{evs[:len(evs)/2], evs[len(evs)/2:]} {
			b := array.NewRecordBuilder(s.info.Allocator, scriptSchema)
			for _, e := range part {
				b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(e.ts * 1000))
				b.Field(1).(*array.StringBuilder).Append(e.word)
			}
			rec := b.NewRecordBatch()
			b.Release()
			err := emit(rec)
			rec.Release()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// collector keeps the JSON rows of every batch a ForeachBatch sink committed, by batch ID.
type collector struct {
	mu      sync.Mutex
	batches map[int64][]map[string]any
	failAt  int64 // fail the batch with this ID once (-1: never)
}

func newCollector() *collector { return &collector{batches: map[int64][]map[string]any{}, failAt: -1} }

func (c *collector) fn(_ context.Context, rec arrow.RecordBatch, id int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == c.failAt {
		c.failAt = -1
		return errInjected
	}
	var buf bytes.Buffer
	if err := array.RecordToJSON(rec, &buf); err != nil {
		return err
	}
	var rows []map[string]any
	dec := json.NewDecoder(&buf)
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return err
		}
		rows = append(rows, m)
	}
	c.batches[id] = rows
	return nil
}

func (c *collector) ids() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []int64
	for id := range c.batches {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// wordChunks returns n chunks of random words from a small vocabulary.
func wordChunks(rng *rand.Rand, n, per int) [][]event {
	out := make([][]event, n)
	for i := range out {
		for range per {
			out[i] = append(out[i], event{ts: int64(i) * 1000, word: fmt.Sprintf("w%02d", rng.IntN(23))})
		}
	}
	return out
}

// runOnce runs one batch of a query built by build on checkpoint cp and returns its error.
func runOnce(t *testing.T, p *pipeline.Pipeline, w *pipeline.DataStreamWriter, cp string) error {
	t.Helper()
	q, err := w.Option("checkpointLocation", cp).Trigger(pipeline.Once()).Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return await(t, q)
}

// TestAggregationOutputModes runs a word count batch by batch, restarting the query for every
// batch and failing one batch in the sink, and compares each batch's output with counts
// computed directly: update emits the words a batch changed, complete every word.
func TestAggregationOutputModes(t *testing.T) {
	for _, tc := range []struct{ mode, backend string }{{"update", "memory"}, {"complete", "memory"}, {"update", "pebble"}} {
		mode := tc.mode
		t.Run(mode+"/"+tc.backend, func(t *testing.T) {
			mem := testkit.CheckedAlloc(t)
			rng := rand.New(rand.NewPCG(7, uint64(len(mode))))
			chunks := wordChunks(rng, 8, 50)
			src := newScript(chunks)
			col := newCollector()
			col.failAt = 3
			cp := filepath.Join(t.TempDir(), "cp")
			p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)),
				pipeline.WithStateStore(state.Options{Backend: tc.backend}))
			build := func() *pipeline.DataStreamWriter {
				return p.ReadStream().Source(src).Load().GroupBy("word").Count().
					WriteStream().OutputMode(mode).ForeachBatch(col.fn)
			}
			failed := 0
			for i := 0; i < len(chunks)+1; i++ {
				if err := runOnce(t, p, build(), cp); err != nil {
					failed++
					if failed > 1 {
						t.Fatal(err)
					}
				}
			}
			if failed != 1 {
				t.Fatalf("the injected failure did not happen")
			}
			counts := map[string]float64{}
			for b, evs := range chunks {
				touched := map[string]bool{}
				for _, e := range evs {
					counts[e.word]++
					touched[e.word] = true
				}
				want := map[string]float64{}
				for w, n := range counts {
					if mode == "complete" || touched[w] {
						want[w] = n
					}
				}
				got := map[string]float64{}
				for _, row := range col.batches[int64(b)] {
					w := row["word"].(string)
					if _, dup := got[w]; dup {
						t.Fatalf("batch %d: word %s emitted twice", b, w)
					}
					got[w] = row["count"].(float64)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("batch %d (-want +got):\n%s", b, diff)
				}
			}
			p.Close(context.Background())
		})
	}
}

// TestStateRebuiltWhenSinkHasBatch fails the commit of a batch after the idempotent sink
// holds it: the replay must not write the batch again but must still bring the state to its
// end, so later counts are right.
func TestStateRebuiltWhenSinkHasBatch(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	rng := rand.New(rand.NewPCG(3, 4))
	chunks := wordChunks(rng, 5, 40)
	src := newScript(chunks)
	rec := newRecorder(true)
	cp := filepath.Join(t.TempDir(), "cp")
	fs := &faultStore{failOn: "commits/2"}
	p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)),
		pipeline.WithCheckpointStore(func(loc string) (checkpoint.Store, error) {
			d, err := checkpoint.NewDir(loc)
			fs.Store = d
			return fs, err
		}))
	defer p.Close(context.Background())
	// The recorder keeps int64 values: count words "w00".."w22" as their number times 1000 plus
	// the count, so one column holds both.
	build := func() *pipeline.DataStreamWriter {
		return p.ReadStream().Source(src).Load().GroupBy("word").Count().
			Select("int(word.substring(1)) * 1000 + count AS value").
			WriteStream().OutputMode("complete").Sink(rec.sink())
	}
	var errs int
	for range len(chunks) + 1 {
		if err := runOnce(t, p, build(), cp); err != nil {
			errs++
		}
	}
	if errs != 1 {
		t.Fatalf("%d failed runs; want the injected one", errs)
	}
	counts := map[int64]int64{}
	for _, evs := range chunks {
		for _, e := range evs {
			n, _ := strconv.ParseInt(e.word[1:], 10, 64)
			counts[n]++
		}
	}
	var want []int64
	for w, n := range counts {
		want = append(want, w*1000+n)
	}
	slices.Sort(want)
	got := append([]int64(nil), rec.commits[int64(len(chunks)-1)]...)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("final complete output (-want +got):\n%s", diff)
	}
	if count(rec.begun, 2) > 1 {
		t.Fatalf("batch 2 was written to the idempotent sink twice: begun %v", rec.begun)
	}
}

func count(v []int64, x int64) int {
	n := 0
	for _, y := range v {
		if y == x {
			n++
		}
	}
	return n
}

// windowRef computes Spark's result of a windowed count with a watermark, batch by batch: the
// rows each batch drops as late, and the windows the final watermark closed with their counts.
type windowRef struct {
	size, slide, delay int64 // ms
	wm                 int64
	maxTs              int64
	seen               bool
	counts             map[int64]int64 // window start → rows
	dropped            []int64         // per batch
	emitted            map[int64]int64 // append mode: window start → count, once
	wms                []int64         // the watermark each batch ran with
}

func (r *windowRef) windows(ts int64) []int64 {
	var out []int64
	last := ts - ((ts%r.slide)+r.slide)%r.slide // the latest window start at or before ts
	for s := last; s > ts-r.size; s -= r.slide {
		out = append(out, s)
	}
	return out
}

func (r *windowRef) batch(evs []event) {
	r.wms = append(r.wms, r.wm)
	var dropped int64
	for _, e := range evs {
		for _, s := range r.windows(e.ts) {
			if s+r.size <= r.wm {
				dropped++
				continue
			}
			r.counts[s]++
		}
		if !r.seen || e.ts > r.maxTs {
			r.maxTs, r.seen = e.ts, true
		}
	}
	r.dropped = append(r.dropped, dropped)
	// Append: windows whose end is at or before the watermark are final.
	for s, n := range r.counts {
		if s+r.size <= r.wm {
			r.emitted[s] = n
			delete(r.counts, s)
		}
	}
	if r.seen && r.maxTs-r.delay > r.wm {
		r.wm = r.maxTs - r.delay
	}
}

// TestWindowedAppendWithWatermark feeds events with late ones into tumbling and sliding
// windows with a watermark, and checks, against a direct computation: each window is emitted
// once, when the watermark passes its end, with the right count; late rows are dropped and
// counted in progress; state is evicted.
func TestWindowedAppendWithWatermark(t *testing.T) {
	for _, tc := range []struct {
		name               string
		size, slide, delay time.Duration
	}{
		{"tumbling", 10 * time.Second, 0, 5 * time.Second},
		{"sliding", 10 * time.Second, 5 * time.Second, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := testkit.CheckedAlloc(t)
			rng := rand.New(rand.NewPCG(11, uint64(tc.slide)))
			var chunks [][]event
			now := int64(1_700_000_000_000)
			for range 30 {
				var evs []event
				for range 20 + rng.IntN(20) {
					// Mostly recent, some late by up to 30 s.
					ts := now - rng.Int64N(4000)
					if rng.IntN(6) == 0 {
						ts = now - rng.Int64N(30000)
					}
					evs = append(evs, event{ts: ts, word: "x"})
				}
				chunks = append(chunks, evs)
				now += 2000 + rng.Int64N(2000)
			}
			slide := tc.slide
			if slide == 0 {
				slide = tc.size
			}
			ref := &windowRef{size: tc.size.Milliseconds(), slide: slide.Milliseconds(), delay: tc.delay.Milliseconds(),
				counts: map[int64]int64{}, emitted: map[int64]int64{}}
			for _, evs := range chunks {
				ref.batch(evs)
			}
			ref.batch(nil) // the no-data batch that acts on the last watermark

			src := newScript(chunks)
			col := newCollector()
			var slides []time.Duration // none for tumbling windows
			if tc.slide > 0 {
				slides = append(slides, tc.slide)
			}
			var progress []pipeline.QueryProgress
			var pmu sync.Mutex
			p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)),
				pipeline.WithListener(pipeline.ListenerFuncs{Progress: func(e pipeline.QueryProgressEvent) {
					pmu.Lock()
					progress = append(progress, e.Progress)
					pmu.Unlock()
				}}))
			defer p.Close(context.Background())
			q, err := p.ReadStream().Source(src).Load().
				WithWatermark("ts", tc.delay).Window("ts", tc.size, slides...).
				GroupBy("window").Agg(pipeline.Count("*")).
				WriteStream().OutputMode("append").ForeachBatch(col.fn).
				Option("checkpointLocation", filepath.Join(t.TempDir(), "cp")).
				Trigger(pipeline.AvailableNow()).Start(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := await(t, q); err != nil {
				t.Fatal(err)
			}
			got := map[int64]int64{}
			for _, id := range col.ids() {
				for _, row := range col.batches[id] {
					w := row["window"].(map[string]any)
					start, err := time.Parse(time.RFC3339Nano, strings.Replace(w["start"].(string), " ", "T", 1))
					if err != nil {
						t.Fatalf("window start %v: %v", w["start"], err)
					}
					s := start.UnixMilli()
					if _, dup := got[s]; dup {
						t.Fatalf("window %v emitted twice", w)
					}
					got[s] = int64(row["count(1)"].(float64))
				}
			}
			if diff := cmp.Diff(ref.emitted, got); diff != "" {
				t.Fatalf("emitted windows (-want +got):\n%s", diff)
			}
			if len(progress) != len(ref.dropped) {
				t.Fatalf("%d batches ran; want %d (30 with data and one without)", len(progress), len(ref.dropped))
			}
			for i, pr := range progress {
				if len(pr.StateOperators) != 1 {
					t.Fatalf("batch %d: stateOperators %+v", i, pr.StateOperators)
				}
				so := pr.StateOperators[0]
				if so.NumRowsDroppedByWatermark != ref.dropped[i] {
					t.Errorf("batch %d: numRowsDroppedByWatermark %d, want %d", i, so.NumRowsDroppedByWatermark, ref.dropped[i])
				}
				// As Spark's progress: the watermark the batch ran with.
				wantWM := time.UnixMilli(ref.wms[i]).UTC().Format("2006-01-02T15:04:05.000Z")
				if pr.EventTime["watermark"] != wantWM {
					t.Errorf("batch %d: eventTime.watermark %q, want %q", i, pr.EventTime["watermark"], wantWM)
				}
			}
			last := progress[len(progress)-1].StateOperators[0]
			if last.NumRowsTotal != int64(len(ref.counts)) {
				t.Errorf("state holds %d windows at the end; want %d (the open ones)", last.NumRowsTotal, len(ref.counts))
			}
		})
	}
}

// TestStateStaysBounded runs many batches with moving event time in update mode: windows the
// watermark passed are evicted, so the state's size stays bounded.
func TestStateStaysBounded(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	var chunks [][]event
	for i := range 120 {
		var evs []event
		for j := range 50 {
			evs = append(evs, event{ts: int64(i)*1000 + int64(j)*20, word: fmt.Sprintf("k%d", j%10)})
		}
		chunks = append(chunks, evs)
	}
	src := newScript(chunks)
	var maxKeys, lastRemoved int64
	p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)),
		pipeline.WithListener(pipeline.ListenerFuncs{Progress: func(e pipeline.QueryProgressEvent) {
			if so := e.Progress.StateOperators; len(so) == 1 {
				maxKeys = max(maxKeys, so[0].NumRowsTotal)
				lastRemoved += so[0].NumRowsRemoved
			}
		}}))
	defer p.Close(context.Background())
	q, err := p.ReadStream().Source(src).Load().
		WithWatermark("ts", 2*time.Second).Window("ts", 5*time.Second).
		GroupBy("window", "word").Count().
		WriteStream().OutputMode("update").ForeachBatch(func(context.Context, arrow.RecordBatch, int64) error { return nil }).
		Option("checkpointLocation", filepath.Join(t.TempDir(), "cp")).
		Trigger(pipeline.AvailableNow()).Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := await(t, q); err != nil {
		t.Fatal(err)
	}
	// At most ceil((5 s window + 2 s delay + 1 s batch) / 5 s) + 1 = 3 windows of 10 words live.
	if maxKeys == 0 || maxKeys > 30 {
		t.Fatalf("state reached %d keys over 120 batches; want it bounded by about 30", maxKeys)
	}
	if lastRemoved < 200 {
		t.Fatalf("only %d keys evicted over 120 batches", lastRemoved)
	}
}

// TestDropDuplicatesAcrossBatches keeps the first row of each word across batches and restarts.
func TestDropDuplicatesAcrossBatches(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	rng := rand.New(rand.NewPCG(5, 6))
	chunks := wordChunks(rng, 6, 30)
	src := newScript(chunks)
	col := newCollector()
	cp := filepath.Join(t.TempDir(), "cp")
	p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)))
	defer p.Close(context.Background())
	for range len(chunks) {
		if err := runOnce(t, p, p.ReadStream().Source(src).Load().DropDuplicates("word").WriteStream().ForeachBatch(col.fn), cp); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for b, evs := range chunks {
		var want []string
		for _, e := range evs {
			if !seen[e.word] {
				seen[e.word] = true
				want = append(want, e.word)
			}
		}
		var got []string
		for _, row := range col.batches[int64(b)] {
			got = append(got, row["word"].(string))
		}
		slices.Sort(want)
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("batch %d (-want +got):\n%s", b, diff)
		}
	}
}

// TestStatefulValidation checks the query shapes Start refuses, each with a clear message.
func TestStatefulValidation(t *testing.T) {
	p := pipeline.New()
	src := func() *pipeline.Stream { return p.ReadStream().Source(newScript(nil)).Load() }
	nop := func(context.Context, arrow.RecordBatch, int64) error { return nil }
	for _, tc := range []struct {
		name string
		w    *pipeline.DataStreamWriter
		want string
	}{
		{"complete without aggregation", src().WriteStream().OutputMode("complete"), "output mode complete is not supported"},
		{"append aggregation without watermark", src().GroupBy("word").Count().WriteStream().OutputMode("append"), "output mode append is not supported for Aggregate"},
		{"append aggregation, watermark not a key", src().WithWatermark("ts", time.Second).GroupBy("word").Count().WriteStream(), "without a watermark"},
		{"two aggregations", src().GroupBy("word").Count().GroupBy("count").Count().WriteStream().OutputMode("complete"), "multiple streaming aggregations"},
		{"dedup after aggregation", src().GroupBy("word").Count().DropDuplicates("word").WriteStream().OutputMode("update"), "deduplicate before aggregating"},
		{"unknown group column", src().GroupBy("nope").Count().WriteStream().OutputMode("update"), "nope"},
		{"watermark on a string", src().WithWatermark("word", time.Second).WriteStream(), "word"},
		{"zero slide", src().WithWatermark("ts", time.Second).Window("ts", time.Second, 0).GroupBy("window").Count().WriteStream().OutputMode("update"), "the slide duration must be greater than 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.w.ForeachBatch(nop).Start(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start: %v; want an error containing %q", err, tc.want)
			}
		})
	}
	t.Run("bad state backend", func(t *testing.T) {
		p := pipeline.New(pipeline.WithStateStore(state.Options{Backend: "rocks"}))
		_, err := p.ReadStream().Source(newScript(nil)).Load().GroupBy("word").Count().
			WriteStream().OutputMode("update").ForeachBatch(nop).Start(context.Background())
		if err == nil || !strings.Contains(err.Error(), "rocks") {
			t.Fatalf("Start: %v; want an error naming the backend", err)
		}
	})
}

// TestGlobalAggregationOverUnion aggregates the union of two sources without keys (one global
// group) and with keys, across batches: the counts are the sums over both inputs.
func TestGlobalAggregationOverUnion(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	rng := rand.New(rand.NewPCG(9, 9))
	a, b := wordChunks(rng, 4, 25), wordChunks(rng, 4, 15)
	p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)))
	defer p.Close(context.Background())
	for _, keyed := range []bool{false, true} {
		col := newCollector()
		s := p.ReadStream().Source(newScript(a)).Load().Union(p.ReadStream().Source(newScript(b)).Load())
		var g *pipeline.GroupedStream
		if keyed {
			g = s.GroupBy("word")
		} else {
			g = s.GroupBy()
		}
		q, err := g.Agg(pipeline.Count("*"), pipeline.Min("word").As("first_word")).
			WriteStream().OutputMode("complete").ForeachBatch(col.fn).
			Option("checkpointLocation", filepath.Join(t.TempDir(), "cp")).
			Trigger(pipeline.AvailableNow()).Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := await(t, q); err != nil {
			t.Fatal(err)
		}
		ids := col.ids()
		last := col.batches[ids[len(ids)-1]]
		want := map[string]float64{}
		for _, chunks := range [][][]event{a, b} {
			for _, evs := range chunks {
				for _, e := range evs {
					if keyed {
						want[e.word]++
					} else {
						want[""]++
					}
				}
			}
		}
		got := map[string]float64{}
		for _, r := range last {
			k := ""
			if keyed {
				k = r["word"].(string)
				if r["first_word"] != k {
					t.Errorf("min(word) of group %s is %v", k, r["first_word"])
				}
			}
			got[k] = r["count(1)"].(float64)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("keyed=%t: final counts (-want +got):\n%s", keyed, diff)
		}
	}
}

// TestChangedAggregationOnCheckpoint restarts a checkpoint with different aggregates: Start or
// the first batch fails with an error that says what does not match, instead of mixing states.
func TestChangedAggregationOnCheckpoint(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	rng := rand.New(rand.NewPCG(1, 2))
	src := newScript(wordChunks(rng, 3, 10))
	cp := filepath.Join(t.TempDir(), "cp")
	p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)))
	defer p.Close(context.Background())
	nop := func(context.Context, arrow.RecordBatch, int64) error { return nil }
	if err := runOnce(t, p, p.ReadStream().Source(src).Load().GroupBy("word").Count().WriteStream().OutputMode("update").ForeachBatch(nop), cp); err != nil {
		t.Fatal(err)
	}
	err := runOnce(t, p, p.ReadStream().Source(src).Load().GroupBy("word").Agg(pipeline.Count("*"), pipeline.Max("ts")).
		WriteStream().OutputMode("update").ForeachBatch(nop), cp)
	if err == nil {
		t.Fatal("a changed aggregation ran on the old state")
	}
	t.Logf("error: %v", err)
}

// TestChangedStatefulOperatorOnCheckpoint: a restart whose stateful operators differ from the
// ones that wrote the checkpoint's state fails with an error naming both, even when the new
// operator's state would have the same shape (a dedup reading an aggregation's keys, a count
// over another key); the same query continues.
func TestChangedStatefulOperatorOnCheckpoint(t *testing.T) {
	nop := func(context.Context, arrow.RecordBatch, int64) error { return nil }
	wordCount := func(s *pipeline.Stream) *pipeline.DataStreamWriter {
		return s.GroupBy("word").Count().WriteStream().OutputMode("update").ForeachBatch(nop)
	}
	dedup := func(s *pipeline.Stream) *pipeline.DataStreamWriter {
		return s.DropDuplicates("word").WriteStream().ForeachBatch(nop)
	}
	for _, tt := range []struct {
		name  string
		base  func(s *pipeline.Stream) *pipeline.DataStreamWriter // the first runs' query; wordCount if nil
		build func(s *pipeline.Stream) *pipeline.DataStreamWriter
		want  string // in the error; "" for none
	}{
		{"same query", nil, wordCount, ""},
		{"a key of another type", nil, func(s *pipeline.Stream) *pipeline.DataStreamWriter {
			return wordCount(s.WithColumn("word", "size(word)"))
		}, "with the types (word utf8, count int64); the query's are now (word int64, count int64)"},
		{"same dedup", dedup, dedup, ""},
		{"a dedup key of another type", dedup, func(s *pipeline.Stream) *pipeline.DataStreamWriter {
			return dedup(s.WithColumn("word", "size(word)"))
		}, "with the types (word utf8); the query's are now (word int64)"},
		{"dedup instead", nil, func(s *pipeline.Stream) *pipeline.DataStreamWriter {
			return s.DropDuplicates("word").WriteStream().ForeachBatch(nop)
		}, "holds the state of"},
		{"another key", nil, func(s *pipeline.Stream) *pipeline.DataStreamWriter {
			return s.GroupBy("word AS w").Count().WriteStream().OutputMode("update").ForeachBatch(nop)
		}, "holds the state of"},
		{"dedup added in front", nil, func(s *pipeline.Stream) *pipeline.DataStreamWriter {
			return s.DropDuplicates("word", "ts").GroupBy("word").Count().WriteStream().OutputMode("update").ForeachBatch(nop)
		}, "use a new checkpointLocation"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mem := testkit.CheckedAlloc(t)
			rng := rand.New(rand.NewPCG(1, 2))
			src := newScript(wordChunks(rng, 3, 10))
			src.avail.Store(1)
			cp := filepath.Join(t.TempDir(), "cp")
			p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)))
			defer p.Close(context.Background())
			base := tt.base
			if base == nil {
				base = wordCount
			}
			for range 2 {
				if err := runOnce(t, p, base(p.ReadStream().Source(src).Load()), cp); err != nil {
					t.Fatal(err)
				}
				src.avail.Add(1)
			}
			err := runOnce(t, p, tt.build(p.ReadStream().Source(src).Load()), cp)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("the same query on its checkpoint: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v; want an error containing %q", err, tt.want)
			}
			t.Logf("error: %v", err)
		})
	}
}

// TestNoDataBatchesByMode: when the watermark moves and no data arrives, an update-mode
// aggregation runs a batch without data (to emit and evict by the new watermark), a
// complete-mode one does not (it ignores the watermark), as Spark plans them.
func TestNoDataBatchesByMode(t *testing.T) {
	chunks := [][]event{
		{{ts: 1_000, word: "a"}, {ts: 2_000, word: "b"}},
		{{ts: 5_000, word: "a"}},
		{{ts: 9_000, word: "c"}},
	}
	for _, tt := range []struct {
		mode    string
		batches int
	}{{"complete", 3}, {"update", 4}} {
		t.Run(tt.mode, func(t *testing.T) {
			mem := testkit.CheckedAlloc(t)
			col := newCollector()
			var progress int
			p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)),
				pipeline.WithListener(pipeline.ListenerFuncs{Progress: func(pipeline.QueryProgressEvent) { progress++ }}))
			defer p.Close(context.Background())
			q, err := p.ReadStream().Source(newScript(chunks)).Load().WithWatermark("ts", time.Second).
				GroupBy("word").Count().WriteStream().OutputMode(tt.mode).ForeachBatch(col.fn).
				Option("checkpointLocation", t.TempDir()).Trigger(pipeline.AvailableNow()).Start(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := await(t, q); err != nil {
				t.Fatal(err)
			}
			if progress != tt.batches {
				t.Errorf("%d batches ran; want %d", progress, tt.batches)
			}
		})
	}
}

// TestWatermarkSurvivesRestart: as Spark's commit metadata, the watermark a batch computed for
// the next one is kept in the checkpoint, so a query run one Once batch at a time emits the
// same final windows, with the same counts, as one run over the same batches.
func TestWatermarkSurvivesRestart(t *testing.T) {
	const runs = 8
	query := func(p *pipeline.Pipeline, col *collector, cp string, trig pipeline.Trigger) (*pipeline.Query, error) {
		return p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "10").Load().
			WithWatermark("timestamp", time.Second).Window("timestamp", 2*time.Second).
			GroupBy("window").Count().
			WriteStream().OutputMode("append").ForeachBatch(col.fn).
			Option("checkpointLocation", cp).Trigger(trig).Start(context.Background())
	}
	windows := func(col *collector) map[string]float64 {
		out := map[string]float64{}
		for _, id := range col.ids() {
			for _, r := range col.batches[id] {
				w := fmt.Sprint(r["window"])
				if _, dup := out[w]; dup {
					t.Fatalf("window %s emitted twice", w)
				}
				out[w] = r["count"].(float64)
			}
		}
		return out
	}
	mem := testkit.CheckedAlloc(t)
	p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)))
	defer p.Close(context.Background())

	// One Once batch per run; each restart must continue from the watermark of the last batch.
	restarted := newCollector()
	cp := filepath.Join(t.TempDir(), "cp")
	for range runs {
		q, err := query(p, restarted, cp, pipeline.Once())
		if err != nil {
			t.Fatal(err)
		}
		if err := await(t, q); err != nil {
			t.Fatal(err)
		}
	}
	// The same batches in one run: stop after the batch that has the same ID as the last of
	// the restarted runs (which ran runs data batches).
	once := newCollector()
	q, err := query(p, once, filepath.Join(t.TempDir(), "cp"), pipeline.ProcessingTime(0))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for q.LastProgress() == nil || q.LastProgress().BatchID < runs-1 {
		if time.Now().After(deadline) {
			t.Fatal("the uninterrupted run did not reach its batches in 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := q.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, all := windows(restarted), windows(once)
	// Batch 7 runs with the watermark batch 6 computed, 5.999 s: windows [0,2) and [2,4) are
	// final. Without the watermark kept across restarts, none ever is.
	if len(got) < 2 {
		t.Fatalf("%d runs of one batch emitted %d windows (%v); the watermark did not advance across restarts", runs, len(got), got)
	}
	for w, n := range got {
		if n != 20 || all[w] != n {
			t.Errorf("window %s: %v rows after restarts, %v in one run; want 20 (10 rows a second, 2 s windows)", w, n, all[w])
		}
	}
}

// TestStatefulProgressJSON: the progress of a stateful query has Spark's StateOperatorProgress
// fields, and the name of a query without one is null, as in Spark's JSON.
func TestStatefulProgressJSON(t *testing.T) {
	p := pipeline.New(pipeline.WithAllocator(testkit.CheckedAlloc(t)), pipeline.WithLogger(testkit.Logger(t)))
	defer p.Close(context.Background())
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "10").Load().
		GroupBy("value % 3 AS k").Count().WriteStream().OutputMode("update").
		ForeachBatch(func(context.Context, arrow.RecordBatch, int64) error { return nil }).
		Option("checkpointLocation", t.TempDir()).Trigger(pipeline.Once()).Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := await(t, q); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(q.LastProgress().JSON()), &m); err != nil {
		t.Fatal(err)
	}
	if name, ok := m["name"]; !ok || name != nil {
		t.Errorf("name %v (present %t); want null", name, ok)
	}
	ops := m["stateOperators"].([]any)
	if len(ops) != 1 {
		t.Fatalf("stateOperators %v", ops)
	}
	op := ops[0].(map[string]any)
	for _, k := range []string{"operatorName", "numRowsTotal", "numRowsUpdated", "numRowsRemoved", "allUpdatesTimeMs", "allRemovalsTimeMs",
		"commitTimeMs", "memoryUsedBytes", "numRowsDroppedByWatermark", "numShufflePartitions", "numStateStoreInstances"} {
		if _, ok := op[k]; !ok {
			t.Errorf("stateOperators[0] lacks %s: %v", k, op)
		}
	}
	if op["numRowsTotal"] != 3.0 || op["numRowsUpdated"] != 3.0 || op["operatorName"] != "stateStoreSave" {
		t.Errorf("stateOperators[0] = %v; want 3 keys, 3 updated, stateStoreSave", op)
	}
}
