package kinesis

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/internal/localaws"
	"github.com/sluicedev/sluice/sources"
)

// serveFake serves a fakeAPI over HTTP in the Kinesis JSON 1.1 protocol, so that a source
// with its own *kinesis.Client reads it (DescribeStreamSummary, ListShards, GetShardIterator,
// GetRecords).
func serveFake(t *testing.T, f *fakeAPI) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ctx := r.Context()
		var out any
		var err error
		switch op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "Kinesis_20131202."); op {
		case "DescribeStreamSummary":
			var in kinesis.DescribeStreamSummaryInput
			json.Unmarshal(body, &in)
			var o *kinesis.DescribeStreamSummaryOutput
			if o, err = f.DescribeStreamSummary(ctx, &in); err == nil {
				d := o.StreamDescriptionSummary
				out = map[string]any{"StreamDescriptionSummary": map[string]any{"StreamName": d.StreamName, "StreamStatus": d.StreamStatus,
					"OpenShardCount": d.OpenShardCount, "StreamCreationTimestamp": json.Number(epochSeconds(*d.StreamCreationTimestamp))}}
			}
		case "ListShards":
			var in kinesis.ListShardsInput
			json.Unmarshal(body, &in)
			var o *kinesis.ListShardsOutput
			if o, err = f.ListShards(ctx, &in); err == nil {
				out = map[string]any{"Shards": o.Shards, "NextToken": o.NextToken}
			}
		case "GetShardIterator":
			var in struct {
				kinesis.GetShardIteratorInput
				Timestamp *json.Number
			}
			json.Unmarshal(body, &in)
			if in.Timestamp != nil {
				sec, _ := in.Timestamp.Float64()
				in.GetShardIteratorInput.Timestamp = aws.Time(time.UnixMilli(int64(sec * 1000)))
			}
			var o *kinesis.GetShardIteratorOutput
			if o, err = f.GetShardIterator(ctx, &in.GetShardIteratorInput); err == nil {
				out = map[string]any{"ShardIterator": o.ShardIterator}
			}
		case "GetRecords":
			var in kinesis.GetRecordsInput
			json.Unmarshal(body, &in)
			var o *kinesis.GetRecordsOutput
			if o, err = f.GetRecords(ctx, &in); err == nil {
				w := wire{NextShardIterator: o.NextShardIterator, MillisBehindLatest: o.MillisBehindLatest, Records: []wireRecord{}}
				for _, r := range o.Records {
					w.Records = append(w.Records, wireRecord{SequenceNumber: r.SequenceNumber, PartitionKey: r.PartitionKey, Data: r.Data,
						ApproximateArrivalTimestamp: num(epochSeconds(*r.ApproximateArrivalTimestamp))})
				}
				out = w
			}
		default:
			err = &smithy.GenericAPIError{Code: "UnknownOperationException", Message: op}
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if err != nil {
			var apiErr smithy.APIError
			errors.As(err, &apiErr)
			w.Header().Set("X-Amzn-Errortype", apiErr.ErrorCode())
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"__type":%q,"message":%q}`, apiErr.ErrorCode(), apiErr.ErrorMessage())
			return
		}
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// epochSeconds writes t as Kinesis does: epoch seconds with milliseconds, as 1.700000060123E9.
func epochSeconds(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'E', -1, 64)
}

// pathsData fills a fake stream of three shards with the records the comparison reads: plain
// records with keys that JSON escapes, every KPL vector, and larger random data. It returns
// the number of user records and the sequence number of the 100-record aggregate.
func pathsData(t *testing.T, f *fakeAPI) (n int, aggSeq string) {
	f.create("s", 3)
	arrival := time.UnixMilli(1_700_000_060_123)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 300 {
		f.put("s", "shardId-000000000000", arrival.Add(time.Duration(i)*time.Millisecond), randomString(rng, 10)+"/k", randomBytes(rng, 50))
		n++
	}
	names, data, outer, want := kplVectors(t)
	for _, name := range names {
		f.put("s", "shardId-000000000001", arrival, outer[name], data[name])
		n += len(want[name])
		if name == "agg-100x1k" {
			aggSeq = fmt.Sprintf("4960%052d", f.seq)
		}
		f.put("s", "shardId-000000000001", arrival, "plain", []byte("between"))
		n++
	}
	for i := range 40 {
		f.put("s", "shardId-000000000002", arrival.Add(time.Duration(i)*time.Second), fmt.Sprintf("big-%d", i), randomBytes(rng, 20000))
		n++
	}
	return n, aggSeq
}

// readPath reads n rows with a source of options o from start, and returns them by shard, in
// order, with the end offset.
func readPath(t *testing.T, o Options, start sources.Offset, n int) (map[string][]row, sources.Offset) {
	t.Helper()
	s, _ := openSource(t, o)
	if start == nil {
		var err error
		if start, err = s.InitialOffset(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	rows, end := readUntil(t, s, start, n, time.Minute)
	byShard := map[string][]row{}
	for _, r := range rows {
		byShard[r.ShardID] = append(byShard[r.ShardID], r)
	}
	return byShard, end
}

// TestPathsAgree reads the same fake stream, served over HTTP, with the source's own client
// (answers decoded by the hook) and with the same client hidden behind the API interface
// (answers decoded by the SDK, then decoder.decode): the rows, their order and the offsets
// are the same, also when reading resumes inside a KPL aggregate.
func TestPathsAgree(t *testing.T) {
	f := newFakeAPI()
	n, aggSeq := pathsData(t, f)
	url := serveFake(t, f)
	fast := fastOptions(url, "s")
	fast.InitialPosition = InitialPosition{Kind: TrimHorizon}
	fast.MaxRecordsPerFetch = 70
	api, err := fast.newClient(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slow := fast
	slow.AWSConfig, slow.Client = nil, sdkOnly{api}

	fastRows, fastEnd := readPath(t, fast, nil, n)
	slowRows, slowEnd := readPath(t, slow, nil, n)
	if d := cmp.Diff(slowRows, fastRows); d != "" {
		t.Errorf("rows (-sdk +hook):\n%s", d)
	}
	if string(fastEnd) != string(slowEnd) {
		t.Errorf("end offsets:\nhook %s\nsdk  %s", fastEnd, slowEnd)
	}
	if len(fastRows["shardId-000000000001"]) < 100 {
		t.Fatalf("shard 1: %d rows", len(fastRows["shardId-000000000001"]))
	}

	// Resume inside the aggregate: the user records after sub-sequence number 41 only.
	so, _ := decodeOffset(fastEnd)
	for id := range so.streams["s"].shards {
		so.streams["s"].shards[id] = trimHorizon()
	}
	so.streams["s"].shards["shardId-000000000001"] = after(aggSeq, 41)
	start := so.encode()
	rest := len(fastRows["shardId-000000000000"]) + len(fastRows["shardId-000000000002"]) + 100 - 42
	for _, r := range fastRows["shardId-000000000001"] {
		if cmpSeq(r.Seq, aggSeq) > 0 {
			rest++
		}
	}
	fastRows, _ = readPath(t, fast, start, rest)
	slowRows, _ = readPath(t, slow, start, rest)
	if d := cmp.Diff(slowRows, fastRows); d != "" {
		t.Errorf("from inside the aggregate, rows (-sdk +hook):\n%s", d)
	}
	if got := fastRows["shardId-000000000001"]; len(got) == 0 || got[0].Seq != aggSeq {
		t.Errorf("from inside the aggregate: first row %+v", got)
	}
}

// TestPathsAgreeLocal reads streams of both local Kinesis servers with both decoding paths:
// plain records with keys that JSON escapes, and every KPL vector.
func TestPathsAgreeLocal(t *testing.T) {
	t.Parallel()
	for _, server := range []struct {
		name string
		ep   func(testing.TB) string
	}{{"kinesis-local", localaws.KinesisEndpoint}, {"kinesalite", localaws.KinesaliteEndpoint}} {
		t.Run(server.name, func(t *testing.T) {
			t.Parallel()
			ep := server.ep(t)
			c := localaws.KinesisClient(t, ep)
			name := localaws.CreateStream(t, c, 2)
			rng := rand.New(rand.NewPCG(5, 6))
			var recs []localaws.Record
			for i := range 200 {
				pk := fmt.Sprintf("k%d/\"é😀\\\u2028<&>", i%7)
				recs = append(recs, localaws.Record{PartitionKey: pk, Data: randomBytes(rng, 3000)})
			}
			names, data, outer, want := kplVectors(t)
			n := len(recs)
			for _, v := range names {
				recs = append(recs, localaws.Record{PartitionKey: outer[v], Data: data[v]})
				n += len(want[v])
			}
			localaws.PutRecords(t, c, name, recs)

			fast := fastOptions(ep, name)
			fast.InitialPosition = InitialPosition{Kind: TrimHorizon}
			fast.MaxRecordsPerFetch = 50
			api, err := fast.newClient(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			slow := fast
			slow.AWSConfig, slow.Client = nil, sdkOnly{api}
			fastRows, fastEnd := readPath(t, fast, nil, n)
			slowRows, slowEnd := readPath(t, slow, nil, n)
			if d := cmp.Diff(slowRows, fastRows); d != "" {
				t.Errorf("rows (-sdk +hook):\n%s", d)
			}
			if string(fastEnd) != string(slowEnd) {
				t.Errorf("end offsets:\nhook %s\nsdk  %s", fastEnd, slowEnd)
			}
			total := 0
			for _, rows := range fastRows {
				total += len(rows)
			}
			if total != n {
				t.Errorf("%d rows, want %d", total, n)
			}
		})
	}
}
