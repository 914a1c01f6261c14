package bench

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sluicedev/sluice/bench/internal/fakekinesis"
	"github.com/sluicedev/sluice/sources"
	"github.com/sluicedev/sluice/sources/kinesis"
)

// BenchmarkKinesisSource reads a fake stream with the Kinesis source, from the trim horizon to
// the end, through the source protocol (InitialOffset, then LatestOffset, Read and Commit until
// every record was emitted), and reports records/s and MB/s of record data. Each shard holds
// one GetRecords answer of 10,000 JSON records of about 1 KB, so the per-shard rate limits
// (which pace the calls after the first) do not apply and the numbers are the source's own:
// HTTP, the SDK's JSON decoding, the Arrow builders, buffering and Read. The fake server runs
// in the same process, on the same cores.
func BenchmarkKinesisSource(b *testing.B) {
	for _, shards := range []int{1, 8} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			srv := fakekinesis.Start(fakekinesis.Config{Shards: shards, RecordsPerShard: 10000, RecordSize: 1000})
			defer srv.Close()
			cfg := aws.Config{
				Region:       "us-east-1",
				Credentials:  credentials.NewStaticCredentialsProvider("AKIDBENCH", "bench-secret", ""),
				BaseEndpoint: aws.String(srv.URL),
			}
			o := kinesis.DefaultOptions()
			o.StreamNames = []string{"bench"}
			o.AWSConfig = &cfg
			o.InitialPosition = kinesis.InitialPosition{Kind: kinesis.TrimHorizon}
			o.MaxFetchDuration = time.Millisecond
			mem := memory.NewGoAllocator()
			var rows, dataBytes int64
			var elapsed time.Duration
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				n, d := readAll(b, o, mem, int64(srv.Records()))
				elapsed += time.Since(t0)
				rows += n
				dataBytes += d
			}
			b.ReportMetric(float64(rows)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(dataBytes)/1e6/elapsed.Seconds(), "MB/s")
			b.ReportMetric(0, "ns/op") // the per-iteration time depends on the shard count; see records/s
		})
	}
}

// readAll opens a source and reads until want records were emitted; it returns the records
// and their data bytes.
func readAll(b *testing.B, o kinesis.Options, mem memory.Allocator, want int64) (rows, data int64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src, err := kinesis.New(o)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close(ctx)
	if err := src.Open(ctx, sources.Info{Allocator: mem}); err != nil {
		b.Fatal(err)
	}
	cur, err := src.InitialOffset(ctx)
	if err != nil {
		b.Fatal(err)
	}
	emit := func(rec arrow.RecordBatch) error {
		rows += rec.NumRows()
		col := rec.Column(1).(*array.Binary)
		offs := col.ValueOffsets()
		data += int64(offs[len(offs)-1] - offs[0])
		return nil
	}
	for rows < want {
		end, err := src.LatestOffset(ctx, cur, sources.ReadLimit{})
		if err != nil {
			b.Fatal(err)
		}
		if bytes.Equal(end, cur) {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		if err := src.Read(ctx, cur, end, emit); err != nil {
			b.Fatal(err)
		}
		if err := src.Commit(ctx, end); err != nil {
			b.Fatal(err)
		}
		cur = end
	}
	return rows, data
}
