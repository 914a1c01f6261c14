package kinesis

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// API is the part of the Kinesis client the sink calls. *kinesis.Client implements it; tests
// and Go callers may pass their own (Options.Client).
type API interface {
	PutRecords(ctx context.Context, in *awskinesis.PutRecordsInput, optFns ...func(*awskinesis.Options)) (*awskinesis.PutRecordsOutput, error)
	ListShards(ctx context.Context, in *awskinesis.ListShardsInput, optFns ...func(*awskinesis.Options)) (*awskinesis.ListShardsOutput, error)
	DescribeStreamSummary(ctx context.Context, in *awskinesis.DescribeStreamSummaryInput, optFns ...func(*awskinesis.Options)) (*awskinesis.DescribeStreamSummaryOutput, error)
}

var _ API = (*awskinesis.Client)(nil)

// newClient returns the client the sink calls: Options.Client, or a client built from the
// aws.Config of awsauth (Options.AWSConfig, else the SDK's default configuration, with the
// region and credential options applied) with the Kinesis endpoint applied.
//
// Retries: the client it builds has the SDK's retryer turned off (aws.NopRetryer), so that
// every failed call comes back to the sink at once. The sink retries throttling, server
// errors and broken connections itself, with its own backoff, up to maxAttempts, counting
// them in its metrics; and, for PutRecords, it retries only the entries that failed. The SDK's
// retryer would retry whole calls invisibly, hiding throttling from the metrics. Requests go
// through awshttp.RewindableBodyClient, which avoids the SDK's request-body race on fast
// endpoints (a PutRecords retried after that error could write its records twice); awsauth
// sets it up.
func (o *Options) newClient(ctx context.Context) (API, error) {
	if o.Client != nil {
		return o.Client, nil
	}
	ao := o.awsFields().Options()
	ao.Region = o.region()
	cfg, err := auth.Config(ctx, ao)
	if err != nil {
		return nil, fmt.Errorf("kinesis sink: %w", err)
	}
	return awskinesis.NewFromConfig(cfg, func(ko *awskinesis.Options) {
		ko.Retryer = aws.NopRetryer{}
		ko.RetryMaxAttempts = 0
		if o.Endpoint != "" {
			ko.BaseEndpoint = aws.String(o.Endpoint)
		}
	}), nil
}
