// Package demo holds what the examples share to fill a Kinesis stream with sample data: a
// client for AWS or a local server, creating a stream and waiting until it is active, and
// putting records in batches of at most 500.
package demo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Client returns a Kinesis client for region: for AWS with the default credential chain when
// endpoint is empty, else for the server at endpoint with dummy keys (local servers accept any).
func Client(ctx context.Context, endpoint, region string) (*kinesis.Client, error) {
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if endpoint != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// EnsureStream creates stream with shards shards unless it exists, and waits until it is
// active.
func EnsureStream(ctx context.Context, c *kinesis.Client, stream string, shards int) error {
	_, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(int32(shards))})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create stream %s: %w", stream, err)
	}
	for {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Put puts the records into stream, 500 per PutRecords call; a record Kinesis refuses is an
// error.
func Put(ctx context.Context, c *kinesis.Client, stream string, recs []types.PutRecordsRequestEntry) error {
	for len(recs) > 0 {
		n := min(len(recs), 500)
		out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: recs[:n]})
		if err != nil {
			return fmt.Errorf("put records: %w", err)
		}
		if f := aws.ToInt32(out.FailedRecordCount); f > 0 {
			return fmt.Errorf("put records: %d of %d failed", f, n)
		}
		recs = recs[n:]
	}
	return nil
}
