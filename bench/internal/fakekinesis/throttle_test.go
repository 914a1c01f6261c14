package fakekinesis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func TestSeq(t *testing.T) {
	if got := seq(3, 42); got != "4965000000000003"+"0000000000000000000000000000000000000042" || len(got) != 56 {
		t.Errorf("seq = %s", got)
	}
	if got := seq(0, 0); len(got) != 56 {
		t.Errorf("seq(0, 0) = %s", got)
	}
}

// getRecordsAnswer is the part of a GetRecords answer the tests read.
type getRecordsAnswer struct {
	Records []struct {
		SequenceNumber string
		Data           []byte
	}
	NextShardIterator  *string
	MillisBehindLatest *int64
}

// postGetRecords makes a GetRecords call over plain HTTP and returns the answer's status,
// headers and body.
func postGetRecords(t *testing.T, url, iterator string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(fmt.Sprintf(`{"ShardIterator":%q}`, iterator)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.GetRecords")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// TestThrottle checks LogConfig.ThrottleEvery: every third GetRecords call of the server is
// answered as Kinesis answers a call over a shard's limits, and the same iterator then
// succeeds.
func TestThrottle(t *testing.T) {
	s := NewLogs(LogConfig{Shards: 2, RecordsPerShard: 25, MaxPerResponse: 10, ThrottleEvery: 3})
	srv := httptest.NewServer(s)
	defer srv.Close()

	read := func(it string) getRecordsAnswer {
		t.Helper()
		status, _, body := postGetRecords(t, srv.URL, it)
		var out getRecordsAnswer
		if err := json.Unmarshal(body, &out); status != 200 || err != nil {
			t.Fatalf("GetRecords %s: %d %s (%v)", it, status, body, err)
		}
		return out
	}
	// Calls 1 and 2 succeed (on shard 0, then shard 1).
	if out := read("0-0"); len(out.Records) != 10 || *out.NextShardIterator != "0-10" {
		t.Fatalf("call 1: %d records, next %v", len(out.Records), out.NextShardIterator)
	}
	out := read("1-0")
	if len(out.Records) != 10 || out.Records[9].SequenceNumber != seq(1, 9) {
		t.Fatalf("call 2: %d records", len(out.Records))
	}
	it := *out.NextShardIterator

	// Call 3 is throttled.
	status, hdr, body := postGetRecords(t, srv.URL, it)
	const want = `{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded for shard shardId-000000000001 in stream bench under account 000000000000."}`
	if status != http.StatusBadRequest || string(body) != want {
		t.Errorf("call 3: %d %s\nwant 400 %s", status, body, want)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("call 3: Content-Type %q", ct)
	}
	if et := hdr.Get("X-Amzn-Errortype"); et != "ProvisionedThroughputExceededException" {
		t.Errorf("call 3: X-Amzn-Errortype %q", et)
	}

	// Call 4, with the same iterator, gets the records after those of call 2.
	out = read(it)
	if len(out.Records) != 10 || out.Records[0].SequenceNumber != seq(1, 10) || *out.NextShardIterator != "1-20" || *out.MillisBehindLatest != 50 {
		t.Errorf("call 4: %d records from %s, next %v, %v ms behind", len(out.Records), out.Records[0].SequenceNumber, out.NextShardIterator, *out.MillisBehindLatest)
	}
	if c, th := s.GetRecordsCalls.Load(), s.GetRecordsThrottled.Load(); c != 4 || th != 1 {
		t.Errorf("counted %d calls, %d throttled; want 4, 1", c, th)
	}
}

// TestThrottleSDK reads a shard of a throttling server with the SDK, set up as the source sets
// up its own client (no retries): the throttled calls fail with the SDK's typed error, and
// retrying the same iterator reads every record once, in order.
func TestThrottleSDK(t *testing.T) {
	s := NewLogs(LogConfig{Shards: 2, RecordsPerShard: 25, MaxPerResponse: 10, ThrottleEvery: 2})
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := newLogsClient(srv.URL)
	ctx := context.Background()
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("bench"), ShardId: aws.String(shardID(1)), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	var n, throttled, raced int
	next := it.ShardIterator
	for next != nil {
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: next})
		if err != nil {
			var pte *types.ProvisionedThroughputExceededException
			switch {
			case errors.As(err, &pte):
				if !strings.HasPrefix(pte.ErrorMessage(), "Rate exceeded for shard shardId-000000000001") {
					t.Errorf("message %q", pte.ErrorMessage())
				}
				throttled++
			case strings.Contains(err.Error(), "use of closed network connection") && raced < 3:
				raced++ // the SDK's loopback race (see internal/awshttp)
			default:
				t.Fatal(err)
			}
			continue
		}
		for _, r := range out.Records {
			if *r.SequenceNumber != seq(1, n) || len(r.Data) != 1000 {
				t.Fatalf("record %s, %d bytes; want %s", *r.SequenceNumber, len(r.Data), seq(1, n))
			}
			n++
		}
		next = out.NextShardIterator
	}
	if n != 25 || throttled == 0 || int64(throttled) != s.GetRecordsThrottled.Load() {
		t.Errorf("%d records, %d throttled calls (the server counted %d)", n, throttled, s.GetRecordsThrottled.Load())
	}
	at, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("bench"), ShardId: aws.String(shardID(1)),
		ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(seq(1, 20))})
	if err != nil || *at.ShardIterator != "1-20" {
		t.Errorf("AT_SEQUENCE_NUMBER: %v %v", at, err)
	}
}
