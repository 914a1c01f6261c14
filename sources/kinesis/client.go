package kinesis

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// API is the part of the Kinesis client the source calls. *kinesis.Client implements it;
// tests and Go callers may pass their own (Options.Client).
//
// When the API is a *kinesis.Client, GetRecords is called with an option that decodes the
// records of a successful answer straight into Arrow (getrecords.go), and the
// GetRecordsOutput it returns has no Records. Any other implementation is asked for
// GetRecordsOutput.Records as usual; both give the same batches.
type API interface {
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

var _ API = (*kinesis.Client)(nil)

// newClient returns the client the source calls: Options.Client, or a client built from the
// aws.Config of awsauth (Options.AWSConfig, else the SDK's default configuration, with the
// region and credential options applied) with the Kinesis endpoint applied.
//
// Retries: the client it builds has the SDK's retryer turned off (aws.NopRetryer), so that
// every failed call comes back to the source at once. The source then decides per shard:
// throttling (ProvisionedThroughputExceeded, LimitExceeded, KMSThrottling) is retried without
// limit after a jittered exponential backoff and counted in numThrottled, because a throttled
// query must slow down, not fail; server errors (5xx), broken connections and the SDK's
// "use of closed network connection" deserialization error are retried likewise but fail the
// query after maxTransientFailures in a row. The SDK's own retryer would retry the same errors
// invisibly (3 attempts, its own backoff, a retry quota shared by all shards), hide throttling
// from the metrics, and add calls that the per-shard rate limit does not see.
func (o *Options) newClient(ctx context.Context) (API, error) {
	if o.Client != nil {
		return o.Client, nil
	}
	ao := o.awsFields().Options()
	ao.Region = o.region()
	cfg, err := auth.Config(ctx, ao)
	if err != nil {
		return nil, fmt.Errorf("kinesis: %w", err)
	}
	return kinesis.NewFromConfig(cfg, func(ko *kinesis.Options) {
		ko.Retryer = aws.NopRetryer{}
		ko.RetryMaxAttempts = 0
		if o.Endpoint != "" {
			ko.BaseEndpoint = aws.String(o.Endpoint)
		}
	}), nil
}

// region returns the configured region, or the region of the stream ARNs.
func (o *Options) region() string {
	if o.Region != "" {
		return o.Region
	}
	if len(o.StreamARNs) > 0 {
		r, _ := arnParts(o.StreamARNs[0])
		return r
	}
	return ""
}
