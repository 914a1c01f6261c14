package kinesis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedev/sluice/internal/kinesisstream"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sluicedev/sluice/internal/awsauth"
	"github.com/sluicedev/sluice/internal/javatime"
	"github.com/sluicedev/sluice/optspec"
)

// component names the source in option errors.
const component = "kinesis source"

// MiB is the unit of Options.MaxFetchRate: Kinesis' "MB" in its per-shard limits is a
// mebibyte.
const MiB = 1 << 20

// Defaults of the options, as in the reference connector.
const (
	DefaultMaxRecordsPerFetch         = 10000
	DefaultMaxFetchRate               = 1.0 // MiB/s per shard
	DefaultMinFetchPeriod             = 400 * time.Millisecond
	DefaultMaxFetchDuration           = 10 * time.Second
	DefaultFetchBufferSize            = 20 << 30 // 20gb
	DefaultShardsPerTask              = 5
	DefaultShardFetchInterval         = time.Second
	DefaultCoalesceThresholdBlockSize = 10_000_000
	DefaultCoalesceBinSize            = 128_000_000
)

// Limits of the options.
const (
	// MaxFetchRateLimit is the largest MaxFetchRate: Kinesis serves 2 MiB/s per shard.
	MaxFetchRateLimit = 2.0
	// MinFetchPeriodLimit is the smallest MinFetchPeriod: Kinesis allows 5 GetRecords calls per
	// second per shard.
	MinFetchPeriodLimit = 200 * time.Millisecond
	// maxRecordsPerFetchLimit is the most records one GetRecords call may ask for.
	maxRecordsPerFetchLimit = 10000
)

// PositionKind says where a query with an empty checkpoint starts reading.
type PositionKind string

// The initial positions.
const (
	// Latest starts with the records that arrive after the query started: the source resolves
	// it to an AtTimestamp position at the moment InitialOffset runs (see the package
	// documentation).
	Latest PositionKind = "latest"
	// TrimHorizon starts with the oldest record the stream still holds. The option value
	// "earliest" is an alias.
	TrimHorizon PositionKind = "trim_horizon"
	// AtTimestamp starts with the first record that arrived at or after a point in time.
	AtTimestamp PositionKind = "at_timestamp"
)

// InitialPosition is where a query with an empty checkpoint starts reading. The zero value is
// Latest.
type InitialPosition struct {
	// Kind is Latest, TrimHorizon or AtTimestamp; "" means Latest.
	Kind PositionKind
	// Timestamp is the time of an AtTimestamp position (millisecond precision, as Kinesis
	// keeps arrival times).
	Timestamp time.Time
}

// String returns the position as the initialPosition option would spell it.
func (p InitialPosition) String() string {
	switch p.Kind {
	case "", Latest:
		return string(Latest)
	case AtTimestamp:
		return `{"at_timestamp": "` + p.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z07:00") + `"}`
	}
	return string(p.Kind)
}

// atTimestampExample is the form of an at_timestamp position, quoted in error messages.
const atTimestampExample = `{"at_timestamp": "06/25/2020 10:23:45 PDT", "format": "MM/dd/yyyy HH:mm:ss ZZZ"}`

// ParseInitialPosition parses the initialPosition option: latest, trim_horizon, earliest (an
// alias of trim_horizon), or a JSON object {"at_timestamp": TIME, "format": PATTERN} in which
// PATTERN is a Java date pattern (see internal/javatime) and may be left out, in which case
// TIME is read in the Java default format, ISO-8601 or epoch milliseconds. Names are
// case-insensitive.
func ParseInitialPosition(s string) (InitialPosition, error) {
	v := strings.TrimSpace(s)
	switch strings.ToLower(v) {
	case string(Latest):
		return InitialPosition{Kind: Latest}, nil
	case string(TrimHorizon), "earliest":
		return InitialPosition{Kind: TrimHorizon}, nil
	case string(AtTimestamp):
		return InitialPosition{}, fmt.Errorf("at_timestamp needs a time, given as JSON such as %s", atTimestampExample)
	}
	if !strings.HasPrefix(v, "{") {
		return InitialPosition{}, fmt.Errorf("must be latest, trim_horizon, earliest or JSON such as %s", atTimestampExample)
	}
	var in struct {
		AtTimestamp json.RawMessage `json:"at_timestamp"`
		Format      *string         `json:"format"`
	}
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return InitialPosition{}, fmt.Errorf("invalid JSON (%v); expected an object such as %s", jsonProblem(err), atTimestampExample)
	}
	if dec.More() {
		return InitialPosition{}, fmt.Errorf("unexpected text after the JSON object; expected an object such as %s", atTimestampExample)
	}
	raw := bytes.TrimSpace(in.AtTimestamp)
	if len(raw) == 0 || string(raw) == "null" {
		return InitialPosition{}, fmt.Errorf(`the JSON object has no "at_timestamp"; expected an object such as %s`, atTimestampExample)
	}
	var value string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &value); err != nil {
			return InitialPosition{}, fmt.Errorf(`"at_timestamp" is not a valid JSON string`)
		}
	} else if _, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		value = string(raw) // epoch milliseconds given as a JSON number
	} else {
		return InitialPosition{}, fmt.Errorf(`"at_timestamp" must be a string or epoch milliseconds, got %s`, raw)
	}
	var (
		t   time.Time
		err error
	)
	if in.Format != nil {
		if strings.TrimSpace(*in.Format) == "" {
			return InitialPosition{}, errors.New(`"format" must not be empty (leave it out for the default format)`)
		}
		t, err = javatime.Parse(*in.Format, value)
	} else {
		t, err = javatime.ParseDefault(value)
	}
	if err != nil {
		return InitialPosition{}, err
	}
	if t.Before(time.UnixMilli(1)) {
		return InitialPosition{}, fmt.Errorf("at_timestamp %s is before 1970", t.UTC().Format(time.RFC3339))
	}
	return InitialPosition{Kind: AtTimestamp, Timestamp: t.Truncate(time.Millisecond).UTC()}, nil
}

// jsonProblem shortens a JSON decoding error.
func jsonProblem(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

// DataFormat says how the query reads each record's data: see Options.Format.
type DataFormat string

// The data formats.
const (
	// FormatRaw keeps each record's data as bytes in the data column (the reference connector's
	// schema, see Schema).
	FormatRaw DataFormat = "raw"
	// FormatJSON decodes each record's data as one JSON object into typed columns: the JSON
	// fields, then partitionKey, stream, shardId, sequenceNumber and
	// approximateArrivalTimestamp.
	FormatJSON DataFormat = "json"
)

// DefaultInferSchemaSampleSize is how many records inferSchema reads by default.
const DefaultInferSchemaSampleSize = 1000

// maxInferSchemaSampleSize bounds inferSchemaSampleSize: the sample is held in memory.
const maxInferSchemaSampleSize = 1_000_000

// ConsumerMode selects how the source reads: polling with GetRecords, or enhanced fan-out.
type ConsumerMode string

// The consumer modes.
const (
	// Polling reads with GetRecords, sharing each shard's 2 MiB/s with other consumers.
	Polling ConsumerMode = "polling"
	// EFO (enhanced fan-out) would read with SubscribeToShard; it is not supported yet.
	EFO ConsumerMode = "efo"
)

// Options configures the Kinesis source. Build them with DefaultOptions and set fields, or
// let the "kinesis" format parse Spark-style options (see Spec). Validate reports every
// problem at once.
type Options struct {
	// StreamNames are the streams to read (option streamName, comma-separated). Give
	// StreamNames or StreamARNs.
	StreamNames []string
	// StreamARNs are the streams to read, by ARN (option streamARN, comma-separated). Calls
	// then address streams by ARN; the stream column still holds the stream's name.
	StreamARNs []string
	// Region is the streams' region. Empty: the region of the stream ARNs, else the SDK's
	// resolution (AWS_REGION, the shared config file, ...).
	Region string
	// Endpoint overrides the Kinesis endpoint, e.g. http://localhost:4567.
	Endpoint string
	// InitialPosition is where a query with an empty checkpoint starts.
	InitialPosition InitialPosition
	// MaxRecordsPerFetch is the Limit of each GetRecords call (KPL aggregation may make a call
	// return more user records).
	MaxRecordsPerFetch int64
	// MaxFetchRate bounds the prefetch rate per shard, in MiB/s (at most 2.0).
	MaxFetchRate float64
	// MinFetchPeriod is the least time between two GetRecords calls on one shard (at least
	// 200ms: Kinesis allows 5 calls per second per shard).
	MinFetchPeriod time.Duration
	// MaxFetchDuration is how long prefetched data is buffered before it is made available
	// to a micro-batch.
	MaxFetchDuration time.Duration
	// FetchBufferSize is how many bytes of prefetched data may wait for the next micro-batches;
	// prefetching pauses above it. It is a stopping condition, not a strict bound.
	FetchBufferSize int64
	// ShardsPerTask is how many shards one prefetching goroutine reads.
	ShardsPerTask int64
	// ShardFetchInterval is how often the source lists the shards to see resharding.
	ShardFetchInterval time.Duration
	// CoalesceThresholdBlockSize: when the average prefetched block of a micro-batch is
	// smaller than this many bytes, blocks are merged toward CoalesceBinSize.
	CoalesceThresholdBlockSize int64
	// CoalesceBinSize is the approximate size in bytes of a block after merging.
	CoalesceBinSize int64
	// ConsumerMode is Polling (EFO is not supported yet).
	ConsumerMode ConsumerMode
	// RequireConsumerDeregistration would deregister an EFO consumer when the query stops;
	// ignored in polling mode.
	RequireConsumerDeregistration bool

	// Format says how each record's data is read: FormatRaw (the default) keeps the bytes;
	// FormatJSON has the query decode them as one JSON object per record into typed columns,
	// with JSONSchema, the schema given with DataStreamReader.Schema, or the inferred one (see
	// InferSchema and the package documentation). Source.Read itself always emits Schema.
	Format DataFormat
	// JSONSchema is the schema of the JSON documents (Go callers; ReadStream callers give it
	// with DataStreamReader.Schema). Only with FormatJSON.
	JSONSchema *arrow.Schema
	// InferSchema infers the JSON documents' schema from a sample of the records when none is
	// given (only with FormatJSON). The query keeps it in its checkpoint and uses it again when
	// restarted.
	InferSchema bool
	// InferSchemaSampleSize is how many records InferSchema reads, across shards, from where
	// the query starts; 0 means DefaultInferSchemaSampleSize.
	InferSchemaSampleSize int64

	// AWSAccessKey is the access key ID of static credentials. Without static credentials
	// the source uses the SDK's default credential chain. Secret: never printed.
	AWSAccessKey string
	// AWSSecretKey is the secret access key of AWSAccessKey. Secret: never printed.
	AWSSecretKey string
	// AWSSessionToken is the session token of temporary static credentials. Secret: never
	// printed.
	AWSSessionToken string
	// RoleARN is a role to assume through STS, with the static credentials if given, else
	// with the default chain.
	RoleARN string
	// RoleExternalID is the external ID to pass when assuming RoleARN (optional). Never
	// printed.
	RoleExternalID string
	// RoleSessionName is the session name when assuming RoleARN (default
	// "sluice-kinesis-source").
	RoleSessionName string

	// AWSConfig, if set, is the base configuration instead of config.LoadDefaultConfig
	// (Go callers only). Region, Endpoint and the credential options still apply on top.
	AWSConfig *aws.Config
	// Client, if set, is used for every call instead of a client the source builds (Go
	// callers only). Region, Endpoint, AWSConfig and the credential options must then be
	// empty. Such a client keeps its own retryer; the source's retries come after it.
	Client API
}

// DefaultOptions returns the defaults; set StreamNames or StreamARNs before use.
func DefaultOptions() Options {
	return Options{
		InitialPosition:            InitialPosition{Kind: Latest},
		MaxRecordsPerFetch:         DefaultMaxRecordsPerFetch,
		MaxFetchRate:               DefaultMaxFetchRate,
		MinFetchPeriod:             DefaultMinFetchPeriod,
		MaxFetchDuration:           DefaultMaxFetchDuration,
		FetchBufferSize:            DefaultFetchBufferSize,
		ShardsPerTask:              DefaultShardsPerTask,
		ShardFetchInterval:         DefaultShardFetchInterval,
		CoalesceThresholdBlockSize: DefaultCoalesceThresholdBlockSize,
		CoalesceBinSize:            DefaultCoalesceBinSize,
		ConsumerMode:               Polling,
		Format:                     FormatRaw,
		InferSchemaSampleSize:      DefaultInferSchemaSampleSize,
	}
}

var ()

// splitList splits a comma-separated option into trimmed entries.
func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		out = append(out, strings.TrimSpace(p))
	}
	return out
}

// checkList checks the entries of a comma-separated list: none empty, each valid, no
// duplicates.
func checkList(list []string, what string, valid func(string) error) error {
	seen := map[string]bool{}
	for _, n := range list {
		if n == "" {
			return fmt.Errorf("must be a comma-separated list of %ss without empty entries", what)
		}
		if err := valid(n); err != nil {
			return err
		}
		if seen[n] {
			return fmt.Errorf("%s %q is listed twice", what, n)
		}
		seen[n] = true
	}
	return nil
}

func validStreamName(n string) error {
	if !kinesisstream.ValidName(n) {
		return fmt.Errorf("stream name %s is not valid: 1 to 128 characters of a-z, A-Z, 0-9, '_', '.' and '-'", short(n))
	}
	return nil
}

// short quotes s, shortened when it is long.
func short(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:37]) + "..."
	}
	return strconv.Quote(s)
}

func validStreamARN(a string) error {
	if _, _, ok := kinesisstream.ParseARN(a); !ok {
		return fmt.Errorf("%q is not a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)", a)
	}
	return nil
}

// arnParts returns the region and the stream name of a valid stream ARN.
func arnParts(a string) (region, name string) {
	region, name, _ = kinesisstream.ParseARN(a)
	return region, name
}

// auth describes the source to awsauth.
var auth = awsauth.Component{
	RegionDoc:       "The streams' region.",
	EndpointDoc:     "The Kinesis endpoint, e.g. https://kinesis.us-east-1.amazonaws.com.",
	EndpointExample: "https://kinesis.us-east-1.amazonaws.com",
	RoleSessionName: "sluice-kinesis-source",
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

// Spec declares the "kinesis" format's options: their names, defaults and meaning follow the
// reference connector.
var Spec = &optspec.Spec[Options]{Component: component, Options: slices.Concat([]optspec.Option[Options]{
	{Key: "streamName", Type: "string list", Doc: "Comma-separated names of the streams to read; rows tell them apart by the stream column. Required unless streamARN is given.",
		Set: func(o *Options, v string) error {
			l := splitList(v)
			if err := checkList(l, "stream name", validStreamName); err != nil {
				return err
			}
			o.StreamNames = l
			return nil
		}},
	{Key: "streamARN", Type: "string list", Doc: "Comma-separated ARNs of the streams to read, instead of streamName.",
		Set: func(o *Options, v string) error {
			l := splitList(v)
			if err := checkList(l, "stream ARN", validStreamARN); err != nil {
				return err
			}
			o.StreamARNs = l
			return nil
		}},
	awsSpecs.Region,
	awsSpecs.Endpoint,
	{Key: "initialPosition", Type: "latest \\| trim_horizon \\| earliest \\| at_timestamp JSON", Default: "latest",
		Doc: `Where a query with an empty checkpoint starts: latest, trim_horizon (alias earliest), or {"at_timestamp": "06/25/2020 10:23:45 PDT", "format": "MM/dd/yyyy HH:mm:ss ZZZ"} (format optional: the Java default format).`,
		Set: func(o *Options, v string) error {
			p, err := ParseInitialPosition(v)
			if err != nil {
				return err
			}
			o.InitialPosition = p
			return nil
		}},
	optspec.Int("maxRecordsPerFetch", "10000", "Records asked for per GetRecords call; KPL aggregation may yield more user records.", 1, maxRecordsPerFetchLimit, func(o *Options) *int64 { return &o.MaxRecordsPerFetch }),
	{Key: "maxFetchRate", Type: "decimal (MiB/s)", Default: "1.0", Doc: "Prefetch rate per shard in MiB/s, at most 2.0 (the Kinesis limit).",
		Set: func(o *Options, v string) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return errors.New("must be a decimal number of MiB/s")
			}
			if f <= 0 || f > MaxFetchRateLimit {
				return errors.New("must be greater than 0 and at most 2.0 (the Kinesis read limit per shard)")
			}
			o.MaxFetchRate = f
			return nil
		}},
	duration("minFetchPeriod", "400ms", "Least time between GetRecords calls on a shard; at least 200ms (Kinesis allows 5 calls/s per shard).", MinFetchPeriodLimit,
		"at least 200ms (Kinesis allows 5 GetRecords calls per second per shard)", func(o *Options) *time.Duration { return &o.MinFetchPeriod }),
	duration("maxFetchDuration", "10s", "How long prefetched data is buffered before it is made available to a micro-batch.", time.Millisecond,
		"at least 1ms", func(o *Options) *time.Duration { return &o.MaxFetchDuration }),
	{Key: "fetchBufferSize", Type: "byte string", Default: "20gb", Doc: "Prefetched bytes that may wait for the next micro-batches; prefetching pauses above it (a stopping condition, not a strict bound).",
		Set: func(o *Options, v string) error {
			n, err := optspec.ParseBytes(v)
			if err != nil {
				return err
			}
			if n <= 0 {
				return errors.New("must be a positive byte size such as 512mb or 20gb")
			}
			o.FetchBufferSize = n
			return nil
		}},
	optspec.Int("shardsPerTask", "5", "Shards one prefetching task (goroutine) reads.", 1, 10000, func(o *Options) *int64 { return &o.ShardsPerTask }),
	duration("shardFetchInterval", "1s", "How often the shards are listed to see resharding.", 10*time.Millisecond,
		"at least 10ms", func(o *Options) *time.Duration { return &o.ShardFetchInterval }),
	optspec.Int("coalesceThresholdBlockSize", "10000000", "When a micro-batch's prefetched blocks average fewer bytes than this, they are merged toward coalesceBinSize.", 1, math.MaxInt64, func(o *Options) *int64 { return &o.CoalesceThresholdBlockSize }),
	optspec.Int("coalesceBinSize", "128000000", "Approximate bytes of a block after merging.", 1, math.MaxInt64, func(o *Options) *int64 { return &o.CoalesceBinSize }),
	{Key: "consumerMode", Type: "polling \\| efo", Default: "polling", Doc: "polling reads with GetRecords; efo (enhanced fan-out) is not supported yet.",
		Set: func(o *Options, v string) error {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case string(Polling):
				o.ConsumerMode = Polling
			case string(EFO):
				o.ConsumerMode = EFO // Validate reports it as not supported yet
			default:
				return errors.New("must be polling or efo")
			}
			return nil
		}},
	optspec.Bool("requireConsumerDeregistration", "false", "Deregister the enhanced fan-out consumer when the query stops (efo only).", func(o *Options) *bool { return &o.RequireConsumerDeregistration }),
	{Key: "format", Type: "raw \\| json", Default: "raw",
		Doc: "How each record's data is read: raw keeps the bytes in the data column; json decodes it as one JSON object into typed columns (the JSON fields, then partitionKey, stream, shardId, sequenceNumber, approximateArrivalTimestamp), with the schema given with DataStreamReader.Schema or inferred (inferSchema). Malformed JSON follows the query's error policy.",
		Set: func(o *Options, v string) error {
			switch f := DataFormat(strings.ToLower(strings.TrimSpace(v))); f {
			case FormatRaw, FormatJSON:
				o.Format = f
			default:
				return errors.New("must be raw or json")
			}
			return nil
		}},
	optspec.Bool("inferSchema", "false", "With format=json and no schema given, infer the JSON schema from the first inferSchemaSampleSize records from where the query starts, as Spark infers JSON types; it is kept in the checkpoint and used again on restart.", func(o *Options) *bool { return &o.InferSchema }),
	optspec.Int("inferSchemaSampleSize", "1000", "Records read, across shards, to infer the JSON schema (inferSchema).", 1, maxInferSchemaSampleSize, func(o *Options) *int64 { return &o.InferSchemaSampleSize }),
}, awsSpecs.Credentials)}

// duration declares a duration option of at least lo.
func duration(key, def, doc string, lo time.Duration, atLeast string, field func(*Options) *time.Duration) optspec.Option[Options] {
	return optspec.Option[Options]{Key: key, Type: "duration", Default: def, Doc: doc, Set: func(o *Options, v string) error {
		d, err := optspec.ParseDuration(v)
		if err != nil {
			return err
		}
		if d < lo {
			return errors.New("must be " + atLeast)
		}
		*field(o) = d
		return nil
	}}
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
	case len(o.StreamNames) == 0 && len(o.StreamARNs) == 0:
		bad("streamName", "required option is missing (or give streamARN)")
	case len(o.StreamNames) > 0 && len(o.StreamARNs) > 0:
		bad("streamARN", "give streamName or streamARN, not both")
	}
	if len(o.StreamNames) > 0 {
		if err := checkList(o.StreamNames, "stream name", validStreamName); err != nil {
			bad("streamName", "%v", err)
		}
	}
	if len(o.StreamARNs) > 0 {
		if err := checkList(o.StreamARNs, "stream ARN", validStreamARN); err != nil {
			bad("streamARN", "%v", err)
		} else {
			names := map[string]string{}
			for _, a := range o.StreamARNs {
				r, n := arnParts(a)
				if o.Region != "" && r != o.Region {
					bad("region", "%q differs from the region %q of stream ARN %q", o.Region, r, a)
				}
				if prev, dup := names[n]; dup {
					bad("streamARN", "stream ARNs %q and %q name the same stream %q; rows could not be told apart", prev, a, n)
				}
				names[n] = a
			}
			for i := 1; i < len(o.StreamARNs); i++ {
				if r, _ := arnParts(o.StreamARNs[i]); o.Region == "" {
					if r0, _ := arnParts(o.StreamARNs[0]); r != r0 {
						bad("streamARN", "the streams are in several regions (%s, %s); one source reads one region", r0, r)
						break
					}
				}
			}
		}
	}
	switch o.InitialPosition.Kind {
	case "", Latest, TrimHorizon:
	case AtTimestamp:
		if o.InitialPosition.Timestamp.Before(time.UnixMilli(1)) {
			bad("initialPosition", "at_timestamp needs a time after 1970")
		}
	default:
		bad("initialPosition", "unknown kind %q: must be latest, trim_horizon or at_timestamp", o.InitialPosition.Kind)
	}
	if o.MaxRecordsPerFetch < 1 || o.MaxRecordsPerFetch > maxRecordsPerFetchLimit {
		bad("maxRecordsPerFetch", "must be between 1 and %d, got %d", maxRecordsPerFetchLimit, o.MaxRecordsPerFetch)
	}
	if !(o.MaxFetchRate > 0 && o.MaxFetchRate <= MaxFetchRateLimit) {
		bad("maxFetchRate", "must be greater than 0 and at most 2.0 (the Kinesis read limit per shard), got %v", o.MaxFetchRate)
	}
	if o.MinFetchPeriod < MinFetchPeriodLimit {
		bad("minFetchPeriod", "must be at least %s (Kinesis allows 5 GetRecords calls per second per shard), got %s", MinFetchPeriodLimit, o.MinFetchPeriod)
	}
	if o.MaxFetchDuration <= 0 {
		bad("maxFetchDuration", "must be positive, got %s", o.MaxFetchDuration)
	}
	if o.FetchBufferSize <= 0 {
		bad("fetchBufferSize", "must be positive, got %d", o.FetchBufferSize)
	}
	if o.ShardsPerTask < 1 {
		bad("shardsPerTask", "must be at least 1, got %d", o.ShardsPerTask)
	}
	if o.ShardFetchInterval <= 0 {
		bad("shardFetchInterval", "must be positive, got %s", o.ShardFetchInterval)
	}
	if o.CoalesceThresholdBlockSize < 1 {
		bad("coalesceThresholdBlockSize", "must be at least 1, got %d", o.CoalesceThresholdBlockSize)
	}
	if o.CoalesceBinSize < 1 {
		bad("coalesceBinSize", "must be at least 1, got %d", o.CoalesceBinSize)
	}
	switch o.ConsumerMode {
	case "", Polling:
	case EFO:
		bad("consumerMode", `"efo" (enhanced fan-out) is not supported yet; use "polling"`)
	default:
		bad("consumerMode", "must be polling or efo, got %q", o.ConsumerMode)
	}
	switch o.Format {
	case "", FormatRaw:
		if o.InferSchema {
			bad("inferSchema", "needs format=json (with format raw, data is kept as bytes)")
		}
		if o.JSONSchema != nil {
			bad("format", "a JSON schema is given (JSONSchema), but format is raw: set format=json")
		}
	case FormatJSON:
		if o.JSONSchema != nil && o.JSONSchema.NumFields() == 0 {
			bad("format", "the JSON schema (JSONSchema) has no fields")
		}
	default:
		bad("format", "must be raw or json, got %q", o.Format)
	}
	if o.InferSchemaSampleSize < 0 || o.InferSchemaSampleSize > maxInferSchemaSampleSize {
		bad("inferSchemaSampleSize", "must be between 1 and %d, got %d", maxInferSchemaSampleSize, o.InferSchemaSampleSize)
	}
	errs = append(errs, auth.Validate(component, awsOpts)...)
	if o.Client != nil {
		if given := awsOpts.Given(); len(given) > 0 {
			errs = append(errs, &optspec.Error{Component: component, Msg: fmt.Sprintf("Client is given, so %s would be ignored: configure the client instead", strings.Join(given, ", "))})
		}
	}
	return errors.Join(errs...)
}

// withoutKeysOf returns the problems of verr about options that perr does not already report:
// an option whose value did not parse is not reported again as missing or inconsistent.
func withoutKeysOf(verr, perr error) error {
	if verr == nil || perr == nil {
		return verr
	}
	bad := map[string]bool{}
	for _, e := range unjoin(perr) {
		var oe *optspec.Error
		if errors.As(e, &oe) {
			bad[oe.Key] = true
		}
	}
	if bad["streamName"] || bad["streamARN"] {
		bad["streamName"], bad["streamARN"] = true, true
	}
	if bad["format"] {
		bad["inferSchema"] = true // "needs format=json" would only repeat it
	}
	var keep []error
	for _, e := range unjoin(verr) {
		var oe *optspec.Error
		if errors.As(e, &oe) && bad[oe.Key] {
			continue
		}
		keep = append(keep, e)
	}
	return errors.Join(keep...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// RedactOptions implements sources.OptionRedactor: the values of awsAccessKey, awsSecretKey,
// awsSessionToken and roleExternalId (and of unknown keys that look like credentials) are
// replaced.
func (s *Source) RedactOptions(kv map[string]string) map[string]string { return Spec.Redact(kv) }
