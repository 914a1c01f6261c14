// Package memory provides the "memory" sink: it keeps a query's output in memory as Arrow
// batches, queryable by the query's name, for tests and notebooks-style exploration.
//
// In append and update mode each committed micro-batch adds its rows; in complete mode each
// batch replaces the table. The sink is idempotent within a process: a batch ID it already
// holds is not written again.
//
// Importing package pipeline registers the format.
package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/optspec"
	"github.com/sluicedev/sluice/sinks"
)

func init() {
	sinks.Register("memory", func(kv map[string]string) (sinks.Sink, error) {
		var o struct{}
		if err := (&optspec.Spec[struct{}]{Component: "memory sink"}).Parse(&o, kv); err != nil {
			return nil, err
		}
		return New(), nil
	})
}

// Sink is the memory sink; it is also the table that holds the output.
type Sink struct {
	mu      sync.Mutex
	schema  *arrow.Schema
	mode    sinks.OutputMode
	batches []arrow.RecordBatch
	lastID  int64
	hasLast bool
	mem     memory.Allocator
}

// New returns an empty memory sink.
func New() *Sink { return &Sink{} }

// Description implements sinks.Sink.
func (s *Sink) Description() string { return "MemorySink" }

// AllowsTemporaryCheckpoint implements sinks.TemporaryCheckpointer.
func (s *Sink) AllowsTemporaryCheckpoint() bool { return true }

// Open implements sinks.Sink.
func (s *Sink) Open(_ context.Context, info sinks.Info) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.schema, s.mode, s.mem = info.Schema, info.OutputMode, info.Allocator
	if s.mem == nil {
		s.mem = memory.DefaultAllocator
	}
	return nil
}

// Close implements sinks.Sink. The table stays readable until Release.
func (s *Sink) Close(context.Context) error { return nil }

// LastBatchID implements sinks.Idempotent.
func (s *Sink) LastBatchID(context.Context) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastID, s.hasLast, nil
}

// Begin implements sinks.Sink.
func (s *Sink) Begin(_ context.Context, batchID int64) (sinks.BatchWriter, error) {
	return &writer{s: s, id: batchID}, nil
}

type writer struct {
	s       *Sink
	id      int64
	pending []arrow.RecordBatch
}

func (w *writer) Write(_ context.Context, rec arrow.RecordBatch) error {
	rec.Retain()
	w.pending = append(w.pending, rec)
	return nil
}

func (w *writer) Abort(context.Context) error {
	for _, b := range w.pending {
		b.Release()
	}
	w.pending = nil
	return nil
}

func (w *writer) Commit(context.Context) error {
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hasLast && w.id <= s.lastID {
		// The coordinator does not Abort after a failed Commit: drop the batch here.
		for _, b := range w.pending {
			b.Release()
		}
		w.pending = nil
		return fmt.Errorf("memory sink: batch %d committed twice (the sink holds batches up to %d)", w.id, s.lastID)
	}
	if s.mode == sinks.Complete {
		for _, b := range s.batches {
			b.Release()
		}
		s.batches = nil
	}
	s.batches = append(s.batches, w.pending...)
	w.pending = nil
	s.lastID, s.hasLast = w.id, true
	return nil
}

// Schema returns the table's schema (nil before the query started).
func (s *Sink) Schema() *arrow.Schema {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.schema
}

// NumRows returns how many rows the table holds.
func (s *Sink) NumRows() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return arrowbatch.NumRows(s.batches)
}

// Snapshot returns the table's content as one batch, which the caller releases.
func (s *Sink) Snapshot() (arrow.RecordBatch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.schema == nil {
		return nil, errors.New("memory sink: the query has not started")
	}
	return arrowbatch.Concat(s.mem, s.schema, s.batches)
}

// Rows returns every row as a map from column name to Go value (see arrowbatch.Row.Value);
// convenient in tests.
func (s *Sink) Rows() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, b := range s.batches {
		names := arrowbatch.FieldNames(b.Schema())
		for i := 0; i < int(b.NumRows()); i++ {
			row := make(map[string]any, len(names))
			for c, n := range names {
				row[n] = arrowbatch.GoValue(b.Column(c), i)
			}
			out = append(out, row)
		}
	}
	return out
}

// Release frees the table's batches; the table is empty afterwards.
func (s *Sink) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.batches {
		b.Release()
	}
	s.batches = nil
}
