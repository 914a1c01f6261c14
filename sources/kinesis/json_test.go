package kinesis

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/internal/kpl"
	"github.com/sluicedev/sluice/pipeline"
	"github.com/sluicedev/sluice/sources"
)

func fieldsOf(s *arrow.Schema) string {
	var parts []string
	for _, f := range s.Fields() {
		parts = append(parts, f.Name+" "+f.Type.String())
	}
	return strings.Join(parts, ", ")
}

// TestInferSchemaFake samples a fake stream: across shards, through KPL aggregates, from the
// initial position or from an offset, and without consuming the records.
func TestInferSchemaFake(t *testing.T) {
	f := newFakeAPI()
	f.create("s", 2)
	sh0, sh1 := "shardId-000000000000", "shardId-000000000001"
	var agg kpl.Aggregator
	for i := range 5 {
		if err := agg.Add(fmt.Sprintf("u%d", i), "", []byte(fmt.Sprintf(`{"b": %d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	_, _, data := agg.Flush()
	f.put("s", sh0, time.Now(), "k", []byte(`{"a": 1}`))
	f.put("s", sh0, time.Now(), "k", data)
	f.put("s", sh0, time.Now(), "k", []byte(`{"c": "x"}`), []byte(`not json`))
	f.put("s", sh1, time.Now(), "k", []byte(`{"a": 2.5}`))

	open := func(t *testing.T, sample int64, pos PositionKind) *Source {
		o := fakeOptions(f, "s")
		o.Format, o.InferSchema, o.InferSchemaSampleSize = FormatJSON, true, sample
		o.InitialPosition = InitialPosition{Kind: pos}
		s, _ := openSource(t, o)
		return s
	}
	t.Run("all", func(t *testing.T) {
		s := open(t, 1000, TrimHorizon)
		d, ok := s.Documents()
		if !ok || d.Format != "json" || d.Column != "data" || !d.Infer || d.Schema != nil {
			t.Errorf("Documents() = %+v, %v", d, ok)
		}
		schema, err := s.InferSchema(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := fieldsOf(schema); got != "a float64, b int64, c utf8" {
			t.Errorf("schema %s", got)
		}
		// Nothing was consumed: the batches read every record.
		start, err := s.InitialOffset(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := readUntil(t, s, start, 9, 10*time.Second)
		if len(rows) != 9 {
			t.Errorf("%d rows after inference", len(rows))
		}
	})
	t.Run("a sample of two", func(t *testing.T) {
		s := open(t, 2, TrimHorizon)
		schema, err := s.InferSchema(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := fieldsOf(schema); got != "a float64" { // one record of each shard
			t.Errorf("schema %s", got)
		}
	})
	t.Run("from an offset inside an aggregate", func(t *testing.T) {
		s := open(t, 1000, TrimHorizon)
		start, err := s.InitialOffset(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := readUntil(t, s, start, 9, 10*time.Second)
		var aggSeq string
		for _, r := range rows {
			if r.PartitionKey == "u0" {
				aggSeq = r.Seq
			}
		}
		o, _ := decodeOffset(start)
		o.streams["s"].shards[sh0] = after(aggSeq, 3) // u0..u3 read
		o.streams["s"].shards[sh1] = closedPos()
		schema, err := open(t, 1000, Latest).InferSchema(t.Context(), o.encode())
		if err != nil {
			t.Fatal(err)
		}
		if got := fieldsOf(schema); got != "b int64, c utf8" {
			t.Errorf("schema %s", got)
		}
	})
	t.Run("latest", func(t *testing.T) {
		_, err := open(t, 1000, Latest).InferSchema(t.Context(), nil)
		if err == nil || !strings.Contains(err.Error(), "initialPosition latest") || !strings.Contains(err.Error(), "DataStreamReader.Schema") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		// An empty stream read from trim_horizon: starting elsewhere would not help.
		f.create("empty", 1)
		o := fakeOptions(f, "empty")
		o.Format, o.InferSchema, o.InitialPosition = FormatJSON, true, InitialPosition{Kind: TrimHorizon}
		s, _ := openSource(t, o)
		_, err := s.InferSchema(t.Context(), nil)
		if err == nil || !strings.Contains(err.Error(), "has no records") || strings.Contains(err.Error(), "start where records exist") {
			t.Errorf("error %v, want one that does not advise trim_horizon", err)
		}
	})
	t.Run("raw", func(t *testing.T) {
		o := fakeOptions(f, "s")
		s, _ := openSource(t, o)
		if _, ok := s.Documents(); ok {
			t.Error("format raw has documents")
		}
		if _, err := s.InferSchema(t.Context(), nil); err == nil {
			t.Error("format raw inferred a schema")
		}
	})
}

// TestJSONOptionsAtStart: the combinations of format, inferSchema and Schema that cannot work
// fail Start with a ValidationError naming the option, before any I/O.
func TestJSONOptionsAtStart(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	clash := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "stream", Type: arrow.BinaryTypes.String},
		{Name: "shardId", Type: arrow.BinaryTypes.String}, {Name: "data", Type: arrow.BinaryTypes.String}}, nil)
	tests := []struct {
		name   string
		opts   []string
		schema *arrow.Schema
		want   []string
	}{
		{"json without a schema", []string{"format", "json"}, nil,
			[]string{`source KinesisV2[s]: option "format" is json, but no schema is given: give it with Schema(...) on the reader, or set option inferSchema=true`}},
		{"a schema with format raw", nil, schema,
			[]string{"ReadStream: Schema(...) is given, but source KinesisV2[s] does not decode documents (for Kinesis, set option format=json)"}},
		{"inferSchema with format raw", []string{"inferSchema", "true"}, nil,
			[]string{`kinesis source: option "inferSchema": needs format=json (with format raw, data is kept as bytes)`}},
		{"bad format", []string{"format", "csv"}, nil,
			[]string{`kinesis source: option "format": invalid value "csv": must be raw or json`}},
		{"JSON fields named like record columns", []string{"format", "json"}, clash,
			[]string{`source KinesisV2[s]: the JSON fields "stream", "shardId" have the name of a column of the records (partitionKey, stream, shardId, sequenceNumber, approximateArrivalTimestamp), which the decoded rows keep`}},
		{"a typo with a given schema", []string{"format", "json"}, schema,
			[]string{`Filter(idd > 0): expr: "idd > 0": 1 error`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPipeline(t)
			kv := localOpts("http://127.0.0.1:1", "s", tt.opts...) // nothing listens: no I/O happens
			r := p.ReadStream().Format("kinesis").Options(kv)
			if tt.schema != nil {
				r = r.Schema(tt.schema)
			}
			_, err := r.Load().Filter("idd > 0").WriteStream().Format("console").Start(t.Context())
			var ve *pipeline.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v, want a ValidationError", err)
			}
			var got []string
			for _, p := range ve.Problems {
				if !strings.HasPrefix(p.Error(), "Filter(idd > 0)") || strings.HasPrefix(tt.want[0], "Filter") {
					got = append(got, strings.SplitN(p.Error(), "\n", 2)[0])
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

var _ sources.SchemaInferrer = (*Source)(nil)

// TestBadOptionNoFollowUpProblems: a bad option (with inferSchema, so that the schema is not
// known yet) is the only problem reported: the aggregation after the source is not also said
// to need a known schema.
func TestBadOptionNoFollowUpProblems(t *testing.T) {
	kv := localOpts("http://127.0.0.1:1", "s", "format", "json", "inferSchema", "true", "maxFetchDuration", "soon")
	_, err := newPipeline(t).ReadStream().Format("kinesis").Options(kv).Load().
		GroupBy("user").Count().WriteStream().OutputMode("update").Format("console").Start(t.Context())
	var ve *pipeline.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v, want a ValidationError", err)
	}
	if len(ve.Problems) != 1 || !strings.Contains(ve.Problems[0].Error(), `option "maxFetchDuration"`) {
		t.Errorf("problems %q; want the bad option alone", ve.Problems)
	}
}
