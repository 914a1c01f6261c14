package kinesis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/internal/localaws"
	"github.com/sluicedev/sluice/pipeline"
)

// jsonRows collects what a query writes, one map of column to formatted value per row.
type jsonRows struct {
	mu      sync.Mutex
	columns []string
	rows    []map[string]string
}

func (c *jsonRows) write(_ context.Context, rec arrow.RecordBatch, _ int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var cols []string
	for _, f := range rec.Schema().Fields() {
		cols = append(cols, f.Name+" "+f.Type.String())
	}
	c.columns = cols
	for i := range int(rec.NumRows()) {
		r := map[string]string{}
		for j, f := range rec.Schema().Fields() {
			r[f.Name] = arrowbatch.FormatValue(rec.Column(j), i)
		}
		c.rows = append(c.rows, r)
	}
	return nil
}

// byID returns the rows keyed by their id column.
func (c *jsonRows) byID() map[string]map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]map[string]string{}
	for _, r := range c.rows {
		out[r["id"]] = r
	}
	return out
}

// jsonEvents returns n JSON events; each has a nanosecond time and nested values.
func jsonEvents(from, n int, extra string) []localaws.Record {
	out := make([]localaws.Record, n)
	for k := range out {
		i := from + k
		level := "info"
		if i%3 == 0 {
			level = "error"
		}
		amount := fmt.Sprintf("%d.25", i) // a float...
		if i%2 == 0 {
			amount = fmt.Sprint(i) // ...or an integer: float64 together
		}
		doc := fmt.Sprintf(`{"id": %d, "level": %q, "amount": %s, "at": "2024-05-01T12:30:%02d.123456789Z", "geo": {"lat": 1.5, "city": "c%d"}, "tags": ["t%d"]%s}`,
			i, level, amount, i%60, i, i, extra)
		out[k] = localaws.Record{PartitionKey: fmt.Sprintf("k%d", i%4), Data: []byte(doc)}
	}
	return out
}

// runJSON runs a query over the stream with Trigger.AvailableNow and returns what it wrote.
func runJSON(t *testing.T, p *pipeline.Pipeline, kv map[string]string, schema *arrow.Schema, checkpoint string, shape func(*pipeline.Stream) *pipeline.Stream) (*jsonRows, *pipeline.Query, error) {
	t.Helper()
	out := &jsonRows{}
	r := p.ReadStream().Format("kinesis").Options(kv)
	if schema != nil {
		r = r.Schema(schema)
	}
	s := r.Load()
	if shape != nil {
		s = shape(s)
	}
	if checkpoint == "" {
		checkpoint = t.TempDir()
	}
	w := s.WriteStream().ForeachBatch(out.write).Trigger(pipeline.AvailableNow()).Option("checkpointLocation", checkpoint)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	q, err := w.Start(ctx)
	if err != nil {
		return nil, nil, err
	}
	err = q.AwaitTermination(ctx)
	return out, q, err
}

// TestJSONFormat reads JSON events with format=json, with a given schema and with an inferred
// one, from kinesis-local and kinesalite.
func TestJSONFormat(t *testing.T) {
	t.Parallel()
	for _, server := range []struct {
		name     string
		endpoint func(testing.TB) string
	}{{"kinesis-local", localaws.KinesisEndpoint}, {"kinesalite", localaws.KinesaliteEndpoint}} {
		t.Run(server.name, func(t *testing.T) {
			t.Parallel()
			ep := server.endpoint(t)
			c := localaws.KinesisClient(t, ep)
			name := localaws.CreateStream(t, c, 2)
			localaws.PutRecords(t, c, name, jsonEvents(0, 40, ""))
			kv := localOpts(ep, name, "initialPosition", "trim_horizon", "format", "json")

			t.Run("schema", func(t *testing.T) {
				schema := arrow.NewSchema([]arrow.Field{
					{Name: "id", Type: arrow.PrimitiveTypes.Int64},
					{Name: "at", Type: arrow.FixedWidthTypes.Timestamp_us},
					{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
					{Name: "geo", Type: arrow.StructOf(arrow.Field{Name: "city", Type: arrow.BinaryTypes.String, Nullable: true})},
				}, nil)
				got, q, err := runJSON(t, newPipeline(t), kv, schema, "", nil)
				if err != nil {
					t.Fatal(err)
				}
				wantCols := []string{"id int64", "at timestamp[us, tz=UTC]", "amount float64", "geo struct<city: utf8 nullable>",
					"partitionKey utf8", "stream utf8", "shardId utf8", "sequenceNumber utf8", "approximateArrivalTimestamp timestamp[us, tz=UTC]"}
				if diff := cmp.Diff(wantCols, got.columns); diff != "" {
					t.Errorf("columns (-want +got):\n%s", diff)
				}
				rows := got.byID()
				if len(rows) != 40 || len(got.rows) != 40 {
					t.Fatalf("%d rows, %d ids", len(got.rows), len(rows))
				}
				r := rows["7"]
				if r["at"] != "2024-05-01 12:30:07.123456" || r["amount"] != "7.25" || r["geo"] != `{c7}` ||
					r["partitionKey"] != "k3" || r["stream"] != name || !strings.HasPrefix(r["shardId"], "shardId-") {
					t.Errorf("row 7: %v", r)
				}
				if !strings.Contains(q.Explain(), "== Documents of KinesisV2["+name+"]: JSON in data, schema given ==\nid: int64\nat: timestamp[us, tz=UTC]") {
					t.Errorf("Explain:\n%s", q.Explain())
				}
			})

			t.Run("inferSchema", func(t *testing.T) {
				kv := localOpts(ep, name, "initialPosition", "trim_horizon", "format", "json", "inferSchema", "true", "inferSchemaSampleSize", "25")
				got, q, err := runJSON(t, newPipeline(t), kv, nil, "", func(s *pipeline.Stream) *pipeline.Stream {
					return s.Filter(`level == "error" && amount >= 3.0 && geo.lat == 1.5`).Select("id", "amount", "at", "geo.city AS city", "tags", "shardId")
				})
				if err != nil {
					t.Fatal(err)
				}
				wantCols := []string{"id int64", "amount float64", "at utf8", "city utf8", "tags list<item: utf8, nullable>", "shardId utf8"}
				if diff := cmp.Diff(wantCols, got.columns); diff != "" {
					t.Errorf("columns (-want +got):\n%s", diff)
				}
				rows := got.byID()
				if len(rows) != 13 { // ids 3, 6, ..., 39
					t.Errorf("%d rows: %v", len(rows), rows)
				}
				if r := rows["9"]; r["amount"] != "9.25" || r["at"] != "2024-05-01T12:30:09.123456789Z" || r["city"] != "c9" || r["tags"] != `[t9]` {
					t.Errorf("row 9: %v", r)
				}
				ex := q.Explain()
				for _, want := range []string{"inferSchema=true", "schema inferred at Start ==\namount: float64\nat: utf8\ngeo: struct<city: utf8 nullable, lat: float64 nullable>\nid: int64\nlevel: utf8\ntags: list<item: utf8, nullable>\n",
					"== Output Schema ==\nid: int64 (nullable = true)"} {
					if !strings.Contains(ex, want) {
						t.Errorf("Explain lacks %q:\n%s", want, ex)
					}
				}
			})
		})
	}
}

// TestJSONInferSchemaKept: the inferred schema is kept in the checkpoint; a restarted query
// decodes new records, with new fields, with it; a different given schema is refused; a CEL
// typo against an inferred column fails Start with a ValidationError.
func TestJSONInferSchemaKept(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesaliteEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 2)
	localaws.PutRecords(t, c, name, jsonEvents(0, 20, ""))
	kv := localOpts(ep, name, "initialPosition", "trim_horizon", "format", "json", "inferSchema", "true")
	dir := t.TempDir()

	first, _, err := runJSON(t, newPipeline(t), kv, nil, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.rows) != 20 {
		t.Fatalf("%d rows", len(first.rows))
	}
	kept, err := os.ReadFile(filepath.Join(dir, "sources", "0", "schema"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(kept), `{"version":1,"description":"KinesisV2[`+name+`]","format":"json","schema":"`) {
		t.Errorf("kept schema file: %s", kept)
	}

	// New records have a new field; the restarted query keeps the first schema.
	localaws.PutRecords(t, c, name, jsonEvents(20, 10, `, "extra": true`))
	second, q, err := runJSON(t, newPipeline(t), kv, nil, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(second.rows) != 10 {
		t.Fatalf("second run: %d rows", len(second.rows))
	}
	if diff := cmp.Diff(first.columns, second.columns); diff != "" {
		t.Errorf("the schema changed on restart (-first +second):\n%s", diff)
	}
	if !strings.Contains(q.Explain(), "schema inferred by an earlier run, kept in the checkpoint ==") {
		t.Errorf("Explain:\n%s", q.Explain())
	}

	// A given schema that differs from the kept one.
	other := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	if _, _, err := runJSON(t, newPipeline(t), kv, other, dir, nil); err == nil || !strings.Contains(err.Error(), "differs from the one an earlier run inferred and kept") {
		t.Errorf("a different schema: %v", err)
	}

	// A typo against an inferred column, on a new checkpoint (inferred now) and on the kept one.
	for _, cp := range []string{t.TempDir(), dir} {
		_, _, err := runJSON(t, newPipeline(t), kv, nil, cp, func(s *pipeline.Stream) *pipeline.Stream {
			return s.Filter(`levle == "error"`).Select("id", "amount * 2.0 AS twice", "nosuch")
		})
		var ve *pipeline.ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 2 || !strings.Contains(err.Error(), "levle") || !strings.Contains(err.Error(), "nosuch") {
			t.Errorf("a typo: %v", err)
		}
	}
}

// TestJSONMalformed: malformed documents follow the query's error policy.
func TestJSONMalformed(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesaliteEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 1)
	recs := jsonEvents(0, 6, "")
	recs[2].Data = []byte(`{"id": 2, "level": `)
	recs[4].Data = []byte(`not json`)
	localaws.PutRecords(t, c, name, recs)
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "level", Type: arrow.BinaryTypes.String}}, nil)
	kv := localOpts(ep, name, "initialPosition", "trim_horizon", "format", "json")

	t.Run("FailBatch", func(t *testing.T) {
		_, _, err := runJSON(t, newPipeline(t), kv, schema, "", nil)
		var be *pipeline.BatchError
		if !errors.As(err, &be) || be.Stage != "source KinesisV2["+name+"]" || !strings.Contains(err.Error(), "row 2: record shardId shardId-000000000000, sequenceNumber ") ||
			!strings.Contains(err.Error(), `json: unexpected end of JSON input; the document starts "{\"id\": 2, \"level\": "`) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("ErrorColumn", func(t *testing.T) {
		p := pipeline.New(pipeline.WithAllocator(newChecked(t)), pipeline.WithLogger(quietLogger(t)), pipeline.WithErrorPolicy(pipeline.ErrorColumn("err")))
		defer p.Close(context.Background())
		got, _, err := runJSON(t, p, kv, schema, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.rows) != 6 || got.columns[len(got.columns)-1] != "err utf8" {
			t.Fatalf("%d rows, columns %v", len(got.rows), got.columns)
		}
		var errs []string
		for _, r := range got.rows {
			if r["err"] != "NULL" {
				errs = append(errs, r["id"]+" "+r["level"]+" "+r["err"])
			}
		}
		sort.Strings(errs)
		if len(errs) != 2 || !strings.HasPrefix(errs[0], "NULL NULL json:") || !strings.HasPrefix(errs[1], "NULL NULL json:") {
			t.Errorf("failed rows: %q", errs)
		}
	})
	t.Run("SideOutput", func(t *testing.T) {
		var mu sync.Mutex
		var side []string
		fn := func(_ context.Context, failed arrow.RecordBatch) error {
			mu.Lock()
			defer mu.Unlock()
			data := failed.Column(failed.Schema().FieldIndices("data")[0])
			msg := failed.Column(failed.Schema().FieldIndices("_error")[0])
			for i := range int(failed.NumRows()) {
				side = append(side, string(data.(interface{ Value(int) []byte }).Value(i))+" | "+arrowbatch.FormatValue(msg, i))
			}
			return nil
		}
		p := pipeline.New(pipeline.WithAllocator(newChecked(t)), pipeline.WithLogger(quietLogger(t)), pipeline.WithErrorPolicy(pipeline.SideOutput(fn)))
		defer p.Close(context.Background())
		got, _, err := runJSON(t, p, kv, schema, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.rows) != 4 {
			t.Errorf("%d rows", len(got.rows))
		}
		sort.Strings(side)
		if len(side) != 2 || !strings.HasPrefix(side[0], `not json | json:`) || !strings.HasPrefix(side[1], `{"id": 2, "level":  | json:`) {
			t.Errorf("side output: %q", side)
		}
	})
}

// TestJSONInferNothingToSample: inferring from an empty stream, or from latest, fails Start with
// an error that says what to do.
func TestJSONInferNothingToSample(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesaliteEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 1)
	// From trim_horizon, starting elsewhere would not help: the advice is to write records.
	for pos, advice := range map[string]string{"trim_horizon": "or write records to the stream", "latest": "or start where records exist"} {
		kv := localOpts(ep, name, "initialPosition", pos, "format", "json", "inferSchema", "true")
		_, _, err := runJSON(t, newPipeline(t), kv, nil, "", nil)
		if err == nil || !strings.Contains(err.Error(), "give the schema with DataStreamReader.Schema(...), "+advice) {
			t.Errorf("%s: %v", pos, err)
		}
	}
}
