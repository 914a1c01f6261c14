package optspec_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluicedev/sluice/internal/golden"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/optspec"
)

// opts exercises every option kind.
type opts struct {
	Name    string
	Region  string
	Mode    string
	Verbose bool
	Count   int64
	Limit   int64
	Ratio   float64
	Rate    float64
	Wait    time.Duration
	Size    int64
	Token   string
	Stream  string
}

func defaults() opts {
	return opts{Region: "us-east-1", Mode: "LATEST", Count: 10, Ratio: 0.5, Rate: 1, Wait: time.Second, Size: 1 << 20}
}

func secret(o optspec.Option[opts]) optspec.Option[opts] {
	o.Secret = true
	return o
}

func required(o optspec.Option[opts]) optspec.Option[opts] {
	o.Required = true
	return o
}

// kinds has one option of each kind and none required.
var kinds = &optspec.Spec[opts]{Component: "test source", Options: []optspec.Option[opts]{
	optspec.String("name", "", "A free-form name.", func(o *opts) *string { return &o.Name }),
	optspec.NonEmpty("region", "us-east-1", "The AWS region.", func(o *opts) *string { return &o.Region }),
	optspec.Enum("mode", "LATEST", "Where to start.", []string{"LATEST", "TRIM_HORIZON", "AT_TIMESTAMP"}, func(o *opts) *string { return &o.Mode }),
	optspec.Bool("verbose", "false", "Log more.", func(o *opts) *bool { return &o.Verbose }),
	optspec.Int("count", "10", "How many.", 1, 100, func(o *opts) *int64 { return &o.Count }),
	optspec.Int("limit", "0", "At least zero, no upper bound.", 0, math.MaxInt64, func(o *opts) *int64 { return &o.Limit }),
	optspec.Float("ratio", "0.5", "A fraction.", 0, 1, func(o *opts) *float64 { return &o.Ratio }),
	optspec.Float("rate", "1", "Per second, no upper bound.", 0.5, math.Inf(1), func(o *opts) *float64 { return &o.Rate }),
	optspec.Duration("wait", "1s", "How long to wait.", 100*time.Millisecond, time.Hour, func(o *opts) *time.Duration { return &o.Wait }),
	optspec.Bytes("size", "1mb", "Buffer size.", 1, 1<<30, func(o *opts) *int64 { return &o.Size }),
	secret(optspec.NonEmpty("secretToken", "", "The token.", func(o *opts) *string { return &o.Token })),
}}

// withRequired adds a required option to a copy of kinds.
var withRequired = &optspec.Spec[opts]{Component: "test source", Options: append(append([]optspec.Option[opts]{},
	kinds.Options...),
	required(optspec.NonEmpty("streamName", "", "The stream | to read.", func(o *opts) *string { return &o.Stream })),
)}

// TestKinds parses one key at a time and checks the field it sets or the exact message.
func TestKinds(t *testing.T) {
	tests := []struct {
		key, value string
		set        func(*opts) // applied to defaults() to get the expected result
		err        string
	}{
		// String keeps the value as it is, blanks included.
		{key: "name", value: "  a b  ", set: func(o *opts) { o.Name = "  a b  " }},
		{key: "name", value: "", set: func(o *opts) { o.Name = "" }},

		{key: "region", value: "eu-west-1", set: func(o *opts) { o.Region = "eu-west-1" }},
		{key: "region", value: "", err: `test source: option "region": invalid value "": must not be empty`},
		{key: "region", value: " \t", err: `test source: option "region": invalid value " \t": must not be empty`},

		// Enum values match case-insensitively, trimmed, and store the declared spelling.
		{key: "mode", value: "trim_horizon", set: func(o *opts) { o.Mode = "TRIM_HORIZON" }},
		{key: "mode", value: " At_Timestamp ", set: func(o *opts) { o.Mode = "AT_TIMESTAMP" }},
		{key: "mode", value: "earliest", err: `test source: option "mode": invalid value "earliest": must be one of LATEST, TRIM_HORIZON, AT_TIMESTAMP`},
		{key: "mode", value: "", err: `test source: option "mode": invalid value "": must be one of LATEST, TRIM_HORIZON, AT_TIMESTAMP`},

		{key: "verbose", value: "true", set: func(o *opts) { o.Verbose = true }},
		{key: "verbose", value: " TRUE ", set: func(o *opts) { o.Verbose = true }},
		{key: "verbose", value: "False", set: func(o *opts) { o.Verbose = false }},
		{key: "verbose", value: "yes", err: `test source: option "verbose": invalid value "yes": must be true or false`},
		{key: "verbose", value: "1", err: `test source: option "verbose": invalid value "1": must be true or false`},

		{key: "count", value: "1", set: func(o *opts) { o.Count = 1 }},
		{key: "count", value: " 100 ", set: func(o *opts) { o.Count = 100 }},
		{key: "count", value: "0", err: `test source: option "count": invalid value "0": must be between 1 and 100`},
		{key: "count", value: "101", err: `test source: option "count": invalid value "101": must be between 1 and 100`},
		{key: "count", value: "1.5", err: `test source: option "count": invalid value "1.5": must be an integer`},
		{key: "count", value: "ten", err: `test source: option "count": invalid value "ten": must be an integer`},
		{key: "count", value: "99999999999999999999", err: `test source: option "count": invalid value "99999999999999999999": must be an integer`},
		{key: "limit", value: "9223372036854775807", set: func(o *opts) { o.Limit = math.MaxInt64 }},
		{key: "limit", value: "-1", err: `test source: option "limit": invalid value "-1": must be at least 0`},

		{key: "ratio", value: "0.25", set: func(o *opts) { o.Ratio = 0.25 }},
		{key: "ratio", value: "1", set: func(o *opts) { o.Ratio = 1 }},
		{key: "ratio", value: "1e-3", set: func(o *opts) { o.Ratio = 0.001 }},
		{key: "ratio", value: "1.5", err: `test source: option "ratio": invalid value "1.5": must be between 0 and 1`},
		{key: "ratio", value: "NaN", err: `test source: option "ratio": invalid value "NaN": must be a decimal number`},
		{key: "ratio", value: "half", err: `test source: option "ratio": invalid value "half": must be a decimal number`},
		{key: "rate", value: "1e300", set: func(o *opts) { o.Rate = 1e300 }},
		{key: "rate", value: "0.1", err: `test source: option "rate": invalid value "0.1": must be at least 0.5`},
		{key: "rate", value: "+Inf", err: `test source: option "rate": invalid value "+Inf": must be a decimal number`},

		{key: "wait", value: "400ms", set: func(o *opts) { o.Wait = 400 * time.Millisecond }},
		{key: "wait", value: "250", set: func(o *opts) { o.Wait = 250 * time.Millisecond }},
		{key: "wait", value: "1h", set: func(o *opts) { o.Wait = time.Hour }},
		{key: "wait", value: "99", err: `test source: option "wait": invalid value "99": must be between 100ms and 1h0m0s`},
		{key: "wait", value: "2h", err: `test source: option "wait": invalid value "2h": must be between 100ms and 1h0m0s`},
		{key: "wait", value: "soon", err: `test source: option "wait": invalid value "soon": must be a duration such as 400ms, 1s or 2m`},
		{key: "wait", value: "-1s", err: `test source: option "wait": invalid value "-1s": must not be negative`},

		{key: "size", value: "512kb", set: func(o *opts) { o.Size = 512 << 10 }},
		{key: "size", value: "1", set: func(o *opts) { o.Size = 1 }},
		{key: "size", value: "1gb", set: func(o *opts) { o.Size = 1 << 30 }},
		{key: "size", value: "2gb", err: `test source: option "size": invalid value "2gb": must be between 1 and 1073741824 bytes`},
		{key: "size", value: "0", err: `test source: option "size": invalid value "0": must be between 1 and 1073741824 bytes`},
		{key: "size", value: "lots", err: `test source: option "size": invalid value "lots": must be a byte size such as 512kb, 10mb or 2gb`},

		// A secret's value never appears in a message.
		{key: "secretToken", value: "hunter2", set: func(o *opts) { o.Token = "hunter2" }},
		{key: "secretToken", value: "  ", err: `test source: option "secretToken": invalid value "*****(redacted)": must not be empty`},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			got := defaults()
			err := kinds.Parse(&got, map[string]string{tt.key: tt.value})
			if tt.err != "" {
				if err == nil {
					t.Fatalf("Parse succeeded with %+v; want error %q", got, tt.err)
				}
				if err.Error() != tt.err {
					t.Errorf("error:\n got %s\nwant %s", err, tt.err)
				}
				var e *optspec.Error
				if !errors.As(err, &e) || e.Component != "test source" || e.Key != tt.key {
					t.Errorf("errors.As(*optspec.Error) = %+v; want component and key %q", e, tt.key)
				}
				if diff := cmp.Diff(defaults(), got); diff != "" {
					t.Errorf("a rejected value changed the options (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := defaults()
			tt.set(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

// errorLines returns the messages of the *Errors joined in err, in order.
func errorLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T is not a joined error: %v", err, err)
	}
	var out []string
	for _, e := range j.Unwrap() {
		var oe *optspec.Error
		if !errors.As(e, &oe) {
			t.Errorf("%T is not an *optspec.Error: %v", e, e)
		}
		out = append(out, e.Error())
	}
	return out
}

func TestParse(t *testing.T) {
	const known = "; known options: name, region, mode, verbose, count, limit, ratio, rate, wait, size, secretToken, streamName"
	tests := []struct {
		name   string
		kv     map[string]string
		ignore []string
		want   func(*opts)
		errs   []string
	}{
		{
			name: "nothing given but the required option",
			kv:   map[string]string{"streamName": "s"},
			want: func(o *opts) { o.Stream = "s" },
		},
		{
			name: "keys are case-insensitive",
			kv:   map[string]string{"STREAMNAME": "s", "Count": "7", "VERBOSE": "true", "sEcReTtOkEn": "x"},
			want: func(o *opts) { o.Stream, o.Count, o.Verbose, o.Token = "s", 7, true, "x" },
		},
		{
			name: "an invalid value names the declared key, not the spelling given",
			kv:   map[string]string{"streamName": "s", "COUNT": "0"},
			errs: []string{`test source: option "count": invalid value "0": must be between 1 and 100`},
		},
		{
			name: "one key given twice in different cases",
			kv:   map[string]string{"streamName": "s", "count": "5", "COUNT": "6"},
			errs: []string{`test source: option "count": given twice (also as "COUNT")`},
		},
		{
			name: "the same key three times",
			kv:   map[string]string{"streamName": "s", "count": "5", "COUNT": "6", "Count": "7"},
			errs: []string{
				`test source: option "Count": given twice (also as "COUNT")`,
				`test source: option "count": given twice (also as "COUNT")`,
			},
		},
		{
			name: "unknown key near a declared one",
			kv:   map[string]string{"streamName": "s", "cuont": "5"},
			errs: []string{`test source: option "cuont": unknown option (did you mean "count"?)` + known},
		},
		{
			name: "unknown key near a declared one, in another case",
			kv:   map[string]string{"streamName": "s", "STREAMNAM": "x"},
			errs: []string{`test source: option "STREAMNAM": unknown option (did you mean "streamName"?)` + known},
		},
		{
			name: "a long key may be further off",
			kv:   map[string]string{"streamName": "s", "secretTokenXYZ": "x"},
			errs: []string{`test source: option "secretTokenXYZ": unknown option (did you mean "secretToken"?)` + known},
		},
		{
			name: "a short key three edits off gets no suggestion",
			kv:   map[string]string{"streamName": "s", "cxyzt": "5"},
			errs: []string{`test source: option "cxyzt": unknown option` + known},
		},
		{
			name: "unknown key near nothing",
			kv:   map[string]string{"streamName": "s", "checkpointLocation": "/tmp/x"},
			errs: []string{`test source: option "checkpointLocation": unknown option` + known},
		},
		{
			name:   "ignored keys belong to the caller, in any case",
			kv:     map[string]string{"streamName": "s", "checkpointLocation": "/tmp/x", "PATH": "p"},
			ignore: []string{"CHECKPOINTLOCATION", "path"},
			want:   func(o *opts) { o.Stream = "s" },
		},
		{
			name: "required option missing",
			kv:   map[string]string{},
			errs: []string{`test source: option "streamName": required option is missing`},
		},
		{
			name: "a required option given with a bad value is not also missing",
			kv:   map[string]string{"streamName": ""},
			errs: []string{`test source: option "streamName": invalid value "": must not be empty`},
		},
		{
			name: "every problem at once, in case-insensitive key order",
			kv: map[string]string{
				"Zebra":   "1",
				"wait":    "soon",
				"COUNT":   "0",
				"count":   "1",
				"ratio":   "2",
				"apple":   "1",
				"verbose": "maybe",
				"region":  "ok",
			},
			errs: []string{
				`test source: option "apple": unknown option` + known,
				`test source: option "count": invalid value "0": must be between 1 and 100`,
				`test source: option "count": given twice (also as "COUNT")`,
				`test source: option "ratio": invalid value "2": must be between 0 and 1`,
				`test source: option "streamName": required option is missing`,
				`test source: option "verbose": invalid value "maybe": must be true or false`,
				`test source: option "wait": invalid value "soon": must be a duration such as 400ms, 1s or 2m`,
				`test source: option "Zebra": unknown option` + known,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := defaults()
			err := withRequired.Parse(&got, tt.kv, tt.ignore...)
			if diff := cmp.Diff(tt.errs, errorLines(t, err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if err != nil {
				if want := strings.Join(tt.errs, "\n"); err.Error() != want {
					t.Errorf("Error() = %q; want the messages joined by newlines", err)
				}
				return
			}
			want := defaults()
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseDeterministic checks that repeated parses of a map (whose iteration order varies)
// give the same errors and the same winner among duplicate keys.
func TestParseDeterministic(t *testing.T) {
	kv := map[string]string{"count": "5", "COUNT": "6", "Count": "7", "cOunt": "8", "a": "", "b": "", "c": "", "streamName": "s"}
	var first string
	var firstOpts opts
	for i := range 50 {
		o := defaults()
		err := withRequired.Parse(&o, kv)
		if err == nil {
			t.Fatal("Parse succeeded")
		}
		if i == 0 {
			first, firstOpts = err.Error(), o
			continue
		}
		if err.Error() != first {
			t.Fatalf("parse %d:\n%s\nparse 0:\n%s", i, err, first)
		}
		if o != firstOpts {
			t.Fatalf("parse %d set %+v, parse 0 %+v", i, o, firstOpts)
		}
	}
	if firstOpts.Count != 6 {
		t.Errorf("Count = %d; want 6, from the first key in byte order (COUNT)", firstOpts.Count)
	}
}

func TestErrorWithoutKey(t *testing.T) {
	e := &optspec.Error{Component: "test source", Msg: "something is off"}
	if got, want := e.Error(), "test source: something is off"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
}

func TestNoOptions(t *testing.T) {
	spec := &optspec.Spec[struct{}]{Component: "memory sink"}
	var o struct{}
	if err := spec.Parse(&o, nil); err != nil {
		t.Errorf("Parse(nil) = %v", err)
	}
	err := spec.Parse(&o, map[string]string{"path": "/x"})
	want := `memory sink: option "path": unknown option; this component takes no options`
	if err == nil || err.Error() != want {
		t.Errorf("Parse = %v; want %s", err, want)
	}
}

func TestLookupAndKeys(t *testing.T) {
	o, ok := kinds.Lookup("SECRETTOKEN")
	if !ok || o.Key != "secretToken" || !o.Secret {
		t.Errorf("Lookup(SECRETTOKEN) = %+v, %v", o, ok)
	}
	if _, ok := kinds.Lookup("secret"); ok {
		t.Error("Lookup(secret) matched a prefix")
	}
	want := []string{"name", "region", "mode", "verbose", "count", "limit", "ratio", "rate", "wait", "size", "secretToken"}
	if diff := cmp.Diff(want, kinds.Keys()); diff != "" {
		t.Errorf("Keys (-want +got):\n%s", diff)
	}
}

func TestRedact(t *testing.T) {
	spec := &optspec.Spec[opts]{Component: "test", Options: []optspec.Option[opts]{
		secret(optspec.String("connection", "", "Declared secret with a harmless name.", func(o *opts) *string { return &o.Name })),
		optspec.String("tokenBucketSize", "", "Declared, not secret, though the name says token.", func(o *opts) *string { return &o.Region }),
		optspec.String("region", "", "Plain.", func(o *opts) *string { return &o.Mode }),
	}}
	in := map[string]string{
		"connection":         "postgres://u:p@h",
		"CONNECTION":         "again",
		"tokenBucketSize":    "10",
		"region":             "eu-west-1",
		"awsSecretAccessKey": "s1",
		"awsAccessKeyId":     "AKIA",
		"fs.s3a.access.key":  "AKIA2",
		"sessionToken":       "t",
		"PASSWORD":           "p",
		"db_password":        "p2",
		"api_key":            "k",
		"apiKey":             "k2",
		"privateKey":         "pk",
		"credentialsFile":    "/c",
		"partitionKey":       "pk1",
		"streamName":         "s",
	}
	want := map[string]string{
		"connection":         optspec.Redacted,
		"CONNECTION":         optspec.Redacted,
		"tokenBucketSize":    "10",
		"region":             "eu-west-1",
		"awsSecretAccessKey": optspec.Redacted,
		"awsAccessKeyId":     optspec.Redacted,
		"fs.s3a.access.key":  optspec.Redacted,
		"sessionToken":       optspec.Redacted,
		"PASSWORD":           optspec.Redacted,
		"db_password":        optspec.Redacted,
		"api_key":            optspec.Redacted,
		"apiKey":             optspec.Redacted,
		"privateKey":         optspec.Redacted,
		"credentialsFile":    optspec.Redacted,
		"partitionKey":       "pk1",
		"streamName":         "s",
	}
	saved := make(map[string]string, len(in))
	for k, v := range in {
		saved[k] = v
	}
	if diff := cmp.Diff(want, spec.Redact(in)); diff != "" {
		t.Errorf("Redact (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(saved, in); diff != "" {
		t.Errorf("Redact changed its input (-before +after):\n%s", diff)
	}
	if got := spec.Redact(nil); len(got) != 0 {
		t.Errorf("Redact(nil) = %v", got)
	}
}

func TestLooksSecret(t *testing.T) {
	tests := map[string]bool{
		"secretKey": true, "SECRET": true, "x-api-token": true, "Password": true, "passwd": false,
		"accessKey": true, "access.key": true, "ACCESS_KEY": true, "access-key-id": true,
		"apiKey": true, "API.KEY": true, "privateKey": true, "private_key_file": true, "credentials": true,
		"partitionKey": false, "keyPrefix": false, "streamName": false, "region": false, "": false,
		"maxTokensPerSecond": true, // a false positive, deliberately: better hidden than leaked
	}
	for key, want := range tests {
		if got := optspec.LooksSecret(key); got != want {
			t.Errorf("LooksSecret(%q) = %v; want %v", key, got, want)
		}
	}
}

func TestMarkdown(t *testing.T) {
	golden.Check(t, "markdown.golden", withRequired.Markdown())
}

func TestParseDuration(t *testing.T) {
	const bad = "must be a duration such as 400ms, 1s or 2m"
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "400ms", want: 400 * time.Millisecond},
		{in: "400 ms", want: 400 * time.Millisecond},
		{in: "  1S ", want: time.Second},
		{in: "1s", want: time.Second},
		{in: "1.5s", want: 1500 * time.Millisecond},
		{in: "1m", want: time.Minute},
		{in: "1min", want: time.Minute},
		{in: "2mins", want: 2 * time.Minute},
		{in: "3 minutes", want: 3 * time.Minute},
		{in: "2h", want: 2 * time.Hour},
		{in: "1 hour", want: time.Hour},
		{in: "1d", want: 24 * time.Hour},
		{in: "2 days", want: 48 * time.Hour},
		{in: "10 seconds", want: 10 * time.Second},
		{in: "1sec", want: time.Second},
		{in: "5 milliseconds", want: 5 * time.Millisecond},
		{in: "7us", want: 7 * time.Microsecond},
		{in: "9ns", want: 9},
		{in: ".5s", want: 500 * time.Millisecond},
		{in: "0.001ms", want: time.Microsecond},
		{in: "1m30s", want: 90 * time.Second},
		{in: "1h2m3.5s", want: time.Hour + 2*time.Minute + 3500*time.Millisecond},
		{in: "250", want: 250 * time.Millisecond}, // a bare number is milliseconds, as in Spark
		{in: "0", want: 0},
		{in: "-0", want: 0},
		{in: "+5", want: 5 * time.Millisecond},
		{in: "9223372036854", want: 9223372036854 * time.Millisecond},
		{in: "106751d", want: 106751 * 24 * time.Hour},

		{in: "", err: bad},
		{in: "   ", err: bad},
		{in: "soon", err: bad},
		{in: "ms", err: bad},
		{in: "1", want: time.Millisecond},
		{in: "1.5", err: bad},
		{in: "1x", err: bad},
		{in: "1e3ms", err: bad},
		{in: "1.2.3s", err: bad},
		{in: ".", err: bad},
		{in: "NaN", err: bad},
		{in: "inf", err: bad},
		{in: "1 s s", err: bad},
		{in: "-1", err: "must not be negative"},
		{in: "-1s", err: "must not be negative"},
		{in: "-1m30s", err: "must not be negative"},
		{in: "- 1s", err: bad},
		// Too large for a time.Duration: an error, never a wrapped negative value.
		{in: "9223372036855", err: "must be shorter than 292 years"},
		{in: "9223372036854775807", err: "must be shorter than 292 years"},
		{in: "99999999999999999999", err: bad},
		{in: "106752d", err: "must be shorter than 292 years"},
		{in: "1e300d", err: bad},
		{in: "99999999999999999999999999999999999d", err: "must be shorter than 292 years"},
		{in: "9223372036854775808ns", err: "must be shorter than 292 years"},
		{in: "9999999999h", err: "must be shorter than 292 years"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := optspec.ParseDuration(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("ParseDuration(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseBytes(t *testing.T) {
	const bad = "must be a byte size such as 512kb, 10mb or 2gb"
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		{in: "0", want: 0},
		{in: "1", want: 1},
		{in: "100", want: 100},
		{in: "100b", want: 100},
		{in: "100B", want: 100},
		{in: "1k", want: 1024},
		{in: "512kb", want: 512 << 10},
		{in: "512KiB", want: 512 << 10},
		{in: "10mb", want: 10 << 20},
		{in: "10M", want: 10 << 20},
		{in: "10mib", want: 10 << 20},
		{in: "2gb", want: 2 << 30},
		{in: "2 GB", want: 2 << 30},
		{in: " 2g ", want: 2 << 30},
		{in: "2gib", want: 2 << 30},
		{in: "3tb", want: 3 << 40},
		{in: "3t", want: 3 << 40},
		{in: "3tib", want: 3 << 40},
		{in: "1.5kb", want: 1536},
		{in: "0.5m", want: 512 << 10},
		{in: ".5k", want: 512},
		{in: "1.9", want: 1}, // fractions of a byte are dropped
		{in: "8388607tb", want: 8388607 << 40},

		{in: "", err: bad},
		{in: "b", err: bad},
		{in: "kb", err: bad},
		{in: "lots", err: bad},
		{in: "10xb", err: bad},
		{in: "10pb", err: bad},
		{in: "10 m b", err: bad},
		{in: "1e3", err: bad},
		{in: "-1", err: bad},
		{in: "-1kb", err: bad},
		{in: "+1kb", err: bad},
		{in: ".", err: bad},
		{in: "1.2.3", err: bad},
		{in: "NaN", err: bad},
		// Too large for an int64: an error, never a wrapped negative value.
		{in: "8388608tb", err: bad}, // exactly 2^63
		{in: "9223372036854775808", err: bad},
		{in: "99999999999999999999tb", err: bad},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := optspec.ParseBytes(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("ParseBytes(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseBytes(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}
