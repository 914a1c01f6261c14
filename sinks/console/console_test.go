package console_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedev/sluice/internal/golden"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/sinks"
	"github.com/sluicedev/sluice/sinks/console"
)

var schema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "payload", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "event_time_with_a_long_name", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
}, nil)

type row struct {
	id      int64
	name    *string
	payload []byte // nil is NULL
	ts      *time.Time
	ok      *bool
}

func ptr[T any](v T) *T { return &v }

func build(mem memory.Allocator, rows ...row) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for _, r := range rows {
		b.Field(0).(*array.Int64Builder).Append(r.id)
		if r.name == nil {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(*r.name)
		}
		if r.payload == nil {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.BinaryBuilder).Append(r.payload)
		}
		if r.ts == nil {
			b.Field(3).AppendNull()
		} else {
			b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(r.ts.UnixMicro()))
		}
		if r.ok == nil {
			b.Field(4).AppendNull()
		} else {
			b.Field(4).(*array.BooleanBuilder).Append(*r.ok)
		}
	}
	return b.NewRecordBatch()
}

var (
	t0   = time.Date(2024, 3, 9, 17, 4, 5, 0, time.UTC)
	rows = []row{
		{id: 1, name: ptr("hi"), payload: []byte("hi"), ts: ptr(t0), ok: ptr(true)},
		{id: 22, name: ptr("exactly twenty chars"), payload: []byte{0x00, 0x0a, 0xff}, ts: ptr(t0.Add(123456 * time.Microsecond)), ok: ptr(false)},
		{id: -333, name: ptr("twenty-one characters"), payload: []byte{}, ts: ptr(t0.Add(100 * time.Millisecond))},
		{id: 4444, name: ptr("ünïcödé strings are cut by characters")},
		{id: 55555},
	}
)

// run writes the batches through a console sink as the coordinator does and returns what it
// printed.
func run(t *testing.T, o console.Options, batchID int64, batches ...[]row) string {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	var out bytes.Buffer
	o.Out = &out
	s := console.New(o)
	if err := s.Open(ctx, sinks.Info{Schema: schema, Allocator: mem, OutputMode: sinks.Append}); err != nil {
		t.Fatal(err)
	}
	w, err := s.Begin(ctx, batchID)
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range batches {
		rec := build(mem, rs...)
		err := w.Write(ctx, rec)
		rec.Release() // Write borrows: the sink must not hold on to it
		if err != nil {
			t.Fatal(err)
		}
	}
	if out.Len() != 0 {
		t.Errorf("printed before Commit: %q", out.String())
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestOutput(t *testing.T) {
	def := console.DefaultOptions()
	tests := []struct {
		name    string
		opts    console.Options
		batchID int64
		batches [][]row
	}{
		{"defaults", def, 0, [][]row{rows}},
		{"rows over several writes", def, 7, [][]row{rows[:2], rows[2:3], nil, rows[3:]}},
		{"numRows=2", console.Options{NumRows: 2, Truncate: true}, 1, [][]row{rows[:1], rows[1:]}},
		{"numRows=1", console.Options{NumRows: 1, Truncate: true}, 2, [][]row{rows}},
		{"numRows=0", console.Options{NumRows: 0, Truncate: true}, 3, [][]row{rows}},
		{"numRows equal to the rows", console.Options{NumRows: 5, Truncate: true}, 4, [][]row{rows}},
		{"truncate=false", console.Options{NumRows: 20, Truncate: false}, 5, [][]row{rows}},
		{"empty batch", def, 6, nil},
		{"zero-row write", def, 8, [][]row{nil}},
		{"large batch id", def, 1234567890123, [][]row{rows[:1]}},
	}
	var b strings.Builder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fmt.Fprintf(&b, "=== %s\n%s", tt.name, run(t, tt.opts, tt.batchID, tt.batches...))
		})
	}
	golden.Check(t, "output.golden", b.String())
}

// TestTruncation pins Spark's rule: a cell longer than 20 characters is cut to its first 17
// and "..."; shorter cells are padded to the column's width, right-aligned.
func TestTruncation(t *testing.T) {
	tests := []struct{ cell, want string }{
		{"", "|   |"},
		{"a", "|  a|"},
		{"abc", "|abc|"},
		{strings.Repeat("x", 20), "|" + strings.Repeat("x", 20) + "|"},
		{strings.Repeat("x", 21), "|" + strings.Repeat("x", 17) + "...|"},
		{strings.Repeat("é", 21), "|" + strings.Repeat("é", 17) + "...|"},
		{strings.Repeat("é", 20), "|" + strings.Repeat("é", 20) + "|"},
	}
	for _, tt := range tests {
		t.Run(tt.cell, func(t *testing.T) {
			var b strings.Builder
			console.Table(&b, []string{"c"}, [][]string{{tt.cell}}, true)
			lines := strings.Split(b.String(), "\n")
			if len(lines) != 6 {
				t.Fatalf("table has %d lines:\n%s", len(lines), b.String())
			}
			if lines[3] != tt.want {
				t.Errorf("row line = %q; want %q\n%s", lines[3], tt.want, b.String())
			}
		})
	}
	// Without truncation nothing is cut, and cells are left-aligned.
	var b strings.Builder
	long := strings.Repeat("y", 30)
	console.Table(&b, []string{"column"}, [][]string{{long}, {"z"}}, false)
	want := "+" + strings.Repeat("-", 30) + "+\n" +
		"|column" + strings.Repeat(" ", 24) + "|\n" +
		"+" + strings.Repeat("-", 30) + "+\n" +
		"|" + long + "|\n" +
		"|z" + strings.Repeat(" ", 29) + "|\n" +
		"+" + strings.Repeat("-", 30) + "+\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("Table(truncate=false) (-want +got):\n%s", diff)
	}
}

func TestAbortPrintsNothing(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	var out bytes.Buffer
	s := console.New(console.Options{NumRows: 20, Truncate: true, Out: &out})
	if err := s.Open(ctx, sinks.Info{Schema: schema, Allocator: mem}); err != nil {
		t.Fatal(err)
	}
	w, err := s.Begin(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := build(mem, rows...)
	defer rec.Release()
	if err := w.Write(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("Abort printed %q", out.String())
	}
	// The replayed batch prints once, in full.
	w, err = s.Begin(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "Batch: 0\n"); got != 1 {
		t.Errorf("printed %d batch headers; want 1:\n%s", got, out.String())
	}
	if got := strings.Count(out.String(), "|55555|"); got != 1 {
		t.Errorf("printed the last row %d times; want 1:\n%s", got, out.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestCommitReportsWriteError(t *testing.T) {
	ctx := context.Background()
	s := console.New(console.Options{NumRows: 20, Truncate: true, Out: failingWriter{}})
	if err := s.Open(ctx, sinks.Info{Schema: schema}); err != nil {
		t.Fatal(err)
	}
	w, _ := s.Begin(ctx, 0)
	if err := w.Commit(ctx); err == nil || err.Error() != "disk full" {
		t.Errorf("Commit = %v; want the writer's error", err)
	}
}

// unsafeWriter fails the race detector when two goroutines write at once.
type unsafeWriter struct{ b []byte }

func (u *unsafeWriter) Write(p []byte) (int, error) {
	u.b = append(u.b, p...)
	return len(p), nil
}

// TestQueriesShareOut runs several sinks (one per query) on one writer at once: each batch is
// printed whole, never interleaved with another's.
func TestQueriesShareOut(t *testing.T) {
	ctx := context.Background()
	out := &unsafeWriter{}
	const queries, batches = 4, 5
	var wg sync.WaitGroup
	for q := range queries {
		s := console.New(console.Options{NumRows: 20, Truncate: true, Out: out})
		if err := s.Open(ctx, sinks.Info{Schema: schema}); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for b := range batches {
				w, err := s.Begin(ctx, int64(q*100+b))
				if err != nil {
					t.Error(err)
					return
				}
				if err := w.Commit(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	blocks := strings.Split(strings.TrimSuffix(string(out.b), "\n\n"), "\n\n")
	if len(blocks) != queries*batches {
		t.Fatalf("%d blocks printed; want %d:\n%s", len(blocks), queries*batches, out.b)
	}
	for _, blk := range blocks {
		if lines := strings.Split(blk, "\n"); len(lines) != 7 || !strings.HasPrefix(lines[1], "Batch: ") {
			t.Errorf("mangled block:\n%s", blk)
		}
	}
}

func TestSinkProperties(t *testing.T) {
	s := console.New(console.DefaultOptions())
	if got := s.Description(); got != "ConsoleSink" {
		t.Errorf("Description() = %q", got)
	}
	var tc sinks.TemporaryCheckpointer = s
	if !tc.AllowsTemporaryCheckpoint() {
		t.Error("the console sink must allow a temporary checkpoint")
	}
	if _, ok := any(s).(sinks.Idempotent); ok {
		t.Error("the console sink claims to be idempotent")
	}
	if diff := cmp.Diff(console.Options{NumRows: 20, Truncate: true}, console.DefaultOptions()); diff != "" {
		t.Errorf("DefaultOptions (-want +got):\n%s", diff)
	}
}

func TestFactory(t *testing.T) {
	f, err := sinks.Default.Lookup("CONSOLE")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		kv   map[string]string
		err  string
	}{
		{name: "no options", kv: nil},
		{name: "all options, any case", kv: map[string]string{"NUMROWS": "0", "Truncate": "FALSE"}},
		{name: "largest numRows", kv: map[string]string{"numRows": "2147483647"}},
		{
			name: "every problem at once",
			kv:   map[string]string{"numRows": "-1", "truncate": "maybe", "numrow": "5", "path": "/tmp"},
			err: `console sink: option "numrow": unknown option (did you mean "numRows"?); known options: numRows, truncate
console sink: option "numRows": invalid value "-1": must be between 0 and 2147483647
console sink: option "path": unknown option; known options: numRows, truncate
console sink: option "truncate": invalid value "maybe": must be true or false`,
		},
		{
			name: "numRows too large",
			kv:   map[string]string{"numRows": "2147483648"},
			err:  `console sink: option "numRows": invalid value "2147483648": must be between 0 and 2147483647`,
		},
		{
			name: "numRows not a number",
			kv:   map[string]string{"numRows": "20 rows"},
			err:  `console sink: option "numRows": invalid value "20 rows": must be an integer`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := f(tt.kv)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("factory error:\n%v\nwant:\n%s", err, tt.err)
				}
				if s != nil {
					t.Errorf("factory returned a sink with an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := s.(*console.Sink); !ok {
				t.Errorf("factory returned %T", s)
			}
		})
	}
}

// TestFactoryOptionsTakeEffect checks the parsed options through the Spec the factory uses.
func TestFactoryOptionsTakeEffect(t *testing.T) {
	o := console.DefaultOptions()
	if err := console.Spec.Parse(&o, map[string]string{"numRows": "3", "truncate": "false"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(console.Options{NumRows: 3, Truncate: false}, o); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
}

// TestTableEscapesAndWidths: as Spark's show(), control characters are escaped (a cell with a
// line break stays on its line) and full-width characters take two columns.
func TestTableEscapesAndWidths(t *testing.T) {
	var b strings.Builder
	console.Table(&b, []string{"s", "n"}, [][]string{{"line1\nline2\tx", "1"}, {"日本語", "2"}}, true)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines; want 6 (one per row and rule):\n%s", len(lines), b.String())
	}
	if !strings.Contains(lines[3], `line1\nline2\tx`) {
		t.Errorf("row 1 = %q; want the line break and tab escaped", lines[3])
	}
	// Every line of the table is as wide on a terminal, counting full-width characters twice.
	w := func(s string) int {
		n := 0
		for _, r := range s {
			n++
			if r >= 0x2E80 && r <= 0xA4CF {
				n++
			}
		}
		return n
	}
	for i, l := range lines {
		if w(l) != w(lines[0]) {
			t.Errorf("line %d %q is %d columns wide; the rule is %d", i, l, w(l), w(lines[0]))
		}
	}
}
