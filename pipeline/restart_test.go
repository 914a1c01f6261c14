package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedev/sluice/checkpoint"
	"github.com/sluicedev/sluice/internal/testkit"
	"github.com/sluicedev/sluice/pipeline"
)

// TestStartTwice: as in Spark, a stream can be written to several sinks and a writer started
// again: each Start makes its own sources, operators (stateful ones included) and sink, so
// two queries from one stream run at once and each counts its own rows.
func TestStartTwice(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)))
	defer p.Close(context.Background())
	s := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "10").Load().
		WithColumn("k", "value % 3").GroupBy("k").Count()
	var mu sync.Mutex
	totals := map[string]int64{} // query → the sum of the last counts it saw
	sink := func(name string) func(context.Context, arrow.RecordBatch, int64) error {
		return func(_ context.Context, b arrow.RecordBatch, _ int64) error {
			mu.Lock()
			defer mu.Unlock()
			var sum int64
			for _, c := range b.Column(int(b.Schema().FieldIndices("count")[0])).(interface{ Int64Values() []int64 }).Int64Values() {
				sum += c
			}
			totals[name] = sum
			return nil
		}
	}
	start := func(w *pipeline.DataStreamWriter, dir string) *pipeline.Query {
		q, err := w.Option("checkpointLocation", dir).Trigger(pipeline.AvailableNow()).Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	// One stream, two queries at once, each with a stateful aggregation.
	qa := start(s.WriteStream().OutputMode("complete").ForeachBatch(sink("a")), t.TempDir())
	qb := start(s.WriteStream().OutputMode("complete").ForeachBatch(sink("b")), t.TempDir())
	for _, q := range []*pipeline.Query{qa, qb} {
		if err := await(t, q); err != nil {
			t.Fatal(err)
		}
	}
	if totals["a"] != 10 || totals["b"] != 10 {
		t.Errorf("counts %v; want 10 rows counted by each query", totals)
	}
	// The same writer started again, on its checkpoint: the query goes on.
	dir := t.TempDir()
	w := s.WriteStream().OutputMode("complete").ForeachBatch(sink("c"))
	for run := 1; run <= 2; run++ {
		if err := await(t, start(w, dir)); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if want := int64(10 * run); totals["c"] != want {
			t.Errorf("run %d: count %d; want %d", run, totals["c"], want)
		}
	}
}

// TestListenerPanics: a listener that panics is logged and ignored, as Spark's listener bus
// does: the query runs to its end, and the pipeline stays usable.
func TestListenerPanics(t *testing.T) {
	var progress atomic.Int64
	p := pipeline.New(pipeline.WithLogger(testkit.Logger(t)), pipeline.WithListener(pipeline.ListenerFuncs{
		Started:    func(pipeline.QueryStartedEvent) { panic("started") },
		Progress:   func(pipeline.QueryProgressEvent) { progress.Add(1); panic("progress") },
		Terminated: func(pipeline.QueryTerminatedEvent) { panic("terminated") },
	}))
	for range 2 {
		q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "5").Load().
			WriteStream().Format("console").Trigger(pipeline.Once()).Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := await(t, q); err != nil {
			t.Fatal(err)
		}
	}
	if progress.Load() != 2 {
		t.Errorf("%d progress events; want 2", progress.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestConcurrentStartsOfOneName: of several Starts of queries with the same name at once, one
// succeeds and the others are refused, as Spark refuses a second active query of a name.
func TestConcurrentStartsOfOneName(t *testing.T) {
	p := pipeline.New(pipeline.WithLogger(testkit.Logger(t)))
	defer p.Close(context.Background())
	var wg sync.WaitGroup
	var started atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.ReadStream().Format("rate").Load().WriteStream().Format("memory").QueryName("dup").
				Start(context.Background())
			if err == nil {
				started.Add(1)
			}
		}()
	}
	wg.Wait()
	if started.Load() != 1 || len(p.Active()) != 1 {
		t.Errorf("%d Starts succeeded, %d queries active; want 1", started.Load(), len(p.Active()))
	}
}

// TestInputRowsPerSecond: as Spark, the first batch of a run reports 0 input rows per second
// (no previous batch), later ones their rows over the time between the two batches' starts.
func TestInputRowsPerSecond(t *testing.T) {
	var mu sync.Mutex
	var progs []pipeline.QueryProgress
	p := pipeline.New(pipeline.WithLogger(testkit.Logger(t)), pipeline.WithListener(pipeline.ListenerFuncs{
		Progress: func(e pipeline.QueryProgressEvent) {
			mu.Lock()
			defer mu.Unlock()
			if e.Progress.NumInputRows > 0 {
				progs = append(progs, e.Progress)
			}
		},
	}))
	defer p.Close(context.Background())
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "10").Load().
		WriteStream().Format("memory").QueryName("irps").Trigger(pipeline.ProcessingTime(100 * time.Millisecond)).
		Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(progs)
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("fewer than 3 batches in 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := q.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := progs[0].InputRowsPerSecond; got != 0 {
		t.Errorf("batch 0: inputRowsPerSecond %v; want 0", got)
	}
	for i := 1; i < 3; i++ {
		t0, _ := time.Parse(time.RFC3339Nano, progs[i-1].Timestamp)
		t1, _ := time.Parse(time.RFC3339Nano, progs[i].Timestamp)
		want := float64(progs[i].NumInputRows) / t1.Sub(t0).Seconds()
		if got := progs[i].InputRowsPerSecond; got < want*0.9 || got > want*1.1 {
			t.Errorf("batch %d: inputRowsPerSecond %v; want about %v (rows over the time between the starts)", i, got, want)
		}
	}
}

// TestStartWithCancelledContext: Start with a context that has ended returns its error.
func TestStartWithCancelledContext(t *testing.T) {
	p := pipeline.New(pipeline.WithLogger(testkit.Logger(t)))
	defer p.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q, err := p.ReadStream().Format("rate").Load().WriteStream().Format("console").Start(ctx)
	if !errors.Is(err, context.Canceled) || q != nil {
		t.Errorf("Start = %v, %v; want context.Canceled", q, err)
	}
}

// TestCheckpointOfAnotherSourceKind: a checkpoint written by a query reading another kind of
// source is refused (its offsets would be misread); changed options of the same source are
// accepted, as in Spark.
func TestCheckpointOfAnotherSourceKind(t *testing.T) {
	dir := t.TempDir()
	p := pipeline.New(pipeline.WithLogger(testkit.Logger(t)))
	defer p.Close(context.Background())
	run := func(format string, opts map[string]string) error {
		q, err := p.ReadStream().Format(format).Options(opts).Load().WriteStream().Format("console").
			Option("checkpointLocation", dir).Trigger(pipeline.Once()).Start(context.Background())
		if err != nil {
			return err
		}
		return await(t, q)
	}
	if err := run("rate-micro-batch", map[string]string{"rowsPerBatch": "5"}); err != nil {
		t.Fatal(err)
	}
	if err := run("rate-micro-batch", map[string]string{"rowsPerBatch": "7"}); err != nil {
		t.Fatalf("changed options of the same source: %v", err)
	}
	err := run("rate", map[string]string{"rowsPerSecond": "5"})
	if err == nil || !strings.Contains(err.Error(), "RatePerMicroBatchStream") || !strings.Contains(err.Error(), "new checkpointLocation") {
		t.Fatalf("another kind of source: %v; want it refused", err)
	}
}

// TestCheckpointDeletedWhileRunning: a query whose checkpoint is deleted while it runs stops
// with checkpoint.ErrLockLost before its next batch, instead of writing a new log in the
// path, where a second query could then start too.
func TestCheckpointDeletedWhileRunning(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cp")
	p := pipeline.New(pipeline.WithLogger(testkit.Logger(t)))
	defer p.Close(context.Background())
	var batches atomic.Int64
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "5").Load().
		WriteStream().ForeachBatch(func(context.Context, arrow.RecordBatch, int64) error { batches.Add(1); return nil }).
		Option("checkpointLocation", dir).Trigger(pipeline.ProcessingTime(20 * time.Millisecond)).
		Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for batches.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("fewer than 2 batches in 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The query may write a file while the tree is removed ("directory not empty"): retry.
	for err := os.RemoveAll(dir); err != nil; err = os.RemoveAll(dir) {
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	err = await(t, q)
	if !errors.Is(err, checkpoint.ErrLockLost) {
		t.Fatalf("the query ended with %v; want checkpoint.ErrLockLost", err)
	}
}

// TestSlowListener: as on Spark's listener bus, events are delivered asynchronously, so a
// listener that blocks does not hold up the query's batches; AwaitTermination still returns
// after OnQueryTerminated, and a listener may stop and start queries without deadlocking.
func TestSlowListener(t *testing.T) {
	release := make(chan struct{})
	var events []string // written only by the bus goroutine, read after AwaitTermination
	var p *pipeline.Pipeline
	var restarted atomic.Pointer[pipeline.Query]
	p = pipeline.New(pipeline.WithLogger(testkit.Logger(t)), pipeline.WithListener(pipeline.ListenerFuncs{
		Started: func(e pipeline.QueryStartedEvent) { events = append(events, "started "+e.Name) },
		Progress: func(e pipeline.QueryProgressEvent) {
			if e.Progress.BatchID == 0 && e.Progress.Name == "slow" {
				<-release // blocks the bus, not the query
			}
			events = append(events, fmt.Sprintf("progress %s %d", e.Progress.Name, e.Progress.BatchID))
		},
		Terminated: func(e pipeline.QueryTerminatedEvent) {
			events = append(events, "terminated")
			if restarted.Load() != nil {
				return
			}
			// A listener that starts a query and stops it must not wait for its own events.
			q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "1").Load().
				WriteStream().Format("memory").QueryName("again").Start(context.Background())
			if err != nil {
				t.Errorf("Start from a listener: %v", err)
				return
			}
			restarted.Store(q)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := q.Stop(ctx); err != nil {
				t.Errorf("Stop from a listener: %v", err)
			}
			if err := q.AwaitTermination(ctx); err != nil {
				t.Errorf("AwaitTermination from a listener: %v", err)
			}
		},
	}))
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "2").Load().
		WriteStream().Format("memory").QueryName("slow").Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for q.LastProgress() == nil || q.LastProgress().BatchID < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("the query ran %v batches in 20s while a listener blocked", q.LastProgress())
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := q.AwaitTermination(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AwaitTermination of a running query: %v", err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- q.Stop(context.Background()) }()
	select {
	case <-q.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the query did not stop within 20s while a listener blocked")
	}
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned %v before the listeners had the terminated event", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if err := await(t, q); err != nil {
		t.Fatal(err)
	}
	closeCtx, closeCancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer closeCancel()
	if err := p.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	last := q.LastProgress().BatchID
	var want []string
	want = append(want, "started slow")
	for i := int64(0); i <= last; i++ {
		want = append(want, fmt.Sprintf("progress slow %d", i))
	}
	want = append(want, "terminated", "started again")
	if len(events) < len(want) || !slices.Equal(events[:len(want)], want) || events[len(events)-1] != "terminated" {
		t.Errorf("events %q; want %q, then the progress of again and its terminated", events, want)
	}
	if restarted.Load() == nil || restarted.Load().IsActive() {
		t.Error("the query started by the listener did not run and stop")
	}
}

// TestStuckListener: a listener that never returns delays Start, Stop and AwaitTermination of
// the pipeline's queries by at most the listener wait.
func TestStuckListener(t *testing.T) {
	pipeline.SetListenerWait(t, 200*time.Millisecond)
	stuck := make(chan struct{})
	defer close(stuck)
	p := pipeline.New(pipeline.WithLogger(testkit.Logger(t)), pipeline.WithListener(pipeline.ListenerFuncs{
		Progress: func(e pipeline.QueryProgressEvent) {
			if e.Progress.Name == "a" {
				<-stuck // never returns while the test runs
			}
		},
	}))
	start := func(name string) *pipeline.Query {
		t.Helper()
		q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "1").Load().WriteStream().Format("memory").QueryName(name).
			Trigger(pipeline.ProcessingTime(10 * time.Millisecond)).Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	a := start("a")
	deadline := time.Now().Add(20 * time.Second)
	for a.LastProgress() == nil {
		if time.Now().After(deadline) {
			t.Fatal("no progress in 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t0 := time.Now()
	b := start("b") // its OnQueryStarted waits behind a's stuck progress event
	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.AwaitTermination(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took > 10*time.Second {
		t.Errorf("Start, Stop and AwaitTermination took %s behind a stuck listener", took)
	}
}

// TestCloseFromListener: Pipeline.Close called by a listener does not wait for the events queued
// behind the one the listener handles.
func TestCloseFromListener(t *testing.T) {
	closed := make(chan error, 1)
	var p *pipeline.Pipeline
	var once sync.Once
	p = pipeline.New(pipeline.WithLogger(testkit.Logger(t)), pipeline.WithListener(pipeline.ListenerFuncs{
		Progress: func(pipeline.QueryProgressEvent) {
			once.Do(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				closed <- p.Close(ctx)
			})
		},
	}))
	_, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "1").Load().WriteStream().Format("memory").QueryName("c").
		Trigger(pipeline.ProcessingTime(10 * time.Millisecond)).Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close from a listener: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Close from a listener did not return in 15s")
	}
	if n := len(p.Active()); n != 0 {
		t.Errorf("%d queries active after Close", n)
	}
}

// TestIdleProgress: a ProcessingTime query without new data reports a progress now and then,
// as Spark does, for the batch it would run next, with no rows and the durations of the trigger
// that found nothing (latestOffset, triggerExecution).
func TestIdleProgress(t *testing.T) {
	pipeline.SetIdleProgressInterval(t, 50*time.Millisecond)
	p := pipeline.New(pipeline.WithLogger(testkit.Logger(t)))
	defer p.Close(context.Background())
	q, err := p.ReadStream().Source(newScript([][]event{{{ts: 1, word: "a"}}})).Load().
		WriteStream().Format("memory").QueryName("idle").Trigger(pipeline.ProcessingTime(10 * time.Millisecond)).
		Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no idle progress in 20s: %v", q.RecentProgress())
		}
		if pr := q.LastProgress(); pr != nil && pr.BatchID == 1 {
			if pr.NumInputRows != 0 || len(pr.StateOperators) != 0 {
				t.Errorf("idle progress %s", pr.JSON())
			}
			for _, k := range []string{"latestOffset", "triggerExecution"} {
				if _, ok := pr.DurationMs[k]; !ok {
					t.Errorf("idle progress lacks durationMs.%s: %s", k, pr.JSON())
				}
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}
