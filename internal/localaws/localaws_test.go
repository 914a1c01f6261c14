package localaws_test

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	gocmp "github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/internal/localaws"
)

// servers are the two Kinesis implementations every Kinesis test can run against.
var servers = []struct {
	name     string
	endpoint func(testing.TB) string
}{
	{"kinesis-local", localaws.KinesisEndpoint},
	{"kinesalite", localaws.KinesaliteEndpoint},
}

// readRecord is a record read back, with where it was read from.
type readRecord struct {
	localaws.Record
	localaws.Placement
}

func makeRecords(n int) []localaws.Record {
	recs := make([]localaws.Record, n)
	for i := range recs {
		recs[i] = localaws.Record{
			PartitionKey: fmt.Sprintf("pk-%d", i%7),
			Data:         fmt.Appendf(nil, "record-%05d", i),
		}
	}
	return recs
}

// readAll reads every shard of stream from TRIM_HORIZON until it has want records.
func readAll(t *testing.T, client *kinesis.Client, stream string, want int) []readRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		out, err := client.ListShards(ctx, in)
		if err != nil {
			t.Fatalf("ListShards: %v", err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			break
		}
		// NextToken goes without StreamName: kinesis-local rejects both together.
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}

	iters := make(map[string]*string, len(shards))
	for _, s := range shards {
		out, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName:        aws.String(stream),
			ShardId:           s.ShardId,
			ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatalf("GetShardIterator %s: %v", aws.ToString(s.ShardId), err)
		}
		iters[aws.ToString(s.ShardId)] = out.ShardIterator
	}

	var got []readRecord
	for len(got) < want {
		progress := false
		for _, s := range shards {
			id := aws.ToString(s.ShardId)
			if iters[id] == nil {
				continue
			}
			out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iters[id]})
			if err != nil {
				t.Fatalf("GetRecords %s: %v", id, err)
			}
			iters[id] = out.NextShardIterator
			for _, r := range out.Records {
				got = append(got, readRecord{
					Record:    localaws.Record{PartitionKey: aws.ToString(r.PartitionKey), Data: r.Data},
					Placement: localaws.Placement{ShardID: id, SequenceNumber: aws.ToString(r.SequenceNumber)},
				})
			}
			progress = progress || len(out.Records) > 0
		}
		if !progress {
			select {
			case <-ctx.Done():
				t.Fatalf("read %d of %d records: %v", len(got), want, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return got
}

// summary stands for a record in comparisons: go-cmp diffs of megabyte payloads are slow.
type summary struct {
	PartitionKey   string
	Data           string // the first 32 bytes
	Size           int
	SHA256         string
	ShardID        string
	SequenceNumber string
}

func summarize(r localaws.Record, p localaws.Placement) summary {
	sum := sha256.Sum256(r.Data)
	return summary{
		PartitionKey:   r.PartitionKey,
		Data:           string(r.Data[:min(len(r.Data), 32)]),
		Size:           len(r.Data),
		SHA256:         hex.EncodeToString(sum[:8]),
		ShardID:        p.ShardID,
		SequenceNumber: p.SequenceNumber,
	}
}

// checkRoundTrip compares what was read with what was put: the same records, each where
// PutRecords said it went, and within a shard in the order they were put.
func checkRoundTrip(t *testing.T, put []localaws.Record, placed []localaws.Placement, read []readRecord) {
	t.Helper()
	want := make([]summary, len(put))
	for i := range put {
		want[i] = summarize(put[i], placed[i])
	}
	got := make([]summary, len(read))
	for i, r := range read {
		got[i] = summarize(r.Record, r.Placement)
	}
	// A stable sort by shard keeps put order in want and read order in got.
	byShard := func(a, b summary) int { return cmp.Compare(a.ShardID, b.ShardID) }
	slices.SortStableFunc(want, byShard)
	slices.SortStableFunc(got, byShard)
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("records by shard, in put and read order (-put +read):\n%s", diff)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			client := localaws.KinesisClient(t, srv.endpoint(t))
			stream := localaws.CreateStream(t, client, 2)

			recs := makeRecords(10)
			placed := localaws.PutRecords(t, client, stream, recs)
			got := readAll(t, client, stream, len(recs))
			checkRoundTrip(t, recs, placed, got)
		})
	}
}

// TestPutRecordsChunks puts more than one PutRecords call's worth of records (500 records and
// 5 MiB are the limits) on kinesalite, the fast server.
func TestPutRecordsChunks(t *testing.T) {
	t.Parallel()
	client := localaws.KinesisClient(t, localaws.KinesaliteEndpoint(t))
	stream := localaws.CreateStream(t, client, 3)

	recs := makeRecords(1234)
	// Twelve 1 MiB-ish records force a split by size well before 500 records.
	for i := 100; i < 112; i++ {
		recs[i].Data = append(recs[i].Data, make([]byte, 900<<10)...)
	}
	placed := localaws.PutRecords(t, client, stream, recs)
	got := readAll(t, client, stream, len(recs))
	checkRoundTrip(t, recs, placed, got)
}

// TestEndpointsAnswer checks that every server named in the environment answers HTTP.
func TestEndpointsAnswer(t *testing.T) {
	endpoints := []struct {
		name     string
		endpoint func(testing.TB) string
	}{
		{"kinesis-local", localaws.KinesisEndpoint},
		{"kinesalite", localaws.KinesaliteEndpoint},
		{"dynalite", localaws.DynamoDBEndpoint},
		{"s3rver", localaws.S3Endpoint},
	}
	for _, e := range endpoints {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.endpoint(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("GET %s: %v", req.URL, err)
			}
			resp.Body.Close()
		})
	}
}
