package kinesis_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/sluicedev/sluice/internal/testkit"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/internal/localaws"
	"github.com/sluicedev/sluice/sinks/kinesis"
)

// TestAggregationAfterReshard opens an aggregating sink on a one-shard stream, splits the
// shard, then writes: every aggregate is predicted for the closed parent and lands on a child.
// The sink notices, refreshes its shard map, and sends again the rows of every aggregate that
// straddles the children. A KCL consumer, which drops such aggregates, still gets every row.
func TestAggregationAfterReshard(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	ep := localaws.KinesisEndpoint(t) // kinesalite's split is slow to settle; kinesis-local's takes 50 ms
	client := localaws.KinesisClient(t, ep)
	stream := localaws.CreateStream(t, client, 1)
	s := openSink(t, mem, ep, stream, nil, func(o *kinesis.Options) {
		o.AggregationEnabled = true
		o.AggregationMaxSize = 4000
	})

	ctx := t.Context()
	shards, err := client.ListShards(ctx, &awskinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.SplitShard(ctx, &awskinesis.SplitShardInput{StreamName: aws.String(stream),
		ShardToSplit: shards.Shards[0].ShardId, NewStartingHashKey: aws.String("170141183460469231731687303715884105728")}); err != nil {
		t.Fatal(err)
	}
	waitSplit(t, client, stream)

	rows := makeRows("rs", 300, 60)
	if err := write(t, mem, s, 0, rows, 100); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, client, stream)
	want := rowsOf(nil, nil)
	for _, r := range rows {
		want = append(want, row{PK: r.PK, Data: r.Data})
	}
	sortRows(want)
	kcl := dedupe(rowsOf(got, func(r readRecord) bool { return r.inRange }))
	if diff := cmp.Diff(want, kcl); diff != "" {
		t.Errorf("rows a KCL consumer gets (-want +got):\n%s", diff)
	}
	m := s.Metrics()
	if n, _ := strconv.Atoi(m["aggregatesResent"]); n == 0 || m["recordsSent"] != "300" {
		t.Errorf("metrics %v; want aggregates resent and 300 rows", m)
	}
	t.Logf("metrics %v; %d user records read in all", m, len(got))

	// With the map refreshed, the next batch aggregates per child shard: nothing is resent.
	rows2 := makeRows("after", 300, 60)
	if err := write(t, mem, s, 1, rows2, 300); err != nil {
		t.Fatal(err)
	}
	if m := s.Metrics(); m["aggregatesResent"] != "0" {
		t.Errorf("second batch metrics %v; want no resend", m)
	}
}

func dedupe(rows []row) []row {
	var out []row
	for i, r := range rows {
		if i == 0 || r != rows[i-1] {
			out = append(out, r)
		}
	}
	return out
}

// waitSplit waits until the stream is ACTIVE with two open shards.
func waitSplit(t *testing.T, client *awskinesis.Client, stream string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for {
		out, err := client.DescribeStreamSummary(ctx, &awskinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive &&
			aws.ToInt32(out.StreamDescriptionSummary.OpenShardCount) == 2 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("the split did not complete")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
