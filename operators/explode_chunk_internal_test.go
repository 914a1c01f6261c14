package operators

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// peakAllocator records the most bytes allocated at once.
type peakAllocator struct {
	memory.Allocator
	mu        sync.Mutex
	cur, peak int
}

func (a *peakAllocator) add(n int) {
	a.mu.Lock()
	a.cur += n
	a.peak = max(a.peak, a.cur)
	a.mu.Unlock()
}

func (a *peakAllocator) Allocate(n int) []byte { a.add(n); return a.Allocator.Allocate(n) }
func (a *peakAllocator) Reallocate(n int, b []byte) []byte {
	a.add(n - len(b))
	return a.Allocator.Reallocate(n, b)
}
func (a *peakAllocator) Free(b []byte) { a.add(-len(b)); a.Allocator.Free(b) }

func setExplodeLimits(t *testing.T, rows int, bytes int64) {
	r, b := chunkMaxRows, chunkMaxBytes
	chunkMaxRows, chunkMaxBytes = rows, bytes
	t.Cleanup(func() { chunkMaxRows, chunkMaxBytes = r, b })
}

// A long line of many words: each output row repeats the line, so one output batch would hold
// words × line length bytes (beyond 2 GiB, an int32 offset overflow). The output comes in
// chunks of at most chunkMaxBytes per column, in order, and the peak memory is one chunk.
func TestExplodeChunksLongLine(t *testing.T) {
	setExplodeLimits(t, 1<<20, 1<<20)
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	mem := &peakAllocator{Allocator: checked}
	const words = 8000
	var sb strings.Builder
	for i := range words {
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "w%04d", i)
	}
	line := sb.String() // 48 KB: 384 MB repeated in one batch
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "line", Type: arrow.BinaryTypes.String},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{line, "last"}, nil)
	in := b.NewRecordBatch()
	b.Release()
	defer in.Release()

	op := Explode("word", `line.split(" ")`, Options{})
	if _, err := op.OutputSchema(schema); err != nil {
		t.Fatal(err)
	}
	var got []string
	batches := 0
	ctx := WithAllocator(context.Background(), mem)
	err := op.Process(ctx, in, func(out arrow.RecordBatch) error {
		batches++
		lines := out.Column(1).(*array.String)
		if n := len(lines.ValueBytes()); n > 1<<20 {
			t.Errorf("batch %d holds %d bytes of lines; want at most 1 MiB", batches, n)
		}
		ws := out.Column(2).(*array.String)
		for i := range ws.Len() {
			got = append(got, ws.Value(i))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := append(strings.Split(line, " "), "last")
	if len(got) != len(want) {
		t.Fatalf("%d words; want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("word %d is %q; want %q", i, got[i], want[i])
		}
	}
	if batches < words*len(line)/(1<<20) {
		t.Errorf("%d batches", batches)
	}
	if mem.peak > 8<<20 {
		t.Errorf("peak memory %d bytes; want at most 8 MiB", mem.peak)
	}
}

// One value repeated too often is split by the row limit; a row larger than the byte limit
// gets a batch of its own.
func TestExplodeChunksRows(t *testing.T) {
	setExplodeLimits(t, 1000, 5000)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "s", Type: arrow.BinaryTypes.String},
		{Name: "l", Type: arrow.BinaryTypes.String},
	}, nil)
	nums := make([]string, 2500)
	for i := range nums {
		nums[i] = fmt.Sprint(i)
	}
	b := array.NewRecordBuilder(mem, schema)
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"x", strings.Repeat("y", 6000), "z"}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{strings.Join(nums, ","), "-1,-2", "-1,-2"}, nil)
	in := b.NewRecordBatch()
	b.Release()
	defer in.Release()
	op := Explode("l", `l.split(",")`, Options{})
	if _, err := op.OutputSchema(schema); err != nil {
		t.Fatal(err)
	}
	var sizes []int64
	var firsts []string
	ctx := WithAllocator(context.Background(), mem)
	err := op.Process(ctx, in, func(out arrow.RecordBatch) error {
		sizes = append(sizes, out.NumRows())
		firsts = append(firsts, out.Column(1).(*array.String).Value(0))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// x: 1000, 1000, 500 rows (the row limit); the 6000-byte row alone, twice; z: 2 rows.
	if got, want := fmt.Sprint(sizes, firsts), "[1000 1000 500 1 1 2] [0 1000 2000 -1 -2 -1]"; got != want {
		t.Errorf("batches %s; want %s", got, want)
	}
}
