package kinesis

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluicedev/sluice/internal/kinesisstream"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sluicedev/sluice/internal/awsauth"
	"github.com/sluicedev/sluice/internal/kpl"
	"github.com/sluicedev/sluice/optspec"
)

// component names the sink in option errors.
const component = "kinesis sink"

// Kinesis limits the sink enforces before sending (AWS documentation; local servers do not
// enforce them all).
const (
	// MaxRecordSize is the largest Kinesis record: data plus partition key, 1 MiB.
	MaxRecordSize = 1 << 20
	// MaxRecordsPerRequest is the most records of one PutRecords call.
	MaxRecordsPerRequest = 500
	// MaxBytesPerRequest is the most data plus partition key bytes of one PutRecords call.
	MaxBytesPerRequest = 5 << 20
	// MaxPartitionKeyLength is the longest partition key, in Unicode characters.
	MaxPartitionKeyLength = 256
)

// Defaults of the options.
const (
	DefaultMaxInFlightRequests = 4
	DefaultMaxAttempts         = 10
	DefaultMinRetryDelay       = 100 * time.Millisecond
	DefaultMaxRetryDelay       = 5 * time.Second
	// DefaultAggregationMaxSize is the KPL's default AggregationMaxSize: 51200 bytes.
	DefaultAggregationMaxSize = 51200
)

// Options configures the Kinesis sink. Build them with DefaultOptions and set fields, or let
// the "kinesis" format parse Spark-style options (see Spec). Validate reports every problem at
// once.
type Options struct {
	// StreamName is the stream to write (option streamName). Give StreamName or StreamARN.
	StreamName string
	// StreamARN is the stream to write, by ARN (option streamARN).
	StreamARN string
	// Region is the stream's region. Empty: the region of StreamARN, else the SDK's
	// resolution (AWS_REGION, the shared config file, ...).
	Region string
	// Endpoint overrides the Kinesis endpoint, e.g. http://localhost:4567.
	Endpoint string

	// MaxInFlightRequests is how many PutRecords calls may be outstanding at once.
	MaxInFlightRequests int64
	// MaxAttempts bounds the PutRecords calls made for one record: after that many failed
	// tries (throttled, or failed by the service) the micro-batch fails, the query stops and
	// the batch is replayed at the next start. Records are never dropped silently.
	MaxAttempts int64
	// MinRetryDelay and MaxRetryDelay bound the exponential backoff between tries, with full
	// jitter: try n waits a random time in [0, min(MaxRetryDelay, MinRetryDelay·2^n)).
	MinRetryDelay time.Duration
	MaxRetryDelay time.Duration

	// AggregationEnabled packs rows into KPL aggregated records (see the package
	// documentation), which KCL consumers, the KPL de-aggregators and sluice's Kinesis source
	// unpack.
	AggregationEnabled bool
	// AggregationMaxSize is the largest aggregated record, data plus partition key, in bytes
	// (at most MaxRecordSize).
	AggregationMaxSize int64

	// AWSAccessKey and AWSSecretKey (and AWSSessionToken) are static credentials. Without
	// them the sink uses the SDK's default credential chain.
	AWSAccessKey    string
	AWSSecretKey    string
	AWSSessionToken string
	// RoleARN is a role to assume through STS, with the static credentials if given, else
	// with the default chain. RoleExternalID and RoleSessionName are optional.
	RoleARN         string
	RoleExternalID  string
	RoleSessionName string

	// AWSConfig, if set, is the base configuration instead of config.LoadDefaultConfig (Go
	// callers only). Region, Endpoint and the credential options still apply on top.
	AWSConfig *aws.Config
	// Client, if set, is used for every call instead of a client the sink builds (Go callers
	// only). Region, Endpoint, AWSConfig and the credential options must then be empty. Such
	// a client keeps its own retryer; the sink's retries come after it.
	Client API
}

// DefaultOptions returns the defaults; set StreamName or StreamARN before use.
func DefaultOptions() Options {
	return Options{
		MaxInFlightRequests: DefaultMaxInFlightRequests,
		MaxAttempts:         DefaultMaxAttempts,
		MinRetryDelay:       DefaultMinRetryDelay,
		MaxRetryDelay:       DefaultMaxRetryDelay,
		AggregationMaxSize:  DefaultAggregationMaxSize,
	}
}

// auth describes the sink to awsauth.
var auth = awsauth.Component{
	RegionDoc:       "The stream's region.",
	EndpointDoc:     "The Kinesis endpoint, e.g. https://kinesis.us-east-1.amazonaws.com.",
	EndpointExample: "https://kinesis.us-east-1.amazonaws.com",
	RoleSessionName: "sluice-kinesis-sink",
}

// awsFields points at the AWS connection options, for awsauth.
func (o *Options) awsFields() awsauth.Fields {
	return awsauth.Fields{Region: &o.Region, Endpoint: &o.Endpoint,
		AWSAccessKey: &o.AWSAccessKey, AWSSecretKey: &o.AWSSecretKey, AWSSessionToken: &o.AWSSessionToken,
		RoleARN: &o.RoleARN, RoleExternalID: &o.RoleExternalID, RoleSessionName: &o.RoleSessionName,
		AWSConfig: &o.AWSConfig}
}

// awsSpecs declares the region, endpoint and credential options.
var awsSpecs = awsauth.Specs(auth, (*Options).awsFields)

// Spec declares the "kinesis" sink format's options. The stream and authentication options
// are those of the Kinesis source.
var Spec = &optspec.Spec[Options]{Component: component, Options: slices.Concat([]optspec.Option[Options]{
	{Key: "streamName", Type: "string", Doc: "Name of the stream to write. Required unless streamARN is given.",
		Set: func(o *Options, v string) error {
			v = strings.TrimSpace(v)
			if !kinesisstream.ValidName(v) {
				return errors.New("must be 1 to 128 characters of a-z, A-Z, 0-9, '_', '.' and '-'")
			}
			o.StreamName = v
			return nil
		}},
	{Key: "streamARN", Type: "string", Doc: "ARN of the stream to write, instead of streamName.",
		Set: func(o *Options, v string) error {
			v = strings.TrimSpace(v)
			if !validARN(v) {
				return errors.New("must be a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)")
			}
			o.StreamARN = v
			return nil
		}},
	awsSpecs.Region,
	awsSpecs.Endpoint,
	optspec.Int("maxInFlightRequests", "4", "PutRecords calls outstanding at once.", 1, 256,
		func(o *Options) *int64 { return &o.MaxInFlightRequests }),
	optspec.Int("maxAttempts", "10", "Tries per record (throttled or failed entries are retried alone) before the micro-batch fails and is replayed.", 1, 1000,
		func(o *Options) *int64 { return &o.MaxAttempts }),
	optspec.Duration("minRetryDelay", "100ms", "Backoff before the first retry; it doubles per try, with full jitter.", time.Millisecond, time.Hour,
		func(o *Options) *time.Duration { return &o.MinRetryDelay }),
	optspec.Duration("maxRetryDelay", "5s", "Longest backoff between tries.", time.Millisecond, time.Hour,
		func(o *Options) *time.Duration { return &o.MaxRetryDelay }),
	optspec.Bool("aggregationEnabled", "false", "Pack rows of the same shard into KPL aggregated records.",
		func(o *Options) *bool { return &o.AggregationEnabled }),
	optspec.Bytes("aggregationMaxSize", "51200", "Largest aggregated record in bytes (data plus partition key), at most 1mb.", 1024, MaxRecordSize,
		func(o *Options) *int64 { return &o.AggregationMaxSize }),
}, awsSpecs.Credentials)}

// arnParts returns the region and stream name of a valid stream ARN.
func arnParts(a string) (region, name string) {
	region, name, _ = kinesisstream.ParseARN(a)
	return region, name
}

func validARN(a string) bool {
	_, _, ok := kinesisstream.ParseARN(a)
	return ok
}

// region returns the configured region, or the region of the stream ARN.
func (o *Options) region() string {
	if o.Region != "" {
		return o.Region
	}
	r, _ := arnParts(o.StreamARN)
	return r
}

// streamLabel names the stream in descriptions and errors.
func (o *Options) streamLabel() string {
	if o.StreamName != "" {
		return o.StreamName
	}
	_, n := arnParts(o.StreamARN)
	return n
}

// Validate checks the options and reports every problem at once, each an *optspec.Error
// naming the option. Secrets are never quoted.
func (o Options) Validate() error {
	awsOpts := o.awsFields().Options()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &optspec.Error{Component: component, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case o.StreamName == "" && o.StreamARN == "":
		bad("streamName", "required option is missing (or give streamARN)")
	case o.StreamName != "" && o.StreamARN != "":
		bad("streamARN", "give streamName or streamARN, not both")
	}
	if o.StreamName != "" && !kinesisstream.ValidName(o.StreamName) {
		bad("streamName", "%q is not a valid stream name: 1 to 128 characters of a-z, A-Z, 0-9, '_', '.' and '-'", o.StreamName)
	}
	if o.StreamARN != "" {
		if !validARN(o.StreamARN) {
			bad("streamARN", "%q is not a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)", o.StreamARN)
		} else if r, _ := arnParts(o.StreamARN); o.Region != "" && r != o.Region {
			bad("region", "%q differs from the region %q of the stream ARN", o.Region, r)
		}
	}
	if o.MaxInFlightRequests < 1 || o.MaxInFlightRequests > 256 {
		bad("maxInFlightRequests", "must be between 1 and 256, got %d", o.MaxInFlightRequests)
	}
	if o.MaxAttempts < 1 || o.MaxAttempts > 1000 {
		bad("maxAttempts", "must be between 1 and 1000, got %d", o.MaxAttempts)
	}
	if o.MinRetryDelay <= 0 {
		bad("minRetryDelay", "must be positive, got %s", o.MinRetryDelay)
	}
	if o.MaxRetryDelay < o.MinRetryDelay {
		bad("maxRetryDelay", "must be at least minRetryDelay (%s), got %s", o.MinRetryDelay, o.MaxRetryDelay)
	}
	if o.AggregationMaxSize < 1024 || o.AggregationMaxSize > MaxRecordSize {
		bad("aggregationMaxSize", "must be between 1024 and %d bytes, got %d", MaxRecordSize, o.AggregationMaxSize)
	}
	errs = append(errs, auth.Validate(component, awsOpts)...)
	if o.Client != nil {
		if given := awsOpts.Given(); len(given) > 0 {
			errs = append(errs, &optspec.Error{Component: component, Msg: fmt.Sprintf("Client is given, so %s would be ignored: configure the client instead", strings.Join(given, ", "))})
		}
	}
	return errors.Join(errs...)
}

// aggregatorOptions returns the KPL aggregator's options.
func (o *Options) aggregatorOptions() kpl.Options {
	return kpl.Options{MaxRecordSize: int(min(o.AggregationMaxSize, MaxRecordSize))}
}
