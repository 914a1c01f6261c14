package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
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
// every record was emitted), and reports records/s and MB/s of record data, and records per
// CPU-second of the process (records/cpu-s; user plus system time, the fake server's
// included). The stream is a fakekinesis.Logs (startLogs): each shard holds one GetRecords
// answer of 10,000 JSON log events of 1,000 bytes, so the per-shard rate limits (which pace the
// calls after the first) do not apply and the numbers are the source's own: HTTP, decoding the
// answers into Arrow, buffering and Read. The shards are open, so no shard's end is read. The
// fake server runs in the same process, on the same cores. BenchmarkGetRecordsLimit is the bar
// it is measured against.
func BenchmarkKinesisSource(b *testing.B) {
	for _, shards := range []int{1, 8} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			logs, srv := startLogs(shards)
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
			readAll(b, o, mem, int64(logs.Records())) // warm up: grow the heap to its working size
			var rows, dataBytes int64
			var elapsed time.Duration
			b.ReportAllocs()
			cpu0 := fakekinesis.ProcessCPU()
			for b.Loop() {
				t0 := time.Now()
				n, d := readAll(b, o, mem, int64(logs.Records()))
				elapsed += time.Since(t0)
				rows += n
				dataBytes += d
			}
			reportRates(b, rows, dataBytes, elapsed, fakekinesis.ProcessCPU()-cpu0)
		})
	}
}

// startLogs starts a fake stream of shards shards, each one GetRecords answer of 10,000 JSON
// log events of 1,000 bytes, served over loopback HTTP in this process. The shards are open,
// as a live stream's: the source reads the records and no shard's end, which would make it
// list the stream again to look for children.
func startLogs(shards int) (*fakekinesis.Logs, *httptest.Server) {
	logs := fakekinesis.NewLogs(fakekinesis.LogConfig{Shards: shards, RecordsPerShard: 10000, RecordSize: 1000, OpenShards: true})
	return logs, httptest.NewServer(logs)
}

// reportRates reports records/s, MB/s of record data, records/cpu-s and allocations per record.
func reportRates(b *testing.B, rows, dataBytes int64, elapsed, cpu time.Duration) {
	b.ReportMetric(float64(rows)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(dataBytes)/1e6/elapsed.Seconds(), "MB/s")
	if cpu > 0 {
		b.ReportMetric(float64(rows)/cpu.Seconds(), "records/cpu-s")
	}
	b.ReportMetric(0, "ns/op") // the per-iteration time depends on the shard count; see records/s
}

// BenchmarkGetRecordsLimit is the decode limit that BenchmarkKinesisSource is measured
// against: a tight loop that reads the same GetRecords answers from the same fake server over
// HTTP (one goroutine per shard, as the source's tasks do, one answer of 10,000 records each
// per iteration), reads each body into a reused buffer and base64-decodes the Data fields into
// another: no SDK, no JSON parsing beyond finding the Data strings, no Arrow, no buffering.
// records/cpu-s is the process's CPU time, the fake server's included, as for the source;
// both benchmarks read once before they measure, so that connections, buffers and the heap
// have grown to their working size.
func BenchmarkGetRecordsLimit(b *testing.B) {
	for _, shards := range []int{1, 8} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			logs, srv := startLogs(shards)
			defer srv.Close()
			client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
			defer client.CloseIdleConnections()
			bufs := make([]limitBufs, shards)
			var rows, dataBytes atomic.Int64
			readShards := func() {
				var wg sync.WaitGroup
				for sh := range shards {
					wg.Go(func() {
						n, d, err := bufs[sh].getRecords(client, srv.URL, sh)
						if err != nil {
							b.Error(err)
						}
						rows.Add(n)
						dataBytes.Add(d)
					})
				}
				wg.Wait()
			}
			readShards() // warm up: connections and buffers
			rows.Store(0)
			dataBytes.Store(0)
			var elapsed time.Duration
			b.ReportAllocs()
			cpu0 := fakekinesis.ProcessCPU()
			for b.Loop() {
				t0 := time.Now()
				readShards()
				elapsed += time.Since(t0)
			}
			reportRates(b, rows.Load(), dataBytes.Load(), elapsed, fakekinesis.ProcessCPU()-cpu0)
			if want := int64(b.N * logs.Records()); rows.Load() != want {
				b.Fatalf("%d records, want %d", rows.Load(), want)
			}
		})
	}
}

// limitBufs are the reused buffers of one BenchmarkGetRecordsLimit reader.
type limitBufs struct {
	body, data []byte
}

// getRecords reads the first GetRecords answer of the shard and decodes its Data fields; it
// returns the records and their data bytes.
func (l *limitBufs) getRecords(c *http.Client, url string, shard int) (records, dataBytes int64, err error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(fmt.Sprintf(`{"ShardIterator":"%d-0","Limit":10000}`, shard)))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.GetRecords")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	buf := bytes.NewBuffer(l.body[:0])
	_, err = buf.ReadFrom(resp.Body)
	l.body = buf.Bytes()
	if err != nil {
		return 0, 0, err
	}
	const key = `"Data":"`
	body := l.body
	for {
		i := bytes.Index(body, []byte(key))
		if i < 0 {
			return records, dataBytes, nil
		}
		body = body[i+len(key):]
		end := bytes.IndexByte(body, '"')
		if end < 0 {
			return records, dataBytes, fmt.Errorf("unterminated Data")
		}
		if n := base64.StdEncoding.DecodedLen(end); cap(l.data) < n {
			l.data = make([]byte, n)
		}
		n, err := base64.StdEncoding.Decode(l.data[:cap(l.data)], body[:end])
		if err != nil {
			return records, dataBytes, err
		}
		records++
		dataBytes += int64(n)
		body = body[end:]
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
