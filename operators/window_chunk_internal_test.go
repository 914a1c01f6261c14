package operators

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Sliding windows repeat each row, with all its columns, once per window: the output of a batch
// of wide rows comes in chunks (chunkMaxRows rows, chunkMaxBytes of variable-length data),
// in order, each row with the same windows as in one batch, and the peak memory is one chunk.
func TestWindowChunks(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	mem := &peakAllocator{Allocator: checked}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond}},
		{Name: "payload", Type: arrow.BinaryTypes.String},
	}, nil)
	const rows, perRow = 200, 60 // 10 min windows every 10 s
	b := array.NewRecordBuilder(mem, schema)
	payload := strings.Repeat("x", 10_000)
	for i := range rows {
		b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(i) * 1000))
		b.Field(1).(*array.StringBuilder).Append(payload)
	}
	in := b.NewRecordBatch()
	b.Release()
	defer in.Release()

	run := func(maxRows int, maxBytes int64) (batches int, windows []string, peak int) {
		r, by := chunkMaxRows, chunkMaxBytes
		chunkMaxRows, chunkMaxBytes = maxRows, maxBytes
		defer func() { chunkMaxRows, chunkMaxBytes = r, by }()
		op := Window("ts", 10*time.Minute, 10*time.Second, Options{})
		if _, err := op.OutputSchema(schema); err != nil {
			t.Fatal(err)
		}
		mem.peak = mem.cur
		err := op.Process(WithAllocator(context.Background(), mem), in, func(out arrow.RecordBatch) error {
			batches++
			if int(out.NumRows()) > maxRows {
				t.Errorf("a chunk of %d rows; the limit is %d", out.NumRows(), maxRows)
			}
			w := out.Column(2).(*array.Struct)
			ts := out.Column(0).(*array.Timestamp)
			for i := range int(out.NumRows()) {
				windows = append(windows, ts.ValueStr(i)+" "+w.Field(0).ValueStr(i))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return batches, windows, mem.peak - mem.cur
	}
	oneBatches, one, onePeak := run(1<<30, 1<<40)
	if oneBatches != 1 || len(one) != rows*perRow {
		t.Fatalf("without limits: %d batches, %d rows; want 1, %d", oneBatches, len(one), rows*perRow)
	}
	n, chunked, peak := run(1000, 4<<20)
	if n < rows*perRow/1000 {
		t.Errorf("%d chunks; want at least %d", n, rows*perRow/1000)
	}
	if strings.Join(chunked, "\n") != strings.Join(one, "\n") {
		t.Error("the chunked output differs from the output in one batch")
	}
	if peak > onePeak/4 || peak > 16<<20 {
		t.Errorf("peak memory %d bytes in chunks, %d in one batch; want a chunk's", peak, onePeak)
	}
	t.Logf("one batch: peak %d MB; %d chunks: peak %d MB", onePeak>>20, n, peak>>20)
}
