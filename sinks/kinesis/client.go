package kinesis

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/sluicedev/sluice/internal/awshttp"
)

// API is the part of the Kinesis client the sink calls. *kinesis.Client implements it; tests
// and Go callers may pass their own (Options.Client).
type API interface {
	PutRecords(ctx context.Context, in *awskinesis.PutRecordsInput, optFns ...func(*awskinesis.Options)) (*awskinesis.PutRecordsOutput, error)
	ListShards(ctx context.Context, in *awskinesis.ListShardsInput, optFns ...func(*awskinesis.Options)) (*awskinesis.ListShardsOutput, error)
	DescribeStreamSummary(ctx context.Context, in *awskinesis.DescribeStreamSummaryInput, optFns ...func(*awskinesis.Options)) (*awskinesis.DescribeStreamSummaryOutput, error)
}

var _ API = (*awskinesis.Client)(nil)

// defaultRoleSessionName is the session name of an assumed role when roleSessionName is not
// given.
const defaultRoleSessionName = "sluice-kinesis-sink"

// newClient returns the client the sink calls: Options.Client, or a client built from
// Options.AWSConfig (else the SDK's default configuration) with the region, endpoint and
// credential options applied.
//
// Retries: the client it builds has the SDK's retryer turned off (aws.NopRetryer), so that
// every failed call comes back to the sink at once. The sink retries throttling, server
// errors and broken connections itself, with its own backoff, up to maxAttempts, counting
// them in its metrics; and, for PutRecords, it retries only the entries that failed. The SDK's
// retryer would retry whole calls invisibly, hiding throttling from the metrics. Requests go
// through awshttp.RewindableBodyClient, which avoids the SDK's request-body race on fast
// endpoints (a PutRecords retried after that error could write its records twice).
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
			return nil, fmt.Errorf("kinesis sink: load the AWS configuration: %w", err)
		}
	}
	if r := o.region(); r != "" {
		cfg.Region = r
	}
	if cfg.Region == "" {
		return nil, errors.New(`kinesis sink: no region: set the "region" option (or AWS_REGION, or a region in the shared config file)`)
	}
	if o.AWSAccessKey != "" {
		cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(o.AWSAccessKey, o.AWSSecretKey, o.AWSSessionToken))
	}
	if o.RoleARN != "" {
		role := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), o.RoleARN, func(ro *stscreds.AssumeRoleOptions) {
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
	return awskinesis.NewFromConfig(cfg, func(ko *awskinesis.Options) {
		ko.Retryer = aws.NopRetryer{}
		ko.RetryMaxAttempts = 0
		ko.HTTPClient = hc
		if o.Endpoint != "" {
			ko.BaseEndpoint = aws.String(o.Endpoint)
		}
	}), nil
}
