package kinesis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/sluicedev/sluice/internal/testkit"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedev/sluice/internal/localaws"
	"github.com/sluicedev/sluice/pipeline"
	"github.com/sluicedev/sluice/sinks"
)

// idemSink is an idempotent test sink that outlives queries, as a table in a database would:
// it keeps the rows of each committed batch ID, and can fail a chosen batch once.
type idemSink struct {
	mu      sync.Mutex
	batches map[int64][]row
	last    int64
	has     bool
	failAt  int64 // fail the commit of this batch ID once (-1: never)
	failed  bool
}

func newIdemSink() *idemSink { return &idemSink{batches: map[int64][]row{}, failAt: -1} }

func (s *idemSink) Description() string                    { return "IdempotentTestSink" }
func (s *idemSink) Open(context.Context, sinks.Info) error { return nil }
func (s *idemSink) Close(context.Context) error            { return nil }
func (s *idemSink) AllowsTemporaryCheckpoint() bool        { return true }
func (s *idemSink) Begin(_ context.Context, id int64) (sinks.BatchWriter, error) {
	return &idemWriter{s: s, id: id}, nil
}

func (s *idemSink) LastBatchID(context.Context) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.has, nil
}

// rows returns every row in batch order.
func (s *idemSink) rows() []row {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]int64, 0, len(s.batches))
	for id := range s.batches {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var out []row
	for _, id := range ids {
		out = append(out, s.batches[id]...)
	}
	return out
}

func (s *idemSink) numRows() int { return len(s.rows()) }

// perBatch returns the rows of each batch, in batch order.
func (s *idemSink) perBatch() [][]row {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]int64, 0, len(s.batches))
	for id := range s.batches {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var out [][]row
	for _, id := range ids {
		out = append(out, s.batches[id])
	}
	return out
}

type idemWriter struct {
	s    *idemSink
	id   int64
	rows []row
}

func (w *idemWriter) Write(_ context.Context, rec arrow.RecordBatch) error {
	w.rows = append(w.rows, rowsOf(rec)...)
	return nil
}

func (w *idemWriter) Abort(context.Context) error { w.rows = nil; return nil }

func (w *idemWriter) Commit(context.Context) error {
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.id == s.failAt && !s.failed {
		s.failed = true
		return errors.New("injected sink failure")
	}
	if s.has && w.id <= s.last {
		return fmt.Errorf("batch %d committed twice", w.id)
	}
	s.batches[w.id] = w.rows
	s.last, s.has = w.id, true
	return nil
}

// localOpts are Spark-style options for a local server.
func localOpts(ep string, streams string, extra ...string) map[string]string {
	kv := map[string]string{
		"streamName":         streams,
		"endpoint":           ep,
		"region":             localaws.Region,
		"awsAccessKey":       localaws.AccessKeyID,
		"awsSecretKey":       localaws.SecretAccessKey,
		"minFetchPeriod":     "200ms",
		"maxFetchDuration":   "100ms",
		"shardFetchInterval": "200ms",
		"maxFetchRate":       "2.0",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		kv[extra[i]] = extra[i+1]
	}
	return kv
}

// newPipeline returns a pipeline with a checked allocator; cleanup checks for leaks.
func newPipeline(t *testing.T) *pipeline.Pipeline {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(quietLogger(t)))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		p.Close(ctx)
		mem.AssertSize(t, 0)
	})
	return p
}

func quietLogger(t testing.TB) *slog.Logger {
	if testkit.Logger(t) != nil {
		return testkit.Logger(t)
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// waitRows waits until f() >= n, or fails the test after timeout (or when q terminates).
func waitRows(t *testing.T, q *pipeline.Query, f func() int, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for f() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d rows after %s", f(), n, timeout)
		}
		if q != nil && !q.IsActive() {
			t.Fatalf("query terminated with %d of %d rows: %v", f(), n, q.Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
