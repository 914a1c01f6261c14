package foreach_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/sinks"
	"github.com/sluicedev/sluice/sinks/foreach"
)

var schema = arrow.NewSchema([]arrow.Field{
	{Name: "v", Type: arrow.PrimitiveTypes.Int64},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

func build(mem memory.Allocator, values ...int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for _, v := range values {
		b.Field(0).(*array.Int64Builder).Append(v)
		if v%2 == 0 {
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprint("s", v))
		} else {
			b.Field(1).AppendNull()
		}
	}
	return b.NewRecordBatch()
}

func newChecked(t *testing.T) *memory.CheckedAllocator {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// write begins batch id on snk, writes one Arrow batch per group (releasing its own
// reference right after Write, which borrows) and returns the writer.
func write(t *testing.T, mem memory.Allocator, snk sinks.Sink, id int64, groups ...[]int64) (sinks.BatchWriter, error) {
	t.Helper()
	ctx := context.Background()
	w, err := snk.Begin(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		rec := build(mem, g...)
		err := w.Write(ctx, rec)
		rec.Release()
		if err != nil {
			return w, err
		}
	}
	return w, nil
}

// call is one call of a BatchFunc.
type call struct {
	ID      int64
	Values  []int64
	Strings []string // "NULL" for null
	Schema  string
}

func record(batch arrow.RecordBatch, id int64) call {
	c := call{ID: id, Schema: batch.Schema().String(), Values: []int64{}, Strings: []string{}}
	for i := range int(batch.NumRows()) {
		c.Values = append(c.Values, batch.Column(0).(*array.Int64).Value(i))
		c.Strings = append(c.Strings, arrowbatch.FormatValue(batch.Column(1), i))
	}
	return c
}

func TestBatchSink(t *testing.T) {
	tests := []struct {
		name   string
		groups [][]int64
		want   call
	}{
		{"no records", nil, call{Values: []int64{}, Strings: []string{}}},
		{"one empty record", [][]int64{{}}, call{Values: []int64{}, Strings: []string{}}},
		{"one record", [][]int64{{1, 2}}, call{Values: []int64{1, 2}, Strings: []string{"NULL", "s2"}}},
		{"several records", [][]int64{{1, 2}, {}, {3}, {4, 5, 6}}, call{Values: []int64{1, 2, 3, 4, 5, 6}, Strings: []string{"NULL", "s2", "NULL", "s4", "NULL", "s6"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := newChecked(t)
			ctx := context.Background()
			var calls []call
			snk := foreach.NewBatchSink(func(_ context.Context, batch arrow.RecordBatch, id int64) error {
				calls = append(calls, record(batch, id))
				return nil
			})
			if err := snk.Open(ctx, sinks.Info{Schema: schema, Allocator: mem}); err != nil {
				t.Fatal(err)
			}
			w, err := write(t, mem, snk, 42, tt.groups...)
			if err != nil {
				t.Fatal(err)
			}
			if len(calls) != 0 {
				t.Fatal("the function ran before Commit")
			}
			if err := w.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.ID, want.Schema = 42, schema.String()
			if diff := cmp.Diff([]call{want}, calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if err := snk.Close(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestBatchSinkFunctionMayRetain(t *testing.T) {
	mem := newChecked(t)
	ctx := context.Background()
	var kept []arrow.RecordBatch
	snk := foreach.NewBatchSink(func(_ context.Context, batch arrow.RecordBatch, _ int64) error {
		batch.Retain()
		kept = append(kept, batch)
		return nil
	})
	if err := snk.Open(ctx, sinks.Info{Schema: schema, Allocator: mem}); err != nil {
		t.Fatal(err)
	}
	for id, groups := range [][][]int64{{{1}}, {{2}, {3}}} {
		w, err := write(t, mem, snk, int64(id), groups...)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The batches are still valid after Commit, while retained.
	var got []call
	for i, b := range kept {
		got = append(got, record(b, int64(i)))
		b.Release()
	}
	want := []call{
		{ID: 0, Values: []int64{1}, Strings: []string{"NULL"}, Schema: schema.String()},
		{ID: 1, Values: []int64{2, 3}, Strings: []string{"s2", "NULL"}, Schema: schema.String()},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kept batches (-want +got):\n%s", diff)
	}
}

func TestBatchSinkErrors(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")

	t.Run("function error", func(t *testing.T) {
		mem := newChecked(t)
		snk := foreach.NewBatchSink(func(context.Context, arrow.RecordBatch, int64) error { return boom })
		if err := snk.Open(ctx, sinks.Info{Schema: schema, Allocator: mem}); err != nil {
			t.Fatal(err)
		}
		w, err := write(t, mem, snk, 0, []int64{1}, []int64{2})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(ctx); !errors.Is(err, boom) {
			t.Errorf("Commit = %v; want the function's error", err)
		}
	})

	t.Run("abort", func(t *testing.T) {
		mem := newChecked(t)
		called := 0
		snk := foreach.NewBatchSink(func(context.Context, arrow.RecordBatch, int64) error { called++; return nil })
		if err := snk.Open(ctx, sinks.Info{Schema: schema, Allocator: mem}); err != nil {
			t.Fatal(err)
		}
		w, err := write(t, mem, snk, 0, []int64{1}, []int64{2})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		if called != 0 {
			t.Errorf("the function ran %d times for an aborted batch", called)
		}
		// The batch is replayed with the same ID: at least once.
		w, err = write(t, mem, snk, 0, []int64{1}, []int64{2})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(ctx); err != nil || called != 1 {
			t.Errorf("replay: Commit = %v, function called %d times", err, called)
		}
	})

	t.Run("nil function", func(t *testing.T) {
		err := foreach.NewBatchSink(nil).Open(ctx, sinks.Info{Schema: schema})
		if err == nil || err.Error() != "foreachBatch: the function is nil" {
			t.Errorf("Open = %v", err)
		}
	})

	t.Run("schema from the first record when Open had none", func(t *testing.T) {
		mem := newChecked(t)
		var got []call
		snk := foreach.NewBatchSink(func(_ context.Context, b arrow.RecordBatch, id int64) error {
			got = append(got, record(b, id))
			return nil
		})
		if err := snk.Open(ctx, sinks.Info{Allocator: mem}); err != nil {
			t.Fatal(err)
		}
		w, _ := write(t, mem, snk, 3)
		if err := w.Commit(ctx); err == nil || err.Error() != "foreachBatch: batch 3: schema unknown" {
			t.Errorf("Commit with no schema and no rows = %v", err)
		}
		w, _ = write(t, mem, snk, 4, []int64{7})
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		w, _ = write(t, mem, snk, 5)
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		want := []call{
			{ID: 4, Values: []int64{7}, Strings: []string{"NULL"}, Schema: schema.String()},
			{ID: 5, Values: []int64{}, Strings: []string{}, Schema: schema.String()},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
	})

	t.Run("records of another schema", func(t *testing.T) {
		mem := newChecked(t)
		other := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int32}}, nil)
		called := false
		snk := foreach.NewBatchSink(func(context.Context, arrow.RecordBatch, int64) error { called = true; return nil })
		if err := snk.Open(ctx, sinks.Info{Schema: other, Allocator: mem}); err != nil {
			t.Fatal(err)
		}
		for _, groups := range [][][]int64{{{1}}, {{1}, {2}}} {
			w, err := write(t, mem, snk, 0, groups...)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(ctx); err == nil {
				t.Errorf("Commit of %d records of another schema succeeded", len(groups))
			}
		}
		if called {
			t.Error("the function ran with a batch of the wrong schema")
		}
	})
}

// writer records the calls a RowSink makes.
type writer struct {
	calls    []string
	failOn   int64 // Process fails for this value
	openErr  error
	closeErr error
}

func (w *writer) Open(_ context.Context, id int64) error {
	w.calls = append(w.calls, fmt.Sprintf("open %d", id))
	return w.openErr
}

func (w *writer) Process(_ context.Context, row arrowbatch.Row) error {
	v, err := row.Value("v")
	if err != nil {
		return err
	}
	w.calls = append(w.calls, fmt.Sprintf("process v=%d s=%s index=%d", v, row.String("s"), row.Index))
	if v == w.failOn {
		return fmt.Errorf("bad value %d", v)
	}
	return nil
}

func (w *writer) Close(_ context.Context, err error) error {
	w.calls = append(w.calls, fmt.Sprintf("close %v", err))
	return w.closeErr
}

func TestRowSink(t *testing.T) {
	mem := newChecked(t)
	ctx := context.Background()
	rw := &writer{failOn: -1}
	snk := foreach.NewRowSink(rw)
	if err := snk.Open(ctx, sinks.Info{Schema: schema, Allocator: mem}); err != nil {
		t.Fatal(err)
	}
	for id, groups := range [][][]int64{{{1, 2}, {}, {3}}, {}} {
		w, err := write(t, mem, snk, int64(id+7), groups...)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"open 7",
		"process v=1 s=NULL index=0",
		"process v=2 s=s2 index=1",
		"process v=3 s=NULL index=0",
		"close <nil>",
		"open 8",
		"close <nil>",
	}
	if diff := cmp.Diff(want, rw.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if err := snk.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRowSinkRowError(t *testing.T) {
	mem := newChecked(t)
	ctx := context.Background()
	rw := &writer{failOn: 5}
	snk := foreach.NewRowSink(rw)
	if err := snk.Open(ctx, sinks.Info{Schema: schema, Allocator: mem}); err != nil {
		t.Fatal(err)
	}
	// Value 5 is the fifth row of the micro-batch (index 4) and the second of its Arrow batch.
	w, err := write(t, mem, snk, 1, []int64{1, 2, 3}, []int64{4, 5, 6}, []int64{7})
	if err == nil {
		t.Fatal("Write succeeded")
	}
	if got, want := err.Error(), "foreach: row 4 of the micro-batch: bad value 5"; got != want {
		t.Errorf("Write error = %q; want %q", got, want)
	}
	// The coordinator aborts the batch; the writer hears that it failed.
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"open 1",
		"process v=1 s=NULL index=0",
		"process v=2 s=s2 index=1",
		"process v=3 s=NULL index=2",
		"process v=4 s=s4 index=0",
		"process v=5 s=NULL index=1",
		"close foreach: row 4 of the micro-batch: bad value 5", // Process's error, as Spark's close(errorOrNull)
	}
	if diff := cmp.Diff(want, rw.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestRowSinkLifecycleErrors(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")

	t.Run("Open fails: no Close", func(t *testing.T) {
		rw := &writer{openErr: boom}
		snk := foreach.NewRowSink(rw)
		if err := snk.Open(ctx, sinks.Info{Schema: schema}); err != nil {
			t.Fatal(err)
		}
		if _, err := snk.Begin(ctx, 3); !errors.Is(err, boom) {
			t.Errorf("Begin = %v; want the writer's Open error", err)
		}
		if diff := cmp.Diff([]string{"open 3"}, rw.calls); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
	})

	t.Run("Close fails: Commit fails", func(t *testing.T) {
		mem := newChecked(t)
		rw := &writer{failOn: -1, closeErr: boom}
		snk := foreach.NewRowSink(rw)
		w, err := write(t, mem, snk, 0, []int64{1})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(ctx); !errors.Is(err, boom) {
			t.Errorf("Commit = %v; want the writer's Close error", err)
		}
	})

	t.Run("Abort without a failed row", func(t *testing.T) {
		rw := &writer{failOn: -1}
		w, err := foreach.NewRowSink(rw).Begin(ctx, 9)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"open 9", "close " + foreach.ErrBatchAborted.Error()}, rw.calls); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
	})

	t.Run("nil writer", func(t *testing.T) {
		err := foreach.NewRowSink(nil).Open(ctx, sinks.Info{Schema: schema})
		if err == nil || err.Error() != "foreach: the writer is nil" {
			t.Errorf("Open = %v", err)
		}
	})
}

func TestRowFunc(t *testing.T) {
	mem := newChecked(t)
	ctx := context.Background()
	var sum int64
	fn := foreach.RowFunc(func(_ context.Context, row arrowbatch.Row) error {
		v, err := row.Value("v")
		if err != nil {
			return err
		}
		sum += v.(int64)
		if _, err := row.Value("nope"); err == nil {
			t.Error("Value of a missing column succeeded")
		}
		return nil
	})
	if err := fn.Open(ctx, 1); err != nil {
		t.Error(err)
	}
	if err := fn.Close(ctx, errors.New("x")); err != nil {
		t.Error(err)
	}
	snk := foreach.NewRowSink(fn)
	w, err := write(t, mem, snk, 0, []int64{1, 2}, []int64{39})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if sum != 42 {
		t.Errorf("sum = %d; want 42", sum)
	}
}

func TestDescriptions(t *testing.T) {
	if got := foreach.NewBatchSink(nil).Description(); got != "ForeachBatchSink" {
		t.Errorf("BatchSink.Description() = %q", got)
	}
	noop := func(context.Context, arrow.Table, int64) error { return nil }
	if got := foreach.NewTableSink(noop).Description(); got != "ForeachTableSink" {
		t.Errorf("table sink's Description() = %q", got)
	}
	if got := foreach.NewRowSink(nil).Description(); got != "ForeachSink" {
		t.Errorf("RowSink.Description() = %q", got)
	}
	// Neither may run without a durable checkpoint, nor skip batches.
	for _, s := range []sinks.Sink{foreach.NewBatchSink(nil), foreach.NewRowSink(nil)} {
		if _, ok := s.(sinks.TemporaryCheckpointer); ok {
			t.Errorf("%s allows a temporary checkpoint", s.Description())
		}
		if _, ok := s.(sinks.Idempotent); ok {
			t.Errorf("%s claims to be idempotent", s.Description())
		}
	}
}

// TestTableSink: the function gets the micro-batch's batches as the chunks of one table, in
// order and without a copy (the chunks share the written batches' buffers), and what it does
// not Retain is released after the call.
func TestTableSink(t *testing.T) {
	tests := []struct {
		name   string
		groups [][]int64
		want   call
		chunks int
	}{
		{"no records", nil, call{Values: []int64{}, Strings: []string{}}, 0},
		{"one record", [][]int64{{1, 2}}, call{Values: []int64{1, 2}, Strings: []string{"NULL", "s2"}}, 1},
		{"several records", [][]int64{{1, 2}, {}, {3}, {4, 5, 6}}, call{Values: []int64{1, 2, 3, 4, 5, 6}, Strings: []string{"NULL", "s2", "NULL", "s4", "NULL", "s6"}}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := newChecked(t)
			ctx := context.Background()
			var calls []call
			var chunks int
			var kept arrow.Table
			snk := foreach.NewTableSink(func(_ context.Context, tbl arrow.Table, id int64) error {
				chunks = len(tbl.Column(0).Data().Chunks())
				c := call{ID: id, Schema: tbl.Schema().String(), Values: []int64{}, Strings: []string{}}
				if tbl.NumRows() != int64(len(tt.want.Values)) {
					t.Errorf("NumRows %d, want %d", tbl.NumRows(), len(tt.want.Values))
				}
				tr := array.NewTableReader(tbl, -1)
				defer tr.Release()
				for tr.Next() {
					r := record(tr.RecordBatch(), id)
					c.Values = append(c.Values, r.Values...)
					c.Strings = append(c.Strings, r.Strings...)
				}
				calls = append(calls, c)
				tbl.Retain() // outlives the call: the written batches must stay alive
				kept = tbl
				return nil
			})
			if err := snk.Open(ctx, sinks.Info{Schema: schema, Allocator: mem}); err != nil {
				t.Fatal(err)
			}
			before := mem.CurrentAlloc()
			w, err := snk.Begin(ctx, 7)
			if err != nil {
				t.Fatal(err)
			}
			var bufs []*memory.Buffer // the value buffers of the written batches
			for _, g := range tt.groups {
				rec := build(mem, g...)
				bufs = append(bufs, rec.Column(0).Data().Buffers()[1])
				err := w.Write(ctx, rec)
				rec.Release()
				if err != nil {
					t.Fatal(err)
				}
			}
			written := mem.CurrentAlloc() - before
			if len(calls) != 0 {
				t.Fatal("the function ran before Commit")
			}
			if err := w.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			for j, c := range kept.Column(0).Data().Chunks() {
				if j >= len(bufs) || c.Data().Buffers()[1] != bufs[j] {
					t.Errorf("chunk %d does not share the written batch's buffer: copied", j)
				}
			}
			if mem.CurrentAlloc() != written {
				t.Errorf("after Commit with the table retained: %d bytes allocated, want the %d written", mem.CurrentAlloc(), written)
			}
			want := tt.want
			want.ID, want.Schema = 7, schema.String()
			if diff := cmp.Diff([]call{want}, calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if chunks != tt.chunks {
				t.Errorf("%d chunks, want %d (one per written batch)", chunks, tt.chunks)
			}
			kept.Release()
		})
	}
}

func TestTableSinkErrors(t *testing.T) {
	ctx := context.Background()
	if err := foreach.NewTableSink(nil).Open(ctx, sinks.Info{Schema: schema}); err == nil || !strings.Contains(err.Error(), "nil") {
		t.Errorf("nil function: %v", err)
	}
	mem := newChecked(t)
	boom := errors.New("boom")
	snk := foreach.NewTableSink(func(context.Context, arrow.Table, int64) error { return boom })
	if err := snk.Open(ctx, sinks.Info{Schema: schema, Allocator: mem}); err != nil {
		t.Fatal(err)
	}
	w, err := write(t, mem, snk, 1, []int64{1}, []int64{2})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); !errors.Is(err, boom) {
		t.Errorf("Commit: %v, want the function's error", err)
	}
	// A batch with another schema is refused with an error, not a panic.
	other := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	snk = foreach.NewTableSink(func(context.Context, arrow.Table, int64) error { t.Error("called"); return nil })
	if err := snk.Open(ctx, sinks.Info{Schema: other, Allocator: mem}); err != nil {
		t.Fatal(err)
	}
	w, err = write(t, mem, snk, 2, []int64{1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err == nil || !strings.Contains(err.Error(), "chunk 0 has schema") {
		t.Errorf("Commit with another schema: %v", err)
	}
}
