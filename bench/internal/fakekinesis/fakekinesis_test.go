package fakekinesis

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedev/sluice/internal/awshttp"
)

func TestSeq(t *testing.T) {
	if got := seq(3, 42); got != "4965000000000003"+"0000000000000000000000000000000000000042" || len(got) != 56 {
		t.Errorf("seq = %s", got)
	}
	if got := seq(0, 0); len(got) != 56 {
		t.Errorf("seq(0, 0) = %s", got)
	}
}

// TestSDK reads the fake with the SDK: every call the source makes works.
func TestSDK(t *testing.T) {
	s := Start(Config{Shards: 2, RecordsPerShard: 25, MaxPerResponse: 10, ThrottleEvery: 2})
	defer s.Close()
	// The client is set up as the source sets up its own: no SDK retries, and the body wrapper
	// against the SDK's loopback race (see internal/awshttp).
	c := kinesis.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
		BaseEndpoint: aws.String(s.URL), Retryer: func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient: &awshttp.RewindableBodyClient{}})
	ctx := context.Background()
	if _, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("bench")}); err != nil {
		t.Fatal(err)
	}
	ls, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("bench")})
	if err != nil || len(ls.Shards) != 2 {
		t.Fatalf("ListShards: %v, %v", ls, err)
	}
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("bench"), ShardId: ls.Shards[1].ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	var n, throttled, raced int
	next := it.ShardIterator
	var last string
	for n < 25 {
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: next})
		if err != nil {
			var pte *types.ProvisionedThroughputExceededException
			switch {
			case errorsAs(err, &pte):
				throttled++
			case strings.Contains(err.Error(), "use of closed network connection") && raced < 3:
				raced++ // the SDK's loopback race; the source retries it the same way
			default:
				t.Fatal(err)
			}
			continue
		}
		for _, r := range out.Records {
			if *r.SequenceNumber <= last || len(r.Data) < 900 {
				t.Fatalf("record %s after %s, %d bytes", *r.SequenceNumber, last, len(r.Data))
			}
			last = *r.SequenceNumber
		}
		n += len(out.Records)
		next = out.NextShardIterator
	}
	if throttled == 0 {
		t.Error("ThrottleEvery did not throttle")
	}
	at, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("bench"), ShardId: ls.Shards[1].ShardId,
		ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(seq(1, 20))})
	if err != nil || *at.ShardIterator != "1-20" {
		t.Errorf("AT_SEQUENCE_NUMBER: %v %v", at, err)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
