// Package localaws connects tests to the local AWS servers that scripts/localaws.sh starts:
// kinesis-local (the primary Kinesis), kinesalite (a faster Kinesis for volume), dynalite
// (DynamoDB) and s3rver (S3).
//
// The script writes the servers' endpoints to .localaws/env; a test reads them from the
// environment with KinesisEndpoint, KinesaliteEndpoint, DynamoDBEndpoint and S3Endpoint. When
// an endpoint is missing the test is skipped, except in CI (CI set) or when
// SLUICE_REQUIRE_LOCAL_AWS=1, where it fails: scripts/test.sh starts the servers and sets that
// variable, so a suite that expects the servers never passes by skipping.
//
//	scripts/localaws.sh start && eval "$(scripts/localaws.sh env)"
//	go test ./...
//	scripts/localaws.sh stop
//
// Each test makes its own uniquely named resources (CreateStream), so tests may run in
// parallel against one set of servers. None of the servers throttles or fails on its own:
// tests of those paths inject the faults themselves.
package localaws

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkhttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicedev/sluice/internal/awshttp"
)

// Environment variables read by this package. scripts/localaws.sh writes the endpoint ones,
// each as http://127.0.0.1:PORT.
const (
	// EnvKinesisEndpoint holds the kinesis-local (kinesis-mock) endpoint.
	EnvKinesisEndpoint = "SLUICE_KINESIS_ENDPOINT"
	// EnvKinesaliteEndpoint holds the kinesalite endpoint.
	EnvKinesaliteEndpoint = "SLUICE_KINESALITE_ENDPOINT"
	// EnvDynamoDBEndpoint holds the dynalite endpoint.
	EnvDynamoDBEndpoint = "SLUICE_DYNAMODB_ENDPOINT"
	// EnvS3Endpoint holds the s3rver endpoint.
	EnvS3Endpoint = "SLUICE_S3_ENDPOINT"
	// EnvRequire, set to "1", turns a missing endpoint into a test failure instead of a skip.
	// A non-empty CI variable does the same.
	EnvRequire = "SLUICE_REQUIRE_LOCAL_AWS"
)

// Settings that every local server accepts.
const (
	// Region is the signing region. kinesis-local keeps streams per region, so every client of
	// one test must use the same one.
	Region = "us-east-1"
	// AccessKeyID and SecretAccessKey are the static credentials AWSConfig uses. Any pair works
	// for kinesis-local, kinesalite and dynalite; s3rver accepts only this one.
	AccessKeyID     = "S3RVER"
	SecretAccessKey = "S3RVER"
)

// hint tells a developer how to get the servers.
const hint = "start the local AWS servers with `scripts/localaws.sh start` and " +
	"`eval \"$(scripts/localaws.sh env)\"` before `go test`, or run the whole suite with `bash scripts/test.sh`"

// KinesisEndpoint returns the kinesis-local endpoint (EnvKinesisEndpoint), the Kinesis server
// with the fullest API (ARNs, ListShards filters, resharding, EFO consumers). It is slow to
// write (hundreds of records per second), so keep its streams small. Without the variable the
// test is skipped, or fails in CI or when EnvRequire is "1".
func KinesisEndpoint(t testing.TB) string {
	t.Helper()
	return endpoint(t, EnvKinesisEndpoint, "kinesis-local")
}

// KinesaliteEndpoint returns the kinesalite endpoint (EnvKinesaliteEndpoint), a Kinesis server
// without ARN addressing, UpdateShardCount or EFO but 15-100 times faster than kinesis-local:
// use it for volume. A missing variable is handled as in KinesisEndpoint.
func KinesaliteEndpoint(t testing.TB) string {
	t.Helper()
	return endpoint(t, EnvKinesaliteEndpoint, "kinesalite")
}

// DynamoDBEndpoint returns the dynalite endpoint (EnvDynamoDBEndpoint). dynalite has atomic
// conditional writes but no transactions and no TTL. A missing variable is handled as in
// KinesisEndpoint.
func DynamoDBEndpoint(t testing.TB) string {
	t.Helper()
	return endpoint(t, EnvDynamoDBEndpoint, "dynalite")
}

// S3Endpoint returns the s3rver endpoint (EnvS3Endpoint). S3 clients must set
// UsePathStyle = true; s3rver ignores If-Match and If-None-Match. A missing variable is handled
// as in KinesisEndpoint.
func S3Endpoint(t testing.TB) string {
	t.Helper()
	return endpoint(t, EnvS3Endpoint, "s3rver")
}

func endpoint(t testing.TB, env, server string) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		return v
	}
	msg := fmt.Sprintf("localaws: %s is not set, so %s is not running: %s", env, server, hint)
	if required(os.Getenv) {
		t.Fatalf("%s (failing, not skipping, because CI or %s=1 is set)", msg, EnvRequire)
	}
	t.Skip(msg)
	return ""
}

// required reports whether a missing server must fail the test rather than skip it.
func required(getenv func(string) string) bool {
	return getenv("CI") != "" || getenv(EnvRequire) == "1"
}

// AWSConfig returns a configuration for one local server at endpoint: Region, the static
// credentials AccessKeyID/SecretAccessKey, BaseEndpoint set to endpoint, and an HTTP client
// wrapped in awshttp.RewindableBodyClient. Because BaseEndpoint applies to every service
// client made from the result, make one configuration per server. It reads nothing from the
// environment or ~/.aws, so a developer's AWS settings cannot point a test at real AWS.
func AWSConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   &awshttp.RewindableBodyClient{},
	}
}

// KinesisClient returns a Kinesis client for the server at endpoint (from KinesisEndpoint or
// KinesaliteEndpoint), built from AWSConfig with Options.BaseEndpoint set. Its HTTP client has
// its own connection pool behind awshttp.RewindableBodyClient; t.Cleanup closes the pool's
// idle connections.
func KinesisClient(t testing.TB, endpoint string) *kinesis.Client {
	t.Helper()
	if endpoint == "" {
		t.Fatal("localaws: KinesisClient: empty endpoint")
	}
	tr := sdkhttp.NewBuildableClient().GetTransport() // the SDK's default transport settings
	t.Cleanup(tr.CloseIdleConnections)
	cfg := AWSConfig(endpoint)
	cfg.HTTPClient = &awshttp.RewindableBodyClient{Next: &http.Client{
		Transport: tr,
		// Like the SDK's own client: hand a redirect back instead of following it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	})
}
