package kinesis_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicedev/sluice/internal/testkit"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedev/sluice/optspec"
	"github.com/sluicedev/sluice/sinks"
	"github.com/sluicedev/sluice/sinks/kinesis"
)

// fakeAPI is an in-memory Kinesis with one shard that refuses every PutRecords entry whose
// key refuse says so, and records each call's time.
type fakeAPI struct {
	mu     sync.Mutex
	refuse func(key string) bool
	calls  []time.Time
	stored []string
}

func (f *fakeAPI) PutRecords(_ context.Context, in *awskinesis.PutRecordsInput, _ ...func(*awskinesis.Options)) (*awskinesis.PutRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, time.Now())
	out := &awskinesis.PutRecordsOutput{}
	for _, e := range in.Records {
		k := aws.ToString(e.PartitionKey)
		if f.refuse != nil && f.refuse(k) {
			out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
			out.Records = append(out.Records, types.PutRecordsResultEntry{ErrorCode: aws.String("ProvisionedThroughputExceededException"), ErrorMessage: aws.String("slow down")})
			continue
		}
		f.stored = append(f.stored, k)
		out.Records = append(out.Records, types.PutRecordsResultEntry{ShardId: aws.String("shardId-000000000000"), SequenceNumber: aws.String("1")})
	}
	return out, nil
}

func (f *fakeAPI) ListShards(context.Context, *awskinesis.ListShardsInput, ...func(*awskinesis.Options)) (*awskinesis.ListShardsOutput, error) {
	return &awskinesis.ListShardsOutput{Shards: []types.Shard{{ShardId: aws.String("shardId-000000000000"),
		HashKeyRange:        &types.HashKeyRange{StartingHashKey: aws.String("0"), EndingHashKey: aws.String("340282366920938463463374607431768211455")},
		SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("0")}}}}, nil
}

func (f *fakeAPI) DescribeStreamSummary(context.Context, *awskinesis.DescribeStreamSummaryInput, ...func(*awskinesis.Options)) (*awskinesis.DescribeStreamSummaryOutput, error) {
	return &awskinesis.DescribeStreamSummaryOutput{}, nil
}

func fakeSink(t *testing.T, api *fakeAPI, set func(*kinesis.Options)) *kinesis.Sink {
	t.Helper()
	o := kinesis.DefaultOptions()
	o.StreamName, o.Client = "s", api
	if set != nil {
		set(&o)
	}
	s, err := kinesis.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(t.Context(), sinks.Info{Schema: recordSchema, Logger: testkit.Logger(t)}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBackoff: a throttled entry is retried with exponential backoff and full jitter, bounded
// by maxRetryDelay, for maxAttempts tries (virtual time).
func TestBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := testkit.CheckedAlloc(t)
		api := &fakeAPI{refuse: func(k string) bool { return k == "k-key-1" }}
		s := fakeSink(t, api, func(o *kinesis.Options) {
			o.MaxAttempts, o.MinRetryDelay, o.MaxRetryDelay = 8, 100*time.Millisecond, time.Second
		})
		start := time.Now()
		err := write(t, mem, s, 0, makeRows("k", 3, 5), 3)
		if err == nil || !strings.Contains(err.Error(), "still failing after 8 tries") {
			t.Fatalf("Commit: %v", err)
		}
		if len(api.calls) != 8 {
			t.Fatalf("%d calls; want 8", len(api.calls))
		}
		for i := 1; i < len(api.calls); i++ {
			gap := api.calls[i].Sub(api.calls[i-1])
			bound := min(time.Second, 100*time.Millisecond<<(i-1))
			if gap <= 0 || gap > bound {
				t.Errorf("wait before try %d: %s; want in (0, %s]", i+1, gap, bound)
			}
		}
		if took := time.Since(start); took > 8*time.Second {
			t.Errorf("took %s", took)
		}
		if len(api.stored) != 2 {
			t.Errorf("stored %v; want the two other rows", api.stored)
		}
	})
}

// TestRecordErrors: rows Kinesis would refuse fail the batch with a *RecordError naming the
// row, counted across Write calls, before anything is sent.
func TestRecordErrors(t *testing.T) {
	strSchema := arrow.NewSchema([]arrow.Field{
		{Name: "data", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "partitionKey", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "explicitHashKey", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	for _, tc := range []struct {
		name      string
		pk, ehk   *string
		data      *string
		want      error
		wantError string
	}{
		{"null key", nil, nil, ptr("d"), kinesis.ErrNull, `row 5 (partition key ""): column partitionKey is null: null value`},
		{"null data", ptr("k"), nil, nil, kinesis.ErrNull, `row 5 (partition key "k"): column data is null`},
		{"empty key", ptr(""), nil, ptr("d"), kinesis.ErrInvalidPartitionKey, `partition key of 0 characters, want 1 to 256`},
		{"long key", ptr(strings.Repeat("é", 257)), nil, ptr("d"), kinesis.ErrInvalidPartitionKey, `partition key of 257 characters, want 1 to 256`},
		// Kinesis counts UTF-16 code units: 129 characters outside the BMP are 258.
		{"long key outside the BMP", ptr(strings.Repeat("😀", 129)), nil, ptr("d"), kinesis.ErrInvalidPartitionKey, `partition key of 258 characters, want 1 to 256`},
		{"bad utf8", ptr("a\xffb"), nil, ptr("d"), kinesis.ErrInvalidPartitionKey, `not valid UTF-8`},
		{"bad hash key", ptr("k"), ptr("012"), ptr("d"), kinesis.ErrInvalidExplicitHashKey, `explicit hash key "012" is not a decimal number`},
		{"hash key too big", ptr("k"), ptr("340282366920938463463374607431768211456"), ptr("d"), kinesis.ErrInvalidExplicitHashKey, `is not a decimal number in [0, 2^128-1]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := testkit.CheckedAlloc(t)
			api := &fakeAPI{}
			o := kinesis.DefaultOptions()
			o.StreamName, o.Client = "s", api
			s, _ := kinesis.New(o)
			if err := s.Open(t.Context(), sinks.Info{Schema: strSchema}); err != nil {
				t.Fatal(err)
			}
			w, _ := s.Begin(t.Context(), 4)
			b := array.NewRecordBuilder(mem, strSchema)
			defer b.Release()
			for i := range 6 {
				if i < 5 {
					for c := range 2 {
						b.Field(c).(*array.StringBuilder).Append("ok")
					}
					b.Field(2).AppendNull()
					continue
				}
				for c, v := range []*string{tc.data, tc.pk, tc.ehk} {
					if v == nil {
						b.Field(c).AppendNull()
					} else {
						b.Field(c).(*array.StringBuilder).Append(*v)
					}
				}
			}
			rec := b.NewRecordBatch()
			defer rec.Release()
			first := rec.NewSlice(0, 3)
			defer first.Release()
			rest := rec.NewSlice(3, 6)
			defer rest.Release()
			if err := w.Write(t.Context(), first); err != nil {
				t.Fatal(err)
			}
			err := w.Write(t.Context(), rest)
			var re *kinesis.RecordError
			if !errors.As(err, &re) || re.Row != 5 || re.BatchID != 4 || !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantError) {
				t.Errorf("Write: %v; want a RecordError for row 5 containing %q", err, tc.wantError)
			}
			w.Abort(t.Context())
			if len(api.calls) != 0 {
				t.Errorf("%d PutRecords calls; want none", len(api.calls))
			}
		})
	}
}

func ptr(s string) *string { return &s }

// TestCheckSchema: missing or mistyped columns are named; other columns are ignored.
func TestCheckSchema(t *testing.T) {
	s, _ := kinesis.New(kinesis.Options{StreamName: "s", MaxInFlightRequests: 1, MaxAttempts: 1, MinRetryDelay: 1, MaxRetryDelay: 1, AggregationMaxSize: 2048})
	f := func(name string, typ arrow.DataType) arrow.Field { return arrow.Field{Name: name, Type: typ} }
	for _, tc := range []struct {
		name   string
		fields []arrow.Field
		want   string
	}{
		{"ok binary", []arrow.Field{f("data", arrow.BinaryTypes.Binary), f("partitionKey", arrow.BinaryTypes.String), f("x", arrow.PrimitiveTypes.Int8)}, ""},
		{"ok large string", []arrow.Field{f("data", arrow.BinaryTypes.LargeString), f("partitionKey", arrow.BinaryTypes.LargeString), f("explicitHashKey", arrow.BinaryTypes.String)}, ""},
		{"no data", []arrow.Field{f("payload", arrow.BinaryTypes.Binary), f("partitionKey", arrow.BinaryTypes.String)},
			`kinesis sink: column "data" is missing; the sink writes columns data (binary or string) and partitionKey (string), and optionally explicitHashKey (string); the query's columns are: payload binary, partitionKey utf8`},
		{"int key", []arrow.Field{f("data", arrow.BinaryTypes.Binary), f("partitionKey", arrow.PrimitiveTypes.Int64)},
			`kinesis sink: column "partitionKey" has type int64; it must be string (cast it first)`},
		{"binary hash key", []arrow.Field{f("data", arrow.BinaryTypes.Binary), f("partitionKey", arrow.BinaryTypes.String), f("explicitHashKey", arrow.BinaryTypes.Binary)},
			`kinesis sink: column "explicitHashKey" has type binary; it must be string (cast it first)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CheckSchema(arrow.NewSchema(tc.fields, nil))
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || err.Error() != tc.want) {
				t.Errorf("CheckSchema: %v\nwant %q", err, tc.want)
			}
		})
	}
}

// TestOptions: the spec parses every option, names unknown and malformed ones, and never
// prints secrets.
func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kv      map[string]string
		wantErr []string
	}{
		{"minimal", map[string]string{"streamName": "s"}, nil},
		{"all", map[string]string{"streamARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/s", "region": "eu-west-1",
			"endpoint": "http://127.0.0.1:4567", "maxInFlightRequests": "8", "maxAttempts": "3", "minRetryDelay": "50ms", "maxRetryDelay": "2s",
			"aggregationEnabled": "true", "aggregationMaxSize": "1mb", "awsAccessKey": "AKIA", "awsSecretKey": "SECRETVALUE",
			"awsSessionToken": "TOKENVALUE", "roleArn": "arn:aws:iam::123456789012:role/r", "roleExternalId": "ext", "roleSessionName": "sess"}, nil},
		{"missing stream", map[string]string{}, []string{`kinesis sink: option "streamName": required option is missing (or give streamARN)`}},
		{"both", map[string]string{"streamName": "s", "streamARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/s"}, []string{`option "streamARN": give streamName or streamARN, not both`}},
		{"unknown", map[string]string{"streamName": "s", "aggregationEnable": "true"}, []string{`option "aggregationEnable": unknown option (did you mean "aggregationEnabled"?)`}},
		{"bad values", map[string]string{"streamName": "s/x", "maxAttempts": "0", "aggregationMaxSize": "2mb", "minRetryDelay": "soon"},
			[]string{`option "aggregationMaxSize": invalid value "2mb"`, `option "maxAttempts": invalid value "0": must be between 1 and 1000`,
				`option "minRetryDelay": invalid value "soon"`, `option "streamName": invalid value "s/x"`}},
		{"delays", map[string]string{"streamName": "s", "minRetryDelay": "2s", "maxRetryDelay": "1s"}, []string{`option "maxRetryDelay": must be at least minRetryDelay (2s), got 1s`}},
		{"secret alone", map[string]string{"streamName": "s", "awsSecretKey": "SECRETVALUE"}, []string{`option "awsAccessKey": required when awsSecretKey is given`}},
		{"region mismatch", map[string]string{"streamARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/s", "region": "us-east-1"}, []string{`option "region": "us-east-1" differs from the region "eu-west-1" of the stream ARN`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := sinks.Default.Lookup("kinesis")
			if err != nil {
				t.Fatal(err)
			}
			_, err = f(tc.kv)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; want %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "SECRETVALUE") {
				t.Errorf("error %q shows a secret", err)
			}
		})
	}
}

// TestRedactOptions: Explain prints the sink's options through RedactOptions; the description
// names the stream only.
func TestRedactOptions(t *testing.T) {
	s, err := kinesis.New(func() kinesis.Options {
		o := kinesis.DefaultOptions()
		o.StreamARN, o.AWSAccessKey, o.AWSSecretKey = "arn:aws:kinesis:eu-west-1:123456789012:stream/orders", "AKIA", "SECRETVALUE"
		return o
	}())
	if err != nil {
		t.Fatal(err)
	}
	got := s.RedactOptions(map[string]string{"streamName": "orders", "awsAccessKey": "AKIA", "awsSecretKey": "SECRETVALUE", "awsSessionToken": "T", "roleExternalId": "E", "aws.secret": "S"})
	for _, k := range []string{"awsAccessKey", "awsSecretKey", "awsSessionToken", "roleExternalId", "aws.secret"} {
		if got[k] != optspec.Redacted {
			t.Errorf("%s = %q; want it redacted", k, got[k])
		}
	}
	if got["streamName"] != "orders" {
		t.Errorf("streamName = %q", got["streamName"])
	}
	if d := s.Description(); d != "KinesisSink[orders]" {
		t.Errorf("Description() = %q", d)
	}
}
