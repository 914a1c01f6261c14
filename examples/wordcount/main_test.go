package main

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/internal/demo"
	"github.com/sluicedev/sluice/internal/localaws"
	"github.com/sluicedev/sluice/internal/testkit"
	"github.com/sluicedev/sluice/pipeline"
)

// TestWordCount runs the example's query on the local Kinesis server twice on one checkpoint,
// with lines added in between, and compares the counts with a direct count of the same lines.
func TestWordCount(t *testing.T) {
	endpoint := localaws.KinesisEndpoint(t)
	client := localaws.KinesisClient(t, endpoint)
	stream := localaws.CreateStream(t, client, 2)
	ctx := context.Background()
	want := map[string]int64{}
	put := func(lines ...string) {
		var recs []types.PutRecordsRequestEntry
		for i, l := range lines {
			recs = append(recs, types.PutRecordsRequestEntry{PartitionKey: aws.String(strconv.Itoa(i)), Data: []byte(l)})
			for _, w := range strings.Split(strings.ToLower(l), " ") {
				if w != "" {
					want[w]++
				}
			}
		}
		if err := demo.Put(ctx, client, stream, recs); err != nil {
			t.Fatal(err)
		}
	}
	cp := filepath.Join(t.TempDir(), "cp")
	mem := testkit.CheckedAlloc(t)
	count := func() map[string]int64 {
		got := map[string]int64{}
		p := pipeline.New(pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)))
		defer p.Close(ctx)
		q, err := wordCounts(p.ReadStream().Format("kinesis").
			Option("streamName", stream).Option("endpoint", endpoint).Option("region", "us-east-1").
			Option("awsAccessKey", "local").Option("awsSecretKey", "local").
			Option("initialPosition", "trim_horizon").Option("maxFetchDuration", "200ms").Load()).
			WriteStream().OutputMode("complete").
			ForeachBatch(func(_ context.Context, rec arrow.RecordBatch, _ int64) error {
				clear(got)
				words, counts := rec.Column(0).(*array.String), rec.Column(1).(*array.Int64)
				for i := range int(rec.NumRows()) {
					got[words.Value(i)] = counts.Value(i)
				}
				return nil
			}).
			Option("checkpointLocation", cp).Trigger(pipeline.AvailableNow()).Start(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.AwaitTermination(ctx); err != nil {
			t.Fatal(err)
		}
		return got
	}
	put("the quick brown fox", "jumps over  the lazy dog", "The END")
	if diff := cmp.Diff(want, count()); diff != "" {
		t.Fatalf("first run (-want +got):\n%s", diff)
	}
	put("the fox again", "and the dog")
	if diff := cmp.Diff(want, count()); diff != "" {
		t.Fatalf("after a restart (-want +got):\n%s", diff)
	}
}
