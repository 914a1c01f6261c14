package memory_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowmem "github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/sinks"
	"github.com/sluicedev/sluice/sinks/memory"
)

var schema = arrow.NewSchema([]arrow.Field{
	{Name: "word", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "count", Type: arrow.PrimitiveTypes.Int64},
	{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
}, nil)

var t0 = time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.UTC)

type row struct {
	word  string // "" is NULL
	count int64
}

func build(mem arrowmem.Allocator, rows ...row) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for _, r := range rows {
		if r.word == "" {
			b.Field(0).AppendNull()
		} else {
			b.Field(0).(*array.StringBuilder).Append(r.word)
		}
		b.Field(1).(*array.Int64Builder).Append(r.count)
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(t0.Add(time.Duration(r.count) * time.Second).UnixMilli()))
	}
	return b.NewRecordBatch()
}

// asMaps is what Rows returns for rows.
func asMaps(rows ...row) []map[string]any {
	var out []map[string]any
	for _, r := range rows {
		var w any
		if r.word != "" {
			w = r.word
		}
		out = append(out, map[string]any{"word": w, "count": r.count, "at": t0.Add(time.Duration(r.count) * time.Second)})
	}
	return out
}

func newChecked(t *testing.T) *arrowmem.CheckedAllocator {
	t.Helper()
	mem := arrowmem.NewCheckedAllocator(arrowmem.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

func open(t *testing.T, mem arrowmem.Allocator, mode sinks.OutputMode) *memory.Sink {
	t.Helper()
	s := memory.New()
	if err := s.Open(context.Background(), sinks.Info{Schema: schema, OutputMode: mode, Allocator: mem}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Release)
	return s
}

// commit writes each group of rows as one Arrow batch of micro-batch id and commits it,
// releasing its own references right after Write (which borrows).
func commit(t *testing.T, mem arrowmem.Allocator, s *memory.Sink, id int64, groups ...[]row) error {
	t.Helper()
	ctx := context.Background()
	w, err := s.Begin(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		rec := build(mem, g...)
		err := w.Write(ctx, rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	return w.Commit(ctx)
}

func lastID(t *testing.T, s *memory.Sink) (int64, bool) {
	t.Helper()
	id, ok, err := s.LastBatchID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return id, ok
}

func TestOutputModes(t *testing.T) {
	a := []row{{"a", 1}, {"b", 2}}
	b := []row{{"", 3}}
	c := []row{{"c", 4}, {"d", 5}}
	tests := []struct {
		mode sinks.OutputMode
		want [][]map[string]any // the table after each of the three batches
	}{
		{sinks.Append, [][]map[string]any{asMaps(a...), asMaps(append(a, b...)...), asMaps(append(append(a, b...), c...)...)}},
		{sinks.Update, [][]map[string]any{asMaps(a...), asMaps(append(a, b...)...), asMaps(append(append(a, b...), c...)...)}},
		{sinks.Complete, [][]map[string]any{asMaps(a...), asMaps(b...), asMaps(c...)}},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			mem := newChecked(t)
			s := open(t, mem, tt.mode)
			if _, ok := lastID(t, s); ok {
				t.Error("LastBatchID ok before any commit")
			}
			if s.NumRows() != 0 || s.Rows() != nil {
				t.Errorf("a new table has %d rows: %v", s.NumRows(), s.Rows())
			}
			// Batch 0 arrives in two Arrow batches; the others in one and several.
			for i, groups := range [][][]row{{a[:1], a[1:]}, {b}, {c[:1], nil, c[1:]}} {
				if err := commit(t, mem, s, int64(i), groups...); err != nil {
					t.Fatal(err)
				}
				if id, ok := lastID(t, s); !ok || id != int64(i) {
					t.Errorf("LastBatchID = %d, %v; want %d", id, ok, i)
				}
				if diff := cmp.Diff(tt.want[i], s.Rows()); diff != "" {
					t.Errorf("after batch %d (-want +got):\n%s", i, diff)
				}
				if got, want := s.NumRows(), int64(len(tt.want[i])); got != want {
					t.Errorf("NumRows = %d; want %d", got, want)
				}
			}
			if s.Schema() != schema {
				t.Errorf("Schema() = %v", s.Schema())
			}
		})
	}
}

func TestCompleteModeEmptyBatchEmptiesTable(t *testing.T) {
	mem := newChecked(t)
	s := open(t, mem, sinks.Complete)
	if err := commit(t, mem, s, 0, []row{{"a", 1}}); err != nil {
		t.Fatal(err)
	}
	if err := commit(t, mem, s, 1); err != nil {
		t.Fatal(err)
	}
	if s.NumRows() != 0 {
		t.Errorf("NumRows = %d after an empty complete-mode batch; want 0", s.NumRows())
	}
}

func TestCommitTwiceFails(t *testing.T) {
	mem := newChecked(t)
	s := open(t, mem, sinks.Append)
	if err := commit(t, mem, s, 5, []row{{"a", 1}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{5, 4, 0} {
		// No Abort follows: the coordinator does not abort a failed Commit, so the sink must
		// not keep the rejected rows (the checked allocator would see them).
		err := commit(t, mem, s, id, []row{{"dup", 2}})
		want := "memory sink: batch " + map[int64]string{5: "5", 4: "4", 0: "0"}[id] + " committed twice (the sink holds batches up to 5)"
		if err == nil || err.Error() != want {
			t.Errorf("Commit(%d) = %v; want %q", id, err, want)
		}
	}
	if id, _ := lastID(t, s); id != 5 {
		t.Errorf("LastBatchID = %d; want 5", id)
	}
	if diff := cmp.Diff(asMaps(row{"a", 1}), s.Rows()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	if err := commit(t, mem, s, 6, []row{{"b", 2}}); err != nil {
		t.Errorf("Commit(6) after the refusals: %v", err)
	}
}

func TestAbort(t *testing.T) {
	mem := newChecked(t)
	ctx := context.Background()
	s := open(t, mem, sinks.Append)
	if err := commit(t, mem, s, 0, []row{{"a", 1}}); err != nil {
		t.Fatal(err)
	}
	before := mem.CurrentAlloc()
	w, err := s.Begin(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rec := build(mem, row{"x", 9})
		if err := w.Write(ctx, rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mem.CurrentAlloc(); got != before {
		t.Errorf("%d bytes allocated after Abort; want %d as before the batch", got, before)
	}
	if id, _ := lastID(t, s); id != 0 {
		t.Errorf("LastBatchID = %d after an abort; want 0", id)
	}
	if diff := cmp.Diff(asMaps(row{"a", 1}), s.Rows()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	// The aborted batch is replayed under the same ID.
	if err := commit(t, mem, s, 1, []row{{"x", 9}}); err != nil {
		t.Fatalf("replay of an aborted batch: %v", err)
	}
	if s.NumRows() != 2 {
		t.Errorf("NumRows = %d; want 2", s.NumRows())
	}
}

func TestSnapshot(t *testing.T) {
	mem := newChecked(t)
	s := memory.New()
	if _, err := s.Snapshot(); err == nil || err.Error() != "memory sink: the query has not started" {
		t.Errorf("Snapshot before Open = %v", err)
	}
	if s.Schema() != nil {
		t.Errorf("Schema before Open = %v", s.Schema())
	}
	if err := s.Open(context.Background(), sinks.Info{Schema: schema, OutputMode: sinks.Append, Allocator: mem}); err != nil {
		t.Fatal(err)
	}
	defer s.Release()

	empty, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if empty.NumRows() != 0 || !empty.Schema().Equal(schema) {
		t.Errorf("empty Snapshot: %d rows, schema %v", empty.NumRows(), empty.Schema())
	}
	empty.Release()

	want := []row{{"a", 1}, {"", 2}, {"c", 3}}
	if err := commit(t, mem, s, 0, want[:1], want[1:2]); err != nil {
		t.Fatal(err)
	}
	if err := commit(t, mem, s, 1, want[2:]); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// The snapshot is the caller's: it outlives Release of the table.
	s.Release()
	defer snap.Release()
	if snap.NumRows() != 3 || !snap.Schema().Equal(schema) {
		t.Fatalf("Snapshot: %d rows, schema %v", snap.NumRows(), snap.Schema())
	}
	words := snap.Column(0).(*array.String)
	counts := snap.Column(1).(*array.Int64)
	for i, r := range want {
		if (r.word == "") != words.IsNull(i) || words.Value(i) != r.word || counts.Value(i) != r.count {
			t.Errorf("row %d = (%q null=%v, %d); want %+v", i, words.Value(i), words.IsNull(i), counts.Value(i), r)
		}
	}
}

func TestRelease(t *testing.T) {
	mem := newChecked(t)
	s := open(t, mem, sinks.Append)
	if err := commit(t, mem, s, 0, []row{{"a", 1}, {"b", 2}}); err != nil {
		t.Fatal(err)
	}
	if mem.CurrentAlloc() == 0 {
		t.Fatal("the table holds no memory")
	}
	s.Release()
	if got := mem.CurrentAlloc(); got != 0 {
		t.Errorf("%d bytes still allocated after Release", got)
	}
	if s.NumRows() != 0 || s.Rows() != nil {
		t.Errorf("after Release: %d rows, %v", s.NumRows(), s.Rows())
	}
	s.Release() // twice is harmless
	// The sink still knows what it committed: a replay of batch 0 is not taken again.
	if id, ok := lastID(t, s); id != 0 || !ok {
		t.Errorf("LastBatchID after Release = %d, %v; want 0, true", id, ok)
	}
	if err := commit(t, mem, s, 1, []row{{"c", 3}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(asMaps(row{"c", 3}), s.Rows()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestCloseKeepsTable(t *testing.T) {
	mem := newChecked(t)
	s := open(t, mem, sinks.Append)
	if err := commit(t, mem, s, 0, []row{{"a", 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.NumRows() != 1 {
		t.Errorf("NumRows after Close = %d; want 1 (readable until Release)", s.NumRows())
	}
}

// TestReadWhileWriting reads the table while batches commit (run with -race).
func TestReadWhileWriting(t *testing.T) {
	mem := newChecked(t)
	s := open(t, mem, sinks.Append)
	const batches = 50
	var wg sync.WaitGroup
	written := make(chan struct{}) // closed when the writer stops, whether or not all committed
	wg.Go(func() {
		defer close(written)
		for i := range int64(batches) {
			if err := commit(t, mem, s, i, []row{{"w", i}}); err != nil {
				t.Error(err)
			}
		}
	})
	for n := int64(0); n < batches; {
		select {
		case <-written:
			if got := s.NumRows(); got < batches {
				t.Fatalf("the writer stopped with %d of %d rows committed", got, batches)
			}
		default:
		}
		n = s.NumRows()
		rows := s.Rows()
		if int64(len(rows)) < n {
			t.Fatalf("Rows has %d rows, NumRows said %d before", len(rows), n)
		}
		snap, err := s.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if snap.NumRows() < int64(len(rows)) {
			t.Fatalf("Snapshot has %d rows, Rows had %d before", snap.NumRows(), len(rows))
		}
		snap.Release()
		_, _, _ = s.LastBatchID(context.Background())
	}
	wg.Wait()
}

func TestSinkProperties(t *testing.T) {
	s := memory.New()
	if got := s.Description(); got != "MemorySink" {
		t.Errorf("Description() = %q", got)
	}
	var _ sinks.Idempotent = s
	var tc sinks.TemporaryCheckpointer = s
	if !tc.AllowsTemporaryCheckpoint() {
		t.Error("the memory sink must allow a temporary checkpoint")
	}
}

func TestFactory(t *testing.T) {
	f, err := sinks.Default.Lookup("Memory")
	if err != nil {
		t.Fatal(err)
	}
	s, err := f(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*memory.Sink); !ok {
		t.Errorf("factory returned %T", s)
	}
	_, err = f(map[string]string{"path": "/tmp", "numRows": "3"})
	want := `memory sink: option "numRows": unknown option; this component takes no options
memory sink: option "path": unknown option; this component takes no options`
	if err == nil || err.Error() != want {
		t.Errorf("factory error:\n%v\nwant:\n%s", err, want)
	}
}
