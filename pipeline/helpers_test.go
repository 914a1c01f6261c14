package pipeline_test

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

	"github.com/sluicedev/sluice/checkpoint"
	"github.com/sluicedev/sluice/pipeline"
	"github.com/sluicedev/sluice/sinks"
	"github.com/sluicedev/sluice/sources/rate"
)

// recorder is a sink that outlives query runs, as an external system would: it remembers every
// committed batch and, when idempotent, tells the coordinator the last one it holds.
type recorder struct {
	mu         sync.Mutex
	idempotent bool
	commits    map[int64][]int64 // batch ID → values, last commit wins
	begun      []int64           // every Begin, in order
	committed  []int64           // every Commit, in order
	// fault injection: fail the next call of that kind, once
	failBegin, failWrite, failCommit bool
}

func newRecorder(idempotent bool) *recorder {
	return &recorder{idempotent: idempotent, commits: map[int64][]int64{}}
}

var errInjected = errors.New("injected fault")

func (r *recorder) Description() string                    { return "Recorder" }
func (r *recorder) Open(context.Context, sinks.Info) error { return nil }
func (r *recorder) Close(context.Context) error            { return nil }

func (r *recorder) Begin(_ context.Context, id int64) (sinks.BatchWriter, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.begun = append(r.begun, id)
	if r.failBegin {
		r.failBegin = false
		return nil, errInjected
	}
	return &recWriter{r: r, id: id}, nil
}

type recWriter struct {
	r      *recorder
	id     int64
	values []int64
}

func (w *recWriter) Write(_ context.Context, rec arrow.RecordBatch) error {
	w.r.mu.Lock()
	fail := w.r.failWrite
	w.r.failWrite = false
	w.r.mu.Unlock()
	if fail {
		return errInjected
	}
	col := rec.Column(int(rec.Schema().FieldIndices("value")[0])).(*array.Int64)
	w.values = append(w.values, col.Int64Values()...)
	return nil
}

func (w *recWriter) Commit(context.Context) error {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	if w.r.failCommit {
		w.r.failCommit = false
		return errInjected
	}
	slices.Sort(w.values)
	w.r.commits[w.id] = w.values
	w.r.committed = append(w.r.committed, w.id)
	return nil
}

func (w *recWriter) Abort(context.Context) error { return nil }

// idemRecorder adds sinks.Idempotent to a recorder.
type idemRecorder struct{ *recorder }

func (r idemRecorder) LastBatchID(context.Context) (int64, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.commits) == 0 {
		return 0, false, nil
	}
	var last int64 = -1
	for id := range r.commits {
		last = max(last, id)
	}
	return last, true, nil
}

func (r *recorder) sink() sinks.Sink {
	if r.idempotent {
		return idemRecorder{r}
	}
	return r
}

// values returns every committed value, in batch order (duplicates kept).
func (r *recorder) values() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]int64, 0, len(r.commits))
	for id := range r.commits {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []int64
	for _, id := range ids {
		out = append(out, r.commits[id]...)
	}
	return out
}

// faultStore wraps a checkpoint directory and fails the first write of a matching file.
type faultStore struct {
	checkpoint.Store
	mu     sync.Mutex
	failOn string // file name prefix, e.g. "offsets/2"
}

func (f *faultStore) WriteFile(ctx context.Context, name string, data []byte) error {
	f.mu.Lock()
	fail := f.failOn != "" && name == f.failOn
	if fail {
		f.failOn = ""
	}
	f.mu.Unlock()
	if fail {
		return errInjected
	}
	return f.Store.WriteFile(ctx, name, data)
}

// fakeClock is a settable clock for the rate source.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rateSource returns a rate source on clock with rps rows per second and at most perBatch
// rows per batch.
func rateSource(t *testing.T, clock *fakeClock, rps, perBatch int64) *rate.Source {
	t.Helper()
	src, err := rate.New(rate.Options{RowsPerSecond: rps, NumPartitions: 3, MaxRowsPerBatch: perBatch, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// seq returns 0..n-1.
func seq(n int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i)
	}
	return out
}

func await(t *testing.T, q *pipeline.Query) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := q.AwaitTermination(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("query did not terminate: status %+v", q.Status())
	}
	return err
}

func describe(v []int64) string {
	if len(v) > 20 {
		return fmt.Sprintf("%d values %v...%v", len(v), v[:5], v[len(v)-5:])
	}
	return fmt.Sprint(v)
}
