package kinesis

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicedev/sluice/internal/golden"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/optspec"
	"github.com/sluicedev/sluice/sources"
)

// factory builds a source through the registry, as ReadStream().Format("kinesis") does.
func factory(t *testing.T, kv map[string]string) (sources.Source, error) {
	t.Helper()
	f, err := sources.Default.Lookup("kinesis")
	if err != nil {
		t.Fatal(err)
	}
	return f(kv)
}

// TestOptionErrors checks the message of every kind of bad option value (golden file).
func TestOptionErrors(t *testing.T) {
	const stream = "streamName=orders"
	tests := []struct {
		name string
		opts string // key=value pairs separated by ";"
	}{
		{"no stream", "region=us-east-1"},
		{"empty stream name", "streamName="},
		{"empty list entry", "streamName=a,,b"},
		{"bad stream name", "streamName=a b"},
		{"duplicate stream", "streamName=a,b,a"},
		{"stream name too long", "streamName=" + strings.Repeat("x", 129)},
		{"name and ARN", stream + ";streamARN=arn:aws:kinesis:us-east-1:123456789012:stream/orders"},
		{"bad ARN", "streamARN=arn:aws:s3:::bucket"},
		{"ARN region differs", "region=eu-west-1;streamARN=arn:aws:kinesis:us-east-1:123456789012:stream/orders"},
		{"ARNs in two regions", "streamARN=arn:aws:kinesis:us-east-1:123456789012:stream/a,arn:aws:kinesis:eu-west-1:123456789012:stream/b"},
		{"ARNs of one name", "streamARN=arn:aws:kinesis:us-east-1:123456789012:stream/a,arn:aws:kinesis:us-east-1:210987654321:stream/a"},
		{"bad region", stream + ";region=US East"},
		{"bad endpoint", stream + ";endpoint=localhost:4567"},
		{"endpoint with user", stream + ";endpoint=https://user:pw@example.com"},
		{"bad initialPosition", stream + ";initialPosition=oldest"},
		{"at_timestamp without time", stream + ";initialPosition=at_timestamp"},
		{"at_timestamp bad JSON", stream + `;initialPosition={"at_timestamp": }`},
		{"at_timestamp unknown field", stream + `;initialPosition={"at_timestamp": "06/25/2020 10:23:45 PDT", "fmt": "x"}`},
		{"at_timestamp missing", stream + `;initialPosition={"format": "MM/dd/yyyy"}`},
		{"at_timestamp wrong value", stream + `;initialPosition={"at_timestamp": "06/25/2020 10:23", "format": "MM/dd/yyyy HH:mm:ss ZZZ"}`},
		{"at_timestamp bad pattern", stream + `;initialPosition={"at_timestamp": "2020-06-25 T 10:23", "format": "yyyy-MM-dd T HH:mm"}`},
		{"at_timestamp default format", stream + `;initialPosition={"at_timestamp": "yesterday"}`},
		{"at_timestamp empty format", stream + `;initialPosition={"at_timestamp": "06/25/2020 10:23:45 PDT", "format": ""}`},
		{"at_timestamp not a string", stream + `;initialPosition={"at_timestamp": true}`},
		{"at_timestamp before 1970", stream + `;initialPosition={"at_timestamp": "1969-12-31T23:59:59Z"}`},
		{"at_timestamp trailing", stream + `;initialPosition={"at_timestamp": "1593105825000"} x`},
		{"maxRecordsPerFetch zero", stream + ";maxRecordsPerFetch=0"},
		{"maxRecordsPerFetch too big", stream + ";maxRecordsPerFetch=10001"},
		{"maxRecordsPerFetch text", stream + ";maxRecordsPerFetch=many"},
		{"maxFetchRate too high", stream + ";maxFetchRate=2.5"},
		{"maxFetchRate zero", stream + ";maxFetchRate=0"},
		{"maxFetchRate text", stream + ";maxFetchRate=fast"},
		{"maxFetchRate NaN", stream + ";maxFetchRate=NaN"},
		{"minFetchPeriod too short", stream + ";minFetchPeriod=100ms"},
		{"minFetchPeriod text", stream + ";minFetchPeriod=soon"},
		{"maxFetchDuration zero", stream + ";maxFetchDuration=0"},
		{"maxFetchDuration negative", stream + ";maxFetchDuration=-1s"},
		{"fetchBufferSize unit", stream + ";fetchBufferSize=20 parsecs"},
		{"fetchBufferSize zero", stream + ";fetchBufferSize=0"},
		{"shardsPerTask zero", stream + ";shardsPerTask=0"},
		{"shardFetchInterval zero", stream + ";shardFetchInterval=0s"},
		{"coalesceThresholdBlockSize zero", stream + ";coalesceThresholdBlockSize=0"},
		{"coalesceBinSize text", stream + ";coalesceBinSize=big"},
		{"consumerMode efo", stream + ";consumerMode=efo"},
		{"consumerMode unknown", stream + ";consumerMode=push"},
		{"requireConsumerDeregistration", stream + ";requireConsumerDeregistration=yes"},
		{"secret without key", stream + ";awsSecretKey=wJalrXUtnFEMI/K7MDENG"},
		{"key without secret", stream + ";awsAccessKey=AKIAIOSFODNN7EXAMPLE"},
		{"empty secret", stream + ";awsAccessKey=AKIAIOSFODNN7EXAMPLE;awsSecretKey="},
		{"token without keys", stream + ";awsSessionToken=FwoGZXIvYXdzEJr"},
		{"bad roleArn", stream + ";roleArn=admin"},
		{"externalId without role", stream + ";roleExternalId=s3cr3t-external"},
		{"sessionName without role", stream + ";roleSessionName=nightly"},
		{"bad sessionName", stream + ";roleArn=arn:aws:iam::123456789012:role/reader;roleSessionName=a b"},
		{"unknown option", stream + ";maxFetchRat=1.0"},
		{"format unknown", stream + ";format=xml"},
		{"format unknown with inferSchema", stream + ";format=xml;inferSchema=true"},
		{"inferSchema without json", stream + ";inferSchema=true"},
		{"inferSchema not a boolean", stream + ";format=json;inferSchema=maybe"},
		{"inferSchemaSampleSize zero", stream + ";format=json;inferSchema=true;inferSchemaSampleSize=0"},
		{"unknown option far", stream + ";compression=gzip"},
		{"given twice", stream + ";StreamName=other"},
		{"many problems", "maxFetchRate=3;minFetchPeriod=1ms;consumerMode=efo;awsSecretKey=hunter2hunter2"},
	}
	var b strings.Builder
	for _, tt := range tests {
		kv := map[string]string{}
		for _, p := range strings.Split(tt.opts, ";") {
			k, v, _ := strings.Cut(p, "=")
			kv[k] = v
		}
		src, err := factory(t, kv)
		if err == nil {
			src.Close(t.Context())
			t.Errorf("%s: no error", tt.name)
			continue
		}
		var oe *optspec.Error
		if !errors.As(err, &oe) {
			t.Errorf("%s: %v is not an *optspec.Error", tt.name, err)
		}
		msg := err.Error()
		for _, secret := range []string{"wJalrXUtnFEMI", "hunter2", "FwoGZXIvYXdzEJr", "s3cr3t-external", "AKIAIOSFODNN7EXAMPLE"} {
			if strings.Contains(msg, secret) {
				t.Errorf("%s: the error shows a secret: %s", tt.name, msg)
			}
		}
		fmt.Fprintf(&b, "== %s\n%s\n", tt.name, msg)
	}
	golden.Check(t, "option_errors.golden", b.String())
}

func TestOptionsGoPath(t *testing.T) {
	o := DefaultOptions()
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), `option "streamName": required option is missing`) {
		t.Errorf("Validate of the defaults = %v", err)
	}
	o.StreamNames = []string{"a"}
	if err := o.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	o.Client = (*fakeAPI)(nil)
	o.Region = "us-east-1"
	o.AWSAccessKey, o.AWSSecretKey = "AKIDEXAMPLE", "secret-value"
	err := o.Validate()
	if err == nil || !strings.Contains(err.Error(), "Client is given, so region, awsAccessKey/awsSecretKey/awsSessionToken would be ignored") || strings.Contains(err.Error(), "secret-value") {
		t.Errorf("Validate with Client = %v", err)
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New(Options{}) succeeded")
	}
	o = DefaultOptions()
	o.StreamNames = []string{"a"}
	o.ConsumerMode = EFO
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "not supported yet") {
		t.Errorf("efo: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	src, err := factory(t, map[string]string{"streamName": "orders"})
	if err != nil {
		t.Fatal(err)
	}
	s := src.(*Source)
	want := DefaultOptions()
	want.StreamNames = []string{"orders"}
	if diff := cmp.Diff(want, s.opts); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
	if s.opts.FetchBufferSize != 20<<30 || s.opts.MinFetchPeriod != 400*time.Millisecond || s.opts.MaxFetchDuration != 10*time.Second ||
		s.opts.MaxRecordsPerFetch != 10000 || s.opts.MaxFetchRate != 1.0 || s.opts.ShardsPerTask != 5 || s.opts.ShardFetchInterval != time.Second ||
		s.opts.CoalesceThresholdBlockSize != 10_000_000 || s.opts.CoalesceBinSize != 128_000_000 || s.opts.ConsumerMode != Polling ||
		s.opts.InitialPosition.Kind != Latest || s.opts.RequireConsumerDeregistration {
		t.Errorf("defaults differ from the reference: %+v", s.opts)
	}
}

func TestOptionsParse(t *testing.T) {
	src, err := factory(t, map[string]string{
		"STREAMNAME":                    " a , b.c ",
		"region":                        "eu-west-1",
		"endpoint":                      "http://127.0.0.1:4567",
		"initialPosition":               "EARLIEST",
		"maxRecordsPerFetch":            "500",
		"maxFetchRate":                  "2.0",
		"minFetchPeriod":                "210ms",
		"maxFetchDuration":              "200ms",
		"fetchBufferSize":               "10mb",
		"shardsPerTask":                 "2",
		"shardFetchInterval":            "2m",
		"coalesceThresholdBlockSize":    "1000",
		"coalesceBinSize":               "5000",
		"consumerMode":                  "POLLING",
		"requireConsumerDeregistration": "true",
		"format":                        "JSON",
		"inferSchema":                   "true",
		"inferSchemaSampleSize":         "50",
		"awsAccessKey":                  "AKIDEXAMPLE",
		"awsSecretKey":                  "secret",
		"awsSessionToken":               "token",
		"roleArn":                       "arn:aws:iam::123456789012:role/reader",
		"roleExternalId":                "ext",
		"roleSessionName":               "nightly-job",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := src.(*Source).opts
	want := Options{
		StreamNames: []string{"a", "b.c"}, Region: "eu-west-1", Endpoint: "http://127.0.0.1:4567",
		InitialPosition: InitialPosition{Kind: TrimHorizon}, MaxRecordsPerFetch: 500, MaxFetchRate: 2.0,
		MinFetchPeriod: 210 * time.Millisecond, MaxFetchDuration: 200 * time.Millisecond, FetchBufferSize: 10 << 20,
		ShardsPerTask: 2, ShardFetchInterval: 2 * time.Minute, CoalesceThresholdBlockSize: 1000, CoalesceBinSize: 5000,
		ConsumerMode: Polling, RequireConsumerDeregistration: true, Format: FormatJSON, InferSchema: true, InferSchemaSampleSize: 50,
		AWSAccessKey: "AKIDEXAMPLE", AWSSecretKey: "secret",
		AWSSessionToken: "token", RoleARN: "arn:aws:iam::123456789012:role/reader", RoleExternalID: "ext", RoleSessionName: "nightly-job",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
	if d := src.Description(); d != "KinesisV2[a, b.c]" {
		t.Errorf("Description = %q", d)
	}
	arn, err := factory(t, map[string]string{"streamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/orders"})
	if err != nil {
		t.Fatal(err)
	}
	if d := arn.Description(); d != "KinesisV2[orders]" {
		t.Errorf("Description = %q", d)
	}
	if r := arn.(*Source).opts.region(); r != "us-east-1" {
		t.Errorf("region from the ARN = %q", r)
	}
}

func TestParseInitialPosition(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		in   string
		want InitialPosition
	}{
		{"latest", InitialPosition{Kind: Latest}},
		{" LATEST ", InitialPosition{Kind: Latest}},
		{"trim_horizon", InitialPosition{Kind: TrimHorizon}},
		{"earliest", InitialPosition{Kind: TrimHorizon}},
		// The reference's example, exactly.
		{`{"at_timestamp": "06/25/2020 10:23:45 PDT", "format": "MM/dd/yyyy HH:mm:ss ZZZ"}`, InitialPosition{AtTimestamp, utc("2020-06-25T17:23:45Z")}},
		{`{"at_timestamp": "06/25/2020 10:23:45 PDT"}`, InitialPosition{AtTimestamp, utc("2020-06-25T17:23:45Z")}},
		{`{"at_timestamp": "2020-06-25T17:23:45.123456Z"}`, InitialPosition{AtTimestamp, utc("2020-06-25T17:23:45.123Z")}},
		{`{"at_timestamp": 1593105825000}`, InitialPosition{AtTimestamp, utc("2020-06-25T17:23:45Z")}},
		{`{"format": "yyyyMMddHHmmss", "at_timestamp": "20200625172345"}`, InitialPosition{AtTimestamp, utc("2020-06-25T17:23:45Z")}},
	}
	for _, tt := range tests {
		got, err := ParseInitialPosition(tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if got.Kind != tt.want.Kind || !got.Timestamp.Equal(tt.want.Timestamp) {
			t.Errorf("%s = %+v, want %+v", tt.in, got, tt.want)
		}
		// String gives back an equivalent option value.
		again, err := ParseInitialPosition(got.String())
		if err != nil || again.Kind != got.Kind || !again.Timestamp.Equal(got.Timestamp) {
			t.Errorf("%s: String() = %s parses to %+v, %v", tt.in, got.String(), again, err)
		}
	}
}

func TestRedactOptions(t *testing.T) {
	s, err := New(Options{StreamNames: []string{"a"}, MaxRecordsPerFetch: 1, MaxFetchRate: 1, MinFetchPeriod: time.Second,
		MaxFetchDuration: 1, FetchBufferSize: 1, ShardsPerTask: 1, ShardFetchInterval: 1, CoalesceThresholdBlockSize: 1, CoalesceBinSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := s.RedactOptions(map[string]string{
		"streamName": "a", "awsAccessKey": "AKID", "AWSSECRETKEY": "s", "awsSessionToken": "t",
		"roleExternalId": "e", "roleArn": "arn:aws:iam::123456789012:role/r", "someToken": "x",
	})
	want := map[string]string{
		"streamName": "a", "awsAccessKey": optspec.Redacted, "AWSSECRETKEY": optspec.Redacted, "awsSessionToken": optspec.Redacted,
		"roleExternalId": optspec.Redacted, "roleArn": "arn:aws:iam::123456789012:role/r", "someToken": optspec.Redacted,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RedactOptions (-want +got):\n%s", diff)
	}
}

// TestSpecTable keeps the documented options in step with the reference's names.
func TestSpecTable(t *testing.T) {
	want := []string{"streamName", "streamARN", "region", "endpoint", "initialPosition", "maxRecordsPerFetch", "maxFetchRate",
		"minFetchPeriod", "maxFetchDuration", "fetchBufferSize", "shardsPerTask", "shardFetchInterval", "coalesceThresholdBlockSize",
		"coalesceBinSize", "consumerMode", "requireConsumerDeregistration", "format", "inferSchema", "inferSchemaSampleSize",
		"awsAccessKey", "awsSecretKey", "awsSessionToken",
		"roleArn", "roleExternalId", "roleSessionName"}
	if diff := cmp.Diff(want, Spec.Keys()); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	golden.Check(t, "options.md", Spec.Markdown())
}

func FuzzParseInitialPosition(f *testing.F) {
	for _, s := range []string{"latest", "earliest", "at_timestamp", `{"at_timestamp": "06/25/2020 10:23:45 PDT", "format": "MM/dd/yyyy HH:mm:ss ZZZ"}`,
		`{"at_timestamp": 1593105825000}`, `{"at_timestamp": "2020-06-25T17:23:45.1Z"}`, `{"format": "yyyy", "at_timestamp": "2020"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseInitialPosition(s)
		if err != nil {
			return
		}
		again, err := ParseInitialPosition(p.String())
		if err != nil || again.Kind != p.Kind || !again.Timestamp.Equal(p.Timestamp) {
			t.Fatalf("%q parses to %+v; its String %q parses to %+v, %v", s, p, p.String(), again, err)
		}
	})
}

// TestEndpointPasswordNotPrinted: an endpoint URL with a password is refused without printing
// the password.
func TestEndpointPasswordNotPrinted(t *testing.T) {
	o := DefaultOptions()
	err := errors.Join(Spec.Parse(&o, map[string]string{"streamName": "s", "region": "us-east-1", "endpoint": "http://user:SUPERSECRET9@127.0.0.1:1"}), o.Validate())
	if err == nil || !strings.Contains(err.Error(), "user information") {
		t.Fatalf("got %v; want the endpoint refused", err)
	}
	if strings.Contains(err.Error(), "SUPERSECRET9") {
		t.Errorf("the error prints the password: %v", err)
	}
}
