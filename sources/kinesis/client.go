package kinesis

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/sluicedev/sluice/internal/awshttp"
)

// API is the part of the Kinesis client the source calls. *kinesis.Client implements it;
// tests and Go callers may pass their own (Options.Client).
type API interface {
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

var _ API = (*kinesis.Client)(nil)

// defaultRoleSessionName is the session name of an assumed role when roleSessionName is not
// given.
const defaultRoleSessionName = "sluice-kinesis-source"

// newClient returns the client the source calls: Options.Client, or a client built from
// Options.AWSConfig (else the SDK's default configuration) with the region, endpoint and
// credential options applied.
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
	var cfg aws.Config
	if o.AWSConfig != nil {
		cfg = o.AWSConfig.Copy()
	} else {
		var err error
		if cfg, err = config.LoadDefaultConfig(ctx); err != nil {
			return nil, fmt.Errorf("kinesis: load the AWS configuration: %w", err)
		}
	}
	if r := o.region(); r != "" {
		cfg.Region = r
	}
	if cfg.Region == "" {
		return nil, errors.New(`kinesis: no region: set the "region" option (or AWS_REGION, or a region in the shared config file)`)
	}
	if o.AWSAccessKey != "" {
		cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(o.AWSAccessKey, o.AWSSecretKey, o.AWSSessionToken))
	}
	if o.RoleARN != "" {
		stsClient := sts.NewFromConfig(cfg)
		role := stscreds.NewAssumeRoleProvider(stsClient, o.RoleARN, func(ro *stscreds.AssumeRoleOptions) {
			ro.RoleSessionName = o.RoleSessionName
			if ro.RoleSessionName == "" {
				ro.RoleSessionName = defaultRoleSessionName
			}
			if o.RoleExternalID != "" {
				ro.ExternalID = aws.String(o.RoleExternalID)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(role)
	}
	var hc aws.HTTPClient = &awshttp.RewindableBodyClient{Next: cfg.HTTPClient}
	if _, ok := cfg.HTTPClient.(*awshttp.RewindableBodyClient); ok {
		hc = cfg.HTTPClient
	}
	return kinesis.NewFromConfig(cfg, func(ko *kinesis.Options) {
		ko.Retryer = aws.NopRetryer{}
		ko.RetryMaxAttempts = 0
		ko.HTTPClient = hc
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
