package kinesis_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedev/sluice/internal/testkit"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedev/sluice/internal/kpl"
	"github.com/sluicedev/sluice/internal/localaws"
	"github.com/sluicedev/sluice/sinks"
	"github.com/sluicedev/sluice/sinks/kinesis"
)

// row is one row to write, and one user record read back.
type row struct {
	PK, EHK string
	Data    string
}

func (r row) String() string { return fmt.Sprintf("%s/%s/%.20q", r.PK, r.EHK, r.Data) }

// recordSchema is data (binary), partitionKey and explicitHashKey, plus an ignored column.
var recordSchema = arrow.NewSchema([]arrow.Field{
	{Name: "data", Type: arrow.BinaryTypes.Binary},
	{Name: "partitionKey", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "explicitHashKey", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "other", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// batch builds a batch of recordSchema; an EHK of "" is written as null.
func batch(mem memory.Allocator, rows []row) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, recordSchema)
	defer b.Release()
	for i, r := range rows {
		b.Field(0).(*array.BinaryBuilder).Append([]byte(r.Data))
		b.Field(1).(*array.StringBuilder).Append(r.PK)
		if r.EHK == "" {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.StringBuilder).Append(r.EHK)
		}
		b.Field(3).(*array.Int64Builder).Append(int64(i))
	}
	return b.NewRecordBatch()
}

// makeRows returns n rows with keys key-0..key-(n-1) and data of size bytes.
func makeRows(prefix string, n, size int) []row {
	out := make([]row, n)
	for i := range out {
		d := fmt.Sprintf("%s-%d:", prefix, i)
		if len(d) < size {
			d += strings.Repeat("x", size-len(d))
		}
		out[i] = row{PK: fmt.Sprintf("%s-key-%d", prefix, i), Data: d}
	}
	return out
}

// server is a Kinesis server to test against.
type server struct {
	name     string
	endpoint func(testing.TB) string
}

var servers = []server{
	{"kinesis-local", localaws.KinesisEndpoint},
	{"kinesalite", localaws.KinesaliteEndpoint},
}

// openSink builds and opens a sink on stream at endpoint, through transport (nil: the SDK's).
func openSink(t *testing.T, mem memory.Allocator, endpoint, stream string, rt http.RoundTripper, set func(*kinesis.Options)) *kinesis.Sink {
	t.Helper()
	cfg := localaws.AWSConfig(endpoint)
	if rt != nil {
		cfg.HTTPClient = &http.Client{Transport: rt}
	}
	o := kinesis.DefaultOptions()
	o.StreamName, o.AWSConfig, o.Endpoint = stream, &cfg, endpoint
	o.MinRetryDelay, o.MaxRetryDelay = time.Millisecond, 20*time.Millisecond
	if set != nil {
		set(&o)
	}
	s, err := kinesis.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(t.Context(), sinks.Info{QueryID: "q", Schema: recordSchema, Allocator: mem, Logger: testkit.Logger(t)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// write writes rows as batch id in Write calls of at most per rows, then commits.
func write(t *testing.T, mem memory.Allocator, s *kinesis.Sink, id int64, rows []row, per int) error {
	t.Helper()
	w, err := s.Begin(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for start := 0; start < len(rows); start += per {
		rec := batch(mem, rows[start:min(start+per, len(rows))])
		err := w.Write(t.Context(), rec)
		rec.Release()
		if err != nil {
			w.Abort(t.Context())
			return err
		}
	}
	return w.Commit(t.Context())
}

// readRecord is one user record read back, with where it was found.
type readRecord struct {
	row
	shard      string
	aggregated bool
	// inRange is false for a user record of an aggregate that hashes outside its shard's
	// range: a KCL consumer drops the whole aggregate.
	inRange bool
	seq     string
}

// readAll reads every record of every shard of stream from the start, de-aggregating KPL
// aggregates, as a consumer would (the SDK directly: the repository's Kinesis source is
// developed in parallel).
func readAll(t *testing.T, client *awskinesis.Client, stream string) []readRecord {
	t.Helper()
	ctx := t.Context()
	var shards []types.Shard
	in := &awskinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		out, err := client.ListShards(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			break
		}
		in = &awskinesis.ListShardsInput{NextToken: out.NextToken}
	}
	var recs []readRecord
	for _, sh := range shards {
		start, _ := parseHash(aws.ToString(sh.HashKeyRange.StartingHashKey))
		end, _ := parseHash(aws.ToString(sh.HashKeyRange.EndingHashKey))
		it, err := client.GetShardIterator(ctx, &awskinesis.GetShardIteratorInput{StreamName: aws.String(stream),
			ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := client.GetRecords(ctx, &awskinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Records {
				var users []readRecord
				_, err := kpl.Deaggregate(r.Data, func(_ int, pk, ehk string, payload []byte) error {
					users = append(users, readRecord{row: row{PK: pk, EHK: ehk, Data: string(payload)}, aggregated: true})
					return nil
				})
				if errors.Is(err, kpl.ErrNotAggregated) {
					users = []readRecord{{row: row{PK: aws.ToString(r.PartitionKey), Data: string(r.Data)}}}
				} else if err != nil {
					t.Fatal(err)
				}
				inRange := true
				for _, u := range users {
					h := hashOf(u.PK, u.EHK)
					if u.aggregated && (bytes.Compare(h, start) < 0 || bytes.Compare(h, end) > 0) {
						inRange = false
					}
				}
				for _, u := range users {
					u.shard, u.inRange, u.seq = aws.ToString(sh.ShardId), inRange, aws.ToString(r.SequenceNumber)
					recs = append(recs, u)
				}
			}
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return recs
}

// rowsOf returns the rows of records, sorted, keeping duplicates.
func rowsOf(recs []readRecord, keep func(readRecord) bool) []row {
	var out []row
	for _, r := range recs {
		if keep == nil || keep(r) {
			out = append(out, row{PK: r.PK, Data: r.Data})
		}
	}
	sortRows(out)
	return out
}

func sortRows(rows []row) {
	slices.SortFunc(rows, func(a, b row) int {
		if c := strings.Compare(a.PK, b.PK); c != 0 {
			return c
		}
		return strings.Compare(a.Data, b.Data)
	})
}

// putCall is what faultTransport saw of one PutRecords request.
type putCall struct {
	stream  string
	keys    []string
	bytes   int // data plus partition keys
	entries int
}

// faultTransport is an http.RoundTripper in front of a Kinesis server. It records every
// PutRecords request and injects faults the servers never produce: whole calls refused with
// ProvisionedThroughputExceededException (HTTP 400), and single entries refused with it. A
// refused entry is taken out of the request before it is forwarded, and its failure is spliced
// into the server's answer at its position, so the server never stores it, as with AWS.
type faultTransport struct {
	next http.RoundTripper

	mu    sync.Mutex
	calls []putCall
	// throttleCall decides whether call n (from 0) is refused whole.
	throttleCall func(n int) bool
	// failEntry decides whether entry i of call n is refused.
	failEntry func(n, i int, key string) bool
}

func (f *faultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("X-Amz-Target") != "Kinesis_20131202.PutRecords" {
		return f.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	var in struct {
		StreamName string            `json:"StreamName,omitempty"`
		StreamARN  string            `json:"StreamARN,omitempty"`
		Records    []json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("faultTransport: request body: %w", err)
	}
	call := putCall{stream: in.StreamName, entries: len(in.Records)}
	keep := make([]bool, len(in.Records))
	f.mu.Lock()
	n := len(f.calls)
	for i, raw := range in.Records {
		var e struct{ Data, PartitionKey string }
		if err := json.Unmarshal(raw, &e); err != nil {
			f.mu.Unlock()
			return nil, err
		}
		data, _ := base64.StdEncoding.DecodeString(e.Data)
		call.keys = append(call.keys, e.PartitionKey)
		call.bytes += len(data) + len(e.PartitionKey)
		keep[i] = f.failEntry == nil || !f.failEntry(n, i, e.PartitionKey)
	}
	f.calls = append(f.calls, call)
	throttle := f.throttleCall != nil && f.throttleCall(n)
	f.mu.Unlock()
	if throttle {
		return jsonResponse(req, http.StatusBadRequest, map[string]string{
			"__type": "ProvisionedThroughputExceededException", "message": "Rate exceeded (injected)"}), nil
	}
	var fwd []json.RawMessage
	for i, raw := range in.Records {
		if keep[i] {
			fwd = append(fwd, raw)
		}
	}
	failure := json.RawMessage(`{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard (injected)"}`)
	results := make([]json.RawMessage, len(in.Records))
	failedCount := len(in.Records) - len(fwd)
	if len(fwd) > 0 {
		in.Records = fwd
		nb, _ := json.Marshal(in)
		r2 := req.Clone(req.Context())
		r2.Body = io.NopCloser(bytes.NewReader(nb))
		r2.ContentLength = int64(len(nb))
		r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(nb)), nil }
		resp, err := f.next.RoundTrip(r2)
		if err != nil || resp.StatusCode != http.StatusOK {
			return resp, err
		}
		rb, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		var out struct {
			FailedRecordCount int
			Records           []json.RawMessage
		}
		if err := json.Unmarshal(rb, &out); err != nil || len(out.Records) != len(fwd) {
			return nil, fmt.Errorf("faultTransport: response %s: %v", rb, err)
		}
		failedCount += out.FailedRecordCount
		j := 0
		for i := range results {
			if keep[i] {
				results[i] = out.Records[j]
				j++
			}
		}
	}
	for i := range results {
		if !keep[i] {
			results[i] = failure
		}
	}
	return jsonResponse(req, http.StatusOK, map[string]any{"FailedRecordCount": failedCount, "Records": results}), nil
}

func jsonResponse(req *http.Request, status int, v any) *http.Response {
	b, _ := json.Marshal(v)
	h := http.Header{}
	h.Set("Content-Type", "application/x-amz-json-1.1")
	if m, ok := v.(map[string]string); ok && m["__type"] != "" {
		h.Set("X-Amzn-ErrorType", m["__type"])
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: req}
}

func (f *faultTransport) seen() []putCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func newFaultTransport() *faultTransport {
	return &faultTransport{next: http.DefaultTransport.(*http.Transport).Clone()}
}

// parseHash parses a decimal hash key into 16 big-endian bytes.
func parseHash(s string) ([]byte, bool) {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, false
	}
	return n.FillBytes(make([]byte, 16)), true
}

// hashOf is the hash key Kinesis places a record by.
func hashOf(pk, ehk string) []byte {
	if ehk != "" {
		if h, ok := parseHash(ehk); ok {
			return h
		}
	}
	sum := md5.Sum([]byte(pk))
	return sum[:]
}
