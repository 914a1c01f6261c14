package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedev/sluice/sinks"
	filesink "github.com/sluicedev/sluice/sinks/file"
	"github.com/sluicedev/sluice/sources/kinesis"
)

// parquetBatchRows is the rows of one Write: one GetRecords answer's worth.
const parquetBatchRows = 10000

// kinesisRows builds n rows of the Kinesis source's schema with JSON events of about 250
// bytes (a few enums, a user out of 1,000, random amounts, session IDs and timestamps), as an
// ETL query would write them.
func kinesisRows(mem memory.Allocator, n int, seed uint64) arrow.RecordBatch {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := array.NewRecordBuilder(mem, kinesis.Schema)
	defer b.Release()
	kinds := []string{"click", "view", "purchase", "signup", "logout"}
	pages := []string{"/", "/products", "/products/detail", "/cart", "/checkout", "/account"}
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for i := range n {
		user := fmt.Sprintf("user-%04d", rng.IntN(1000))
		ts := t0.Add(time.Duration(i) * 3 * time.Millisecond)
		event := fmt.Sprintf(`{"id":%d,"type":%q,"user":%q,"page":%q,"amount":%d.%02d,"session":"%016x","ua":"Mozilla/5.0 (X11; Linux x86_64)","ts":%q}`,
			int(seed)*n+i, kinds[rng.IntN(len(kinds))], user, pages[rng.IntN(len(pages))], rng.IntN(500), rng.IntN(100),
			rng.Uint64(), ts.Format(time.RFC3339Nano))
		b.Field(0).(*array.StringBuilder).Append(user)
		b.Field(1).(*array.BinaryBuilder).Append([]byte(event))
		b.Field(2).(*array.StringBuilder).Append("events")
		b.Field(3).(*array.StringBuilder).Append(fmt.Sprintf("shardId-%012d", i%4))
		b.Field(4).(*array.StringBuilder).Append(fmt.Sprintf("4963%052d", int(seed)*n+i))
		b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMicro()))
	}
	return b.NewRecordBatch()
}

// arrowBytes is the size of a batch's Arrow buffers.
func arrowBytes(rec arrow.RecordBatch) int64 {
	var n int64
	var walk func(d arrow.ArrayData)
	walk = func(d arrow.ArrayData) {
		for _, buf := range d.Buffers() {
			if buf != nil {
				n += int64(buf.Len())
			}
		}
		for _, c := range d.Children() {
			walk(c)
		}
	}
	for _, c := range rec.Columns() {
		walk(c.Data())
	}
	return n
}

// BenchmarkParquetSink writes Kinesis-like rows through the file sink (Format "parquet", and
// "json" for comparison) to a local directory: each op is one Write of 10,000 rows into an
// open micro-batch; the batch is committed (files finished, fsynced, manifest written) after
// the loop and that time is included. MB/s counts the Arrow bytes written per second (b.SetBytes);
// the sink encodes on the calling goroutine, so run it with -cpu 1 for the rate per core.
// Extra metrics: rows/s, and the compression ratio (Arrow bytes / file bytes).
func BenchmarkParquetSink(b *testing.B) {
	mem := memory.NewGoAllocator()
	recs := make([]arrow.RecordBatch, 8)
	for i := range recs {
		recs[i] = kinesisRows(mem, parquetBatchRows, uint64(i))
		defer recs[i].Release()
	}
	for _, tc := range []struct {
		format filesink.Format
		codec  string
	}{
		{filesink.Parquet, filesink.Snappy},
		{filesink.Parquet, filesink.Zstd},
		{filesink.Parquet, filesink.None},
		{filesink.JSON, filesink.None},
	} {
		b.Run(fmt.Sprintf("%s/%s", tc.format, tc.codec), func(b *testing.B) {
			dir := b.TempDir()
			o := filesink.DefaultOptions(tc.format)
			o.Path, o.Compression = filepath.Join(dir, "out"), tc.codec
			s, err := filesink.New(o)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := s.Open(ctx, sinks.Info{Schema: kinesis.Schema, Allocator: mem}); err != nil {
				b.Fatal(err)
			}
			w, err := s.Begin(ctx, 0)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(arrowBytes(recs[0]))
			b.ReportAllocs()
			var written, rows int64
			i := 0
			for b.Loop() {
				rec := recs[i%len(recs)]
				if err := w.Write(ctx, rec); err != nil {
					b.Fatal(err)
				}
				written += arrowBytes(rec)
				rows += rec.NumRows()
				i++
			}
			if err := w.Commit(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			table, err := filesink.ReadManifest(ctx, o.Path)
			if err != nil {
				b.Fatal(err)
			}
			var fileBytes int64
			for _, f := range table.Files() {
				fileBytes += f.Size
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
			if fileBytes > 0 {
				b.ReportMetric(float64(written)/float64(fileBytes), "arrow/file")
			}
			_ = os.RemoveAll(dir)
		})
	}
	b.Logf("GOMAXPROCS=%d", runtime.GOMAXPROCS(0))
}
