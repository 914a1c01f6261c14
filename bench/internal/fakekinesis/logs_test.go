package fakekinesis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/sluicedev/sluice/internal/awshttp"
)

func TestLogEvent(t *testing.T) {
	errs := 0
	for i := range LogEvents {
		ev := LogEvent(i, 1000)
		if len(ev) != 1000 {
			t.Errorf("event %d: %d bytes", i, len(ev))
		}
		var e struct{ User, Level, Msg string }
		if err := json.Unmarshal(ev, &e); err != nil {
			t.Fatalf("event %d: %v: %s", i, err, ev)
		}
		if !strings.HasPrefix(e.User, "user-") || e.Msg == "" || (e.Level != "info" && e.Level != "error") {
			t.Errorf("event %d: %s", i, ev)
		}
		if e.Level == "error" {
			errs++
		}
		if !bytes.Equal(ev, LogEvent(i, 1000)) {
			t.Errorf("event %d is not deterministic", i)
		}
	}
	if errs != 26 {
		t.Errorf("%d errors in %d events; want 26 (about 10%%)", errs, LogEvents)
	}
	if !bytes.Contains(LogEvent(1, 1000), []byte(`\"GET`)) {
		t.Error("event 1 has no escaped quote")
	}
}

func newLogsClient(url string) *kinesis.Client {
	return kinesis.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
		BaseEndpoint: aws.String(url), Retryer: func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient: &awshttp.RewindableBodyClient{}})
}

// TestLogsRead reads every shard of a Logs stream with the SDK, until each answer without a
// next iterator, and checks what it read against Stats.
func TestLogsRead(t *testing.T) {
	s := NewLogs(LogConfig{Shards: 3, RecordsPerShard: 700, MaxPerResponse: 300})
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := newLogsClient(srv.URL)
	ctx := context.Background()
	if _, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("bench")}); err != nil {
		t.Fatal(err)
	}
	ls, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("bench")})
	if err != nil || len(ls.Shards) != 3 {
		t.Fatalf("ListShards: %v, %v", ls, err)
	}
	var got LogStats
	for _, sh := range ls.Shards {
		if sh.SequenceNumberRange.EndingSequenceNumber == nil {
			t.Errorf("shard %s is not closed", *sh.ShardId)
		}
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("bench"), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		next, last, calls := it.ShardIterator, "", 0
		for next != nil {
			out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: next})
			if err != nil {
				if strings.Contains(err.Error(), "use of closed network connection") {
					continue // the SDK's loopback race (see internal/awshttp)
				}
				t.Fatal(err)
			}
			calls++
			for _, r := range out.Records {
				if *r.SequenceNumber <= last {
					t.Fatalf("record %s after %s", *r.SequenceNumber, last)
				}
				last = *r.SequenceNumber
				var e struct{ User, Level string }
				if err := json.Unmarshal(r.Data, &e); err != nil {
					t.Fatal(err)
				}
				if e.User != *r.PartitionKey {
					t.Errorf("partition key %s, user %s", *r.PartitionKey, e.User)
				}
				got.Records++
				got.DataBytes += int64(len(r.Data))
				if e.Level == "error" {
					got.Errors++
					got.ErrorDataBytes += int64(len(r.Data))
				}
			}
			next = out.NextShardIterator
		}
		if calls != 3 {
			t.Errorf("shard %s: %d GetRecords calls; want 3", *sh.ShardId, calls)
		}
		if last != *sh.SequenceNumberRange.EndingSequenceNumber {
			t.Errorf("last record %s; the shard ends at %s", last, *sh.SequenceNumberRange.EndingSequenceNumber)
		}
		at, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("bench"), ShardId: sh.ShardId,
			ShardIteratorType: types.ShardIteratorTypeAfterSequenceNumber, StartingSequenceNumber: aws.String(last)})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: at.ShardIterator})
		if err != nil || len(out.Records) != 0 || out.NextShardIterator != nil || *out.MillisBehindLatest != 0 {
			t.Errorf("after the last record: %v, %v", out, err)
		}
	}
	if got != s.Stats() {
		t.Errorf("read %+v; Stats says %+v", got, s.Stats())
	}
}

// TestPutRecords writes to a Logs stream: accepted calls are counted, calls over the limits
// are refused whole with Kinesis' error types.
func TestPutRecords(t *testing.T) {
	s := NewLogs(LogConfig{Shards: 1, RecordsPerShard: 10})
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := newLogsClient(srv.URL)
	ctx := context.Background()
	entries := func(n, size int) []types.PutRecordsRequestEntry {
		out := make([]types.PutRecordsRequestEntry, n)
		for i := range out {
			out[i] = types.PutRecordsRequestEntry{Data: bytes.Repeat([]byte{'x'}, size), PartitionKey: aws.String("key")}
		}
		return out
	}
	put := func(stream string, recs []types.PutRecordsRequestEntry) (*kinesis.PutRecordsOutput, error) {
		for {
			out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: recs})
			if err != nil && strings.Contains(err.Error(), "use of closed network connection") {
				continue // the SDK's loopback race (see internal/awshttp)
			}
			return out, err
		}
	}
	out, err := put("bench", entries(500, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != 500 || *out.FailedRecordCount != 0 || *out.Records[0].SequenceNumber >= *out.Records[499].SequenceNumber {
		t.Errorf("PutRecords answered %d records, %d failed", len(out.Records), *out.FailedRecordCount)
	}
	if s.Puts.Calls.Load() != 1 || s.Puts.Records.Load() != 500 || s.Puts.DataBytes.Load() != 500_000 || s.Puts.KeyBytes.Load() != 1500 {
		t.Errorf("counted %d calls, %d records, %d data bytes, %d key bytes", s.Puts.Calls.Load(), s.Puts.Records.Load(), s.Puts.DataBytes.Load(), s.Puts.KeyBytes.Load())
	}
	long := entries(1, 10)
	long[0].PartitionKey = aws.String(strings.Repeat("k", MaxPartitionKey+1))
	for _, tt := range []struct {
		name, stream, code string
		recs               []types.PutRecordsRequestEntry
	}{
		{"too many records", "bench", "ValidationException", entries(MaxPutRecords+1, 10)},
		{"over 5 MiB", "bench", "InvalidArgumentException", entries(6, 1<<20-3)},
		{"record over 1 MiB", "bench", "ValidationException", entries(1, 1<<20)},
		{"partition key too long", "bench", "ValidationException", long},
		{"no such stream", "other", "ResourceNotFoundException", entries(1, 10)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := put(tt.stream, tt.recs)
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tt.code {
				t.Errorf("err = %v; want %s", err, tt.code)
			}
		})
	}
	if s.Puts.Calls.Load() != 1 || s.Puts.Records.Load() != 500 || s.Puts.Refused.Load() != 5 {
		t.Errorf("after the refused calls: %d calls, %d records, %d refused", s.Puts.Calls.Load(), s.Puts.Records.Load(), s.Puts.Refused.Load())
	}
}

// TestOpenShards checks LogConfig.OpenShards: no ending sequence numbers, and a next iterator
// even at a shard's end.
func TestOpenShards(t *testing.T) {
	s := NewLogs(LogConfig{Shards: 2, RecordsPerShard: 30, OpenShards: true})
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := newLogsClient(srv.URL)
	ctx := context.Background()
	ls, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("bench")})
	if err != nil || len(ls.Shards) != 2 {
		t.Fatalf("ListShards: %v, %v", ls, err)
	}
	for _, sh := range ls.Shards {
		if sh.SequenceNumberRange.EndingSequenceNumber != nil {
			t.Errorf("shard %s is closed", *sh.ShardId)
		}
	}
	next := aws.String("1-0")
	for i, want := range []int{30, 0, 0} {
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: next})
		for raced := 0; err != nil && strings.Contains(err.Error(), "use of closed network connection") && raced < 3; raced++ {
			out, err = c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: next}) // the SDK's loopback race (see internal/awshttp)
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Records) != want || out.NextShardIterator == nil || *out.NextShardIterator != "1-30" || *out.MillisBehindLatest != 0 {
			t.Fatalf("call %d: %d records, next %v", i+1, len(out.Records), out.NextShardIterator)
		}
		next = out.NextShardIterator
	}
}
