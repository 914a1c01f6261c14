// Package foreach provides the escape-hatch sinks behind WriteStream().ForeachBatch,
// ForeachTable and Foreach: user code receives each micro-batch (as one Arrow batch, or as a
// table of the batches the query produced, without a copy), or each row, and writes it
// anywhere.
//
// Both are at-least-once: after a failure the coordinator replays the last uncommitted batch
// with the same batch ID and exactly the same rows. To make the output exactly-once, write
// idempotently keyed by the batch ID (for example overwrite a file or table partition named
// after it, or skip batch IDs already recorded in the target system).
package foreach

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/sinks"
)

// BatchFunc receives a whole micro-batch as one Arrow batch, which it borrows.
type BatchFunc func(ctx context.Context, batch arrow.RecordBatch, batchID int64) error

// TableFunc receives a whole micro-batch as an Arrow table whose chunks are the batches the
// query produced, which it borrows: nothing is copied.
type TableFunc func(ctx context.Context, table arrow.Table, batchID int64) error

// BatchSink calls a BatchFunc (or a TableFunc) once per micro-batch, with all its rows.
//
// A BatchFunc gets one Arrow batch: when the micro-batch came in several batches (a large
// Kinesis micro-batch has one per GetRecords answer), they are concatenated into a copy first, so the
// micro-batch is in memory twice while fn runs. A TableFunc gets them as the chunks of one
// table, without a copy.
type BatchSink struct {
	fn      BatchFunc
	tableFn TableFunc
	schema  *arrow.Schema
	mem     memory.Allocator
}

// NewBatchSink returns a sink that calls fn for each micro-batch, with its rows in one batch.
func NewBatchSink(fn BatchFunc) *BatchSink { return &BatchSink{fn: fn} }

// NewTableSink returns a sink that calls fn for each micro-batch, with its batches as the
// chunks of one table.
func NewTableSink(fn TableFunc) *BatchSink { return &BatchSink{tableFn: fn} }

// Description implements sinks.Sink.
func (s *BatchSink) Description() string {
	if s.tableFn != nil {
		return "ForeachTableSink"
	}
	return "ForeachBatchSink"
}

// Open implements sinks.Sink.
func (s *BatchSink) Open(_ context.Context, info sinks.Info) error {
	if s.fn == nil && s.tableFn == nil {
		return fmt.Errorf("foreachBatch: the function is nil")
	}
	s.schema, s.mem = info.Schema, info.Allocator
	if s.mem == nil {
		s.mem = memory.DefaultAllocator
	}
	return nil
}

// Close implements sinks.Sink.
func (s *BatchSink) Close(context.Context) error { return nil }

// Begin implements sinks.Sink.
func (s *BatchSink) Begin(_ context.Context, batchID int64) (sinks.BatchWriter, error) {
	return &batchWriter{s: s, id: batchID}, nil
}

type batchWriter struct {
	s       *BatchSink
	id      int64
	pending []arrow.RecordBatch
}

func (w *batchWriter) Write(_ context.Context, rec arrow.RecordBatch) error {
	if w.s.schema == nil {
		w.s.schema = rec.Schema()
	}
	rec.Retain()
	w.pending = append(w.pending, rec)
	return nil
}

func (w *batchWriter) release() {
	for _, b := range w.pending {
		b.Release()
	}
	w.pending = nil
}

func (w *batchWriter) Abort(context.Context) error {
	w.release()
	return nil
}

func (w *batchWriter) Commit(ctx context.Context) error {
	defer w.release()
	if w.s.schema == nil {
		return fmt.Errorf("foreachBatch: batch %d: schema unknown", w.id)
	}
	if w.s.tableFn != nil {
		for j, b := range w.pending {
			if !b.Schema().Equal(w.s.schema) {
				return fmt.Errorf("foreachBatch: batch %d: chunk %d has schema %s, not %s", w.id, j, b.Schema(), w.s.schema)
			}
		}
		t := array.NewTableFromRecords(w.s.schema, w.pending)
		defer t.Release()
		return w.s.tableFn(ctx, t, w.id)
	}
	all, err := arrowbatch.Concat(w.s.mem, w.s.schema, w.pending)
	if err != nil {
		return err
	}
	defer all.Release()
	return w.s.fn(ctx, all, w.id)
}

// Writer is Spark's ForeachWriter: Open is called once per micro-batch, Process for each row,
// Close at the end with the error that ended the batch (nil on success). Process's row is
// borrowed and valid only during the call.
type Writer interface {
	Open(ctx context.Context, batchID int64) error
	Process(ctx context.Context, row arrowbatch.Row) error
	Close(ctx context.Context, err error) error
}

// RowFunc adapts a function to a Writer with no-op Open and Close.
type RowFunc func(ctx context.Context, row arrowbatch.Row) error

// Open implements Writer.
func (RowFunc) Open(context.Context, int64) error { return nil }

// Process implements Writer.
func (f RowFunc) Process(ctx context.Context, row arrowbatch.Row) error { return f(ctx, row) }

// Close implements Writer.
func (RowFunc) Close(context.Context, error) error { return nil }

// RowSink calls a Writer for every row.
type RowSink struct{ w Writer }

// NewRowSink returns a sink that calls w for every row.
func NewRowSink(w Writer) *RowSink { return &RowSink{w: w} }

// Description implements sinks.Sink.
func (s *RowSink) Description() string { return "ForeachSink" }

// Open implements sinks.Sink.
func (s *RowSink) Open(context.Context, sinks.Info) error {
	if s.w == nil {
		return fmt.Errorf("foreach: the writer is nil")
	}
	return nil
}

// Close implements sinks.Sink.
func (s *RowSink) Close(context.Context) error { return nil }

// Begin implements sinks.Sink.
func (s *RowSink) Begin(ctx context.Context, batchID int64) (sinks.BatchWriter, error) {
	if err := s.w.Open(ctx, batchID); err != nil {
		return nil, err
	}
	return &rowWriter{w: s.w}, nil
}

type rowWriter struct {
	w    Writer
	rows int64 // rows processed in this micro-batch, over all its Writes
	err  error // the error of Process that failed the micro-batch, if one did
}

func (r *rowWriter) Write(ctx context.Context, rec arrow.RecordBatch) error {
	for i := 0; i < int(rec.NumRows()); i++ {
		if err := r.w.Process(ctx, arrowbatch.Row{Batch: rec, Index: i}); err != nil {
			// Name the row by its position in the micro-batch: a micro-batch arrives in
			// several Arrow batches, so the index in rec alone is ambiguous.
			r.err = fmt.Errorf("foreach: row %d of the micro-batch: %w", r.rows, err)
			return r.err
		}
		r.rows++
	}
	return nil
}

func (r *rowWriter) Commit(ctx context.Context) error { return r.w.Close(ctx, nil) }

func (r *rowWriter) Abort(ctx context.Context) error {
	if r.err != nil {
		return r.w.Close(ctx, r.err) // as Spark's close(errorOrNull): the cause
	}
	return r.w.Close(ctx, ErrBatchAborted)
}

// ErrBatchAborted is the error Writer.Close receives when the micro-batch failed elsewhere (in
// a source or an operator); when Process failed, Close receives Process's error (wrapped with
// the row's position). Either way the batch will be replayed.
var ErrBatchAborted = errors.New("foreach: the micro-batch failed and will be replayed")
