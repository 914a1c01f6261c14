package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/checkpoint"
	"github.com/sluicedev/sluice/internal/testkit"
	"github.com/sluicedev/sluice/pipeline"
	"github.com/sluicedev/sluice/sources"
)

// Every transform without an OnError before it follows the pipeline's policy.
func ExampleWithErrorPolicy() {
	ctx := context.Background()
	p := pipeline.New(quiet, pipeline.WithErrorPolicy(pipeline.ErrorColumn("error")))
	defer p.Close(ctx)
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "3").Load().
		Select("value AS n", "6 / value AS share").
		WriteStream().Format("console").Option("truncate", "false").Trigger(pipeline.AvailableNow()).
		Start(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = q.AwaitTermination(ctx)
	// Output:
	// -------------------------------------------
	// Batch: 0
	// -------------------------------------------
	// +---+-----+--------------------------------------+
	// |n  |share|error                                 |
	// +---+-----+--------------------------------------+
	// |0  |NULL |"6 / value" (at 1:3): division by zero|
	// |1  |6    |NULL                                  |
	// |2  |3    |NULL                                  |
	// +---+-----+--------------------------------------+
}

// TestWithErrorPolicy: the pipeline's policy applies to the transforms that no OnError
// before them overrides.
func TestWithErrorPolicy(t *testing.T) {
	var mu sync.Mutex
	var side []string
	sideFn := func(_ context.Context, failed arrow.RecordBatch) error {
		mu.Lock()
		defer mu.Unlock()
		for i := range int(failed.NumRows()) {
			side = append(side, arrowbatch.FormatValue(failed.Column(0), i))
		}
		return nil
	}
	tests := []struct {
		name    string
		policy  []pipeline.ErrorPolicy
		onError *pipeline.ErrorPolicy
		rows    string // "n/err" of each output row
		side    []string
		fail    string
	}{
		{"default", nil, nil, "", nil, `operator WithColumn(share = 12 / (n % 3)): expr "12 / (n % 3)": row 0 (at 1:4): division by zero`},
		{"FailBatch", []pipeline.ErrorPolicy{pipeline.FailBatch()}, nil, "", nil, "division by zero"},
		{"ErrorColumn", []pipeline.ErrorPolicy{pipeline.ErrorColumn("err")}, nil,
			`0/"12 / (n % 3)" (at 1:4): division by zero 1/NULL 2/NULL 3/"12 / (n % 3)" (at 1:4): division by zero 4/NULL 5/NULL`, nil, ""},
		{"SideOutput", []pipeline.ErrorPolicy{pipeline.SideOutput(sideFn)}, nil, "1 2 4 5", []string{"0", "3"}, ""},
		{"OnError overrides", []pipeline.ErrorPolicy{pipeline.ErrorColumn("err")}, &[]pipeline.ErrorPolicy{pipeline.FailBatch()}[0], "", nil, "division by zero"},
		{"bad policy", []pipeline.ErrorPolicy{pipeline.ErrorColumn("")}, nil, "", nil, "ErrorColumn: the column name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			side = nil
			opts := []pipeline.Option{pipeline.WithLogger(testkit.Logger(t)), pipeline.WithAllocator(testkit.CheckedAlloc(t))}
			for _, p := range tt.policy {
				opts = append(opts, pipeline.WithErrorPolicy(p))
			}
			p := pipeline.New(opts...)
			defer p.Close(context.Background())
			s := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "6").Load().Select("value AS n")
			if tt.onError != nil {
				s = s.OnError(*tt.onError)
			}
			var got []string
			q, err := s.WithColumn("share", "12 / (n % 3)").
				WriteStream().Trigger(pipeline.AvailableNow()).Option("checkpointLocation", t.TempDir()).
				ForeachBatch(func(_ context.Context, rec arrow.RecordBatch, _ int64) error {
					for i := range int(rec.NumRows()) {
						row := arrowbatch.FormatValue(rec.Column(0), i)
						if idx := rec.Schema().FieldIndices("err"); len(idx) > 0 {
							row += "/" + arrowbatch.FormatValue(rec.Column(idx[0]), i)
						}
						got = append(got, row)
					}
					return nil
				}).Start(context.Background())
			if err == nil {
				err = await(t, q)
			}
			if tt.fail != "" {
				if err == nil || !strings.Contains(err.Error(), tt.fail) {
					t.Fatalf("error %v, want %q", err, tt.fail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.rows, strings.Join(got, " ")); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.side, side); diff != "" {
				t.Errorf("side output (-want +got):\n%s", diff)
			}
		})
	}
}

// docSource is a source whose rows carry JSON documents in the column body: its offsets are
// row counts.
type docSource struct {
	mu     sync.Mutex
	docs   []string
	schema *arrow.Schema // in its options
	infer  bool
	starts []string // the starts InferSchema was called with
	mem    memory.Allocator
}

var rawSchema = arrow.NewSchema([]arrow.Field{{Name: "key", Type: arrow.BinaryTypes.String}, {Name: "body", Type: arrow.BinaryTypes.Binary}}, nil)

func (s *docSource) Description() string   { return "Docs" }
func (s *docSource) Schema() *arrow.Schema { return rawSchema }
func (s *docSource) Open(_ context.Context, info sources.Info) error {
	s.mem = info.Allocator
	return nil
}
func (s *docSource) InitialOffset(context.Context) (sources.Offset, error) {
	return sources.Offset("0"), nil
}
func (s *docSource) LatestOffset(context.Context, sources.Offset, sources.ReadLimit) (sources.Offset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sources.Offset(strconv.Itoa(len(s.docs))), nil
}
func (s *docSource) Read(_ context.Context, start, end sources.Offset, emit sources.Emit) error {
	from, _ := strconv.Atoi(string(start))
	to, _ := strconv.Atoi(string(end))
	b := array.NewRecordBuilder(s.mem, rawSchema)
	defer b.Release()
	s.mu.Lock()
	for i := from; i < to; i++ {
		b.Field(0).(*array.StringBuilder).Append("k" + strconv.Itoa(i))
		b.Field(1).(*array.BinaryBuilder).Append([]byte(s.docs[i]))
	}
	s.mu.Unlock()
	rec := b.NewRecordBatch()
	defer rec.Release()
	return emit(rec)
}
func (s *docSource) Commit(context.Context, sources.Offset) error { return nil }
func (s *docSource) Close(context.Context) error                  { return nil }
func (s *docSource) Documents() (sources.Documents, bool) {
	return sources.Documents{Format: "json", Column: "body", Schema: s.schema, Infer: s.infer}, true
}
func (s *docSource) RecordKey() []string { return []string{"key"} }
func (s *docSource) InferSchema(_ context.Context, start sources.Offset) (*arrow.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starts = append(s.starts, string(start))
	from, _ := strconv.Atoi(string(start))
	var in arrowbatch.JSONInferrer
	for _, d := range s.docs[from:] {
		in.Add([]byte(d))
	}
	return in.Schema()
}

func (s *docSource) add(docs ...string) {
	s.mu.Lock()
	s.docs = append(s.docs, docs...)
	s.mu.Unlock()
}

// rowsOf collects a query's output rows as "col=value" lists.
type collected struct {
	mu      sync.Mutex
	columns []string
	rows    []string
}

func (c *collected) write(_ context.Context, rec arrow.RecordBatch, _ int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.columns = nil
	for _, f := range rec.Schema().Fields() {
		c.columns = append(c.columns, f.Name+" "+f.Type.String())
	}
	for i := range int(rec.NumRows()) {
		var cells []string
		for j := range int(rec.NumCols()) {
			cells = append(cells, arrowbatch.FormatValue(rec.Column(j), i))
		}
		c.rows = append(c.rows, strings.Join(cells, " | "))
	}
	return nil
}

func runDocs(t *testing.T, p *pipeline.Pipeline, src *docSource, schema *arrow.Schema, dir string, shape func(*pipeline.Stream) *pipeline.Stream) (*collected, *pipeline.Query, error) {
	t.Helper()
	r := p.ReadStream().Source(src)
	if schema != nil {
		r = r.Schema(schema)
	}
	s := r.Load()
	if shape != nil {
		s = shape(s)
	}
	out := &collected{}
	q, err := s.WriteStream().ForeachBatch(out.write).Option("checkpointLocation", dir).Trigger(pipeline.AvailableNow()).Start(context.Background())
	if err != nil {
		return nil, nil, err
	}
	return out, q, await(t, q)
}

func newDocsPipeline(t *testing.T, opts ...pipeline.Option) *pipeline.Pipeline {
	p := pipeline.New(append([]pipeline.Option{pipeline.WithLogger(testkit.Logger(t)), pipeline.WithAllocator(testkit.CheckedAlloc(t))}, opts...)...)
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// TestDocumentsInferred: a source's documents are decoded with the inferred schema, kept in the
// checkpoint and used again on restart; operators are checked against it at Start.
func TestDocumentsInferred(t *testing.T) {
	dir := t.TempDir()
	src := &docSource{infer: true, docs: []string{`{"level": "info", "id": 1}`, `{"id": 2.5, "tags": ["a"]}`}}
	out, q, err := runDocs(t, newDocsPipeline(t), src, nil, dir, func(s *pipeline.Stream) *pipeline.Stream {
		return s.Filter("id > 0.0")
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"id float64", "level utf8", "tags list<item: utf8, nullable>", "key utf8"}
	if diff := cmp.Diff(want, out.columns); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`1.0 | info | NULL | k0`, `2.5 | NULL | [a] | k1`}, out.rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{""}, src.starts); diff != "" {
		t.Errorf("InferSchema starts (-want +got):\n%s", diff)
	}
	for _, s := range []string{"+- Filter(id > 0.0)\n   +- Source Docs\n", "== Output Schema ==\nid: float64 (nullable = true)",
		"== Documents of Docs: JSON in body, schema inferred at Start ==\nid: float64\nlevel: utf8\ntags: list<item: utf8, nullable>\n"} {
		if !strings.Contains(q.Explain(), s) {
			t.Errorf("Explain lacks %q:\n%s", s, q.Explain())
		}
	}

	// Restart: the kept schema decodes the new documents; new fields are ignored.
	src.add(`{"id": 3, "level": "warn", "extra": {"x": 1}}`)
	src.starts = nil
	out, q, err = runDocs(t, newDocsPipeline(t), src, nil, dir, func(s *pipeline.Stream) *pipeline.Stream {
		return s.Filter("id > 0.0")
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{`3.0 | warn | NULL | k2`}, out.rows); diff != "" {
		t.Errorf("rows after restart (-want +got):\n%s", diff)
	}
	if len(src.starts) != 0 {
		t.Errorf("the restarted query inferred again from %v", src.starts)
	}
	if !strings.Contains(q.Explain(), "schema inferred by an earlier run, kept in the checkpoint ==") {
		t.Errorf("Explain:\n%s", q.Explain())
	}

	// A typo against an inferred column, a type error, and a bad union: every problem, at Start.
	other := &docSource{schema: arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)}
	p := newDocsPipeline(t)
	_, _, err = runDocs(t, p, src, nil, t.TempDir(), func(s *pipeline.Stream) *pipeline.Stream {
		return s.Select("id", "key AS x").Union(p.ReadStream().Source(other).Load().Select("id", "key AS x")).
			Filter("idd > 0 && x + 1 > 2")
	})
	var ve *pipeline.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 2 {
		t.Fatalf("error %v, want a ValidationError with 2 problems", err)
	}
	for i, want := range []string{"Union: input 2: column 1 (id) has type int64, the first input's (id) has float64", "Filter(idd > 0 && x + 1 > 2)"} {
		if !strings.HasPrefix(ve.Problems[i].Error(), want) {
			t.Errorf("problem %d: %v, want %q", i, ve.Problems[i], want)
		}
	}

	// A given schema must match the kept one (nullability aside).
	given := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Float64}, {Name: "level", Type: arrow.BinaryTypes.String},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String)}}, nil)
	if _, _, err := runDocs(t, newDocsPipeline(t), src, given, dir, nil); err != nil {
		t.Errorf("the kept schema, given: %v", err)
	}
	given = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	if _, _, err := runDocs(t, newDocsPipeline(t), src, given, dir, nil); err == nil || !strings.Contains(err.Error(), "given: id int64\n  kept:  id float64, level utf8, tags list<item: utf8, nullable>") {
		t.Errorf("another schema, given: %v", err)
	}

	// A damaged kept schema stops the query.
	if err := os.WriteFile(filepath.Join(dir, "sources", "0", "schema"), []byte(`{"version":1,"description":"Docs","format":"json","schema":"AAAA"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var ce *checkpoint.CorruptError
	if _, _, err := runDocs(t, newDocsPipeline(t), src, nil, dir, nil); !errors.As(err, &ce) {
		t.Errorf("damaged schema file: %v", err)
	}
}

// TestDocumentsInferFrom: InferSchema starts where the query's next batch starts.
func TestDocumentsInferFrom(t *testing.T) {
	dir := t.TempDir()
	raw := &docSource{docs: []string{`{"a": 1}`}}
	// A first run reads the stream as raw bytes (with a given schema) and commits offset 1.
	if _, _, err := runDocs(t, newDocsPipeline(t), raw, arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}}, nil), dir, nil); err != nil {
		t.Fatal(err)
	}
	src := &docSource{infer: true, docs: []string{`{"a": 1}`, `{"b": "x"}`}}
	out, _, err := runDocs(t, newDocsPipeline(t), src, nil, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1"}, src.starts); diff != "" {
		t.Errorf("InferSchema starts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"b utf8", "key utf8"}, out.columns); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
}

// TestDocumentsErrorPolicy: malformed documents follow the pipeline's error policy.
func TestDocumentsErrorPolicy(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	docs := []string{`{"id": 1}`, `{"id": `, `{"id": "two"}`, `{"id": 4}`}
	t.Run("FailBatch", func(t *testing.T) {
		_, _, err := runDocs(t, newDocsPipeline(t), &docSource{docs: docs}, schema, t.TempDir(), nil)
		var be *pipeline.BatchError
		if !errors.As(err, &be) || be.Stage != "source Docs" || !strings.Contains(err.Error(), `row 1: record key k1: json: unexpected end of JSON input; the document starts "{\"id\": " (2 rows of the batch failed)`) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("ErrorColumn", func(t *testing.T) {
		out, _, err := runDocs(t, newDocsPipeline(t, pipeline.WithErrorPolicy(pipeline.ErrorColumn("err"))), &docSource{docs: docs}, schema, t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"1 | k0 | NULL", "NULL | k1 | json: unexpected end of JSON input", "NULL | k2 | json: column \"id\": want an int64, got \"two\"", "4 | k3 | NULL"}
		if len(out.rows) != 4 {
			t.Fatalf("rows %q", out.rows)
		}
		for i, w := range want {
			if !strings.HasPrefix(out.rows[i], w) {
				t.Errorf("row %d: %q, want %q...", i, out.rows[i], w)
			}
		}
	})
	t.Run("ErrorColumn named like a field", func(t *testing.T) {
		withErr := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "err", Type: arrow.BinaryTypes.String}}, nil)
		_, _, err := runDocs(t, newDocsPipeline(t, pipeline.WithErrorPolicy(pipeline.ErrorColumn("err"))), &docSource{docs: docs}, withErr, t.TempDir(), nil)
		if err == nil || !strings.Contains(err.Error(), `the JSON field "err" has the name of the error column`) {
			t.Fatalf("error %v; want the clash refused", err)
		}
	})
	t.Run("a transform's row error names the record", func(t *testing.T) {
		good := []string{`{"id": 1}`, `{"id": 0}`, `{"id": 4}`}
		_, _, err := runDocs(t, newDocsPipeline(t), &docSource{docs: good}, schema, t.TempDir(), func(s *pipeline.Stream) *pipeline.Stream {
			return s.Filter("id >= 0").WithColumn("q", "100 / id")
		})
		if err == nil || !strings.Contains(err.Error(), `operator WithColumn(q = 100 / id): record key k1: expr "100 / id": row 1 (at 1:5): division by zero`) {
			t.Fatalf("error %v; want the failed row named by its record key", err)
		}
	})
	t.Run("SideOutput", func(t *testing.T) {
		var side []string
		fn := func(_ context.Context, failed arrow.RecordBatch) error {
			for i := range int(failed.NumRows()) {
				side = append(side, string(failed.Column(1).(*array.Binary).Value(i))+" | "+failed.Schema().Field(2).Name)
			}
			return nil
		}
		out, _, err := runDocs(t, newDocsPipeline(t, pipeline.WithErrorPolicy(pipeline.SideOutput(fn))), &docSource{docs: docs}, schema, t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"1 | k0", "4 | k3"}, out.rows); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{`{"id":  | _error`, `{"id": "two"} | _error`}, side); diff != "" {
			t.Errorf("side output (-want +got):\n%s", diff)
		}
	})
}

// TestDocumentsValidation: what resolve refuses, before any I/O.
func TestDocumentsValidation(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	p := newDocsPipeline(t)
	for _, tt := range []struct {
		name string
		src  sources.Source
		give *arrow.Schema
		want string
	}{
		{"no schema", &docSource{}, nil, `source Docs: option "format" is json, but no schema is given`},
		{"empty schema", &docSource{}, arrow.NewSchema(nil, nil), "ReadStream: the schema given with Schema(...) has no fields"},
		{"two schemas", &docSource{schema: schema}, arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil), "differs from the one in the source's options"},
		{"clash", &docSource{}, arrow.NewSchema([]arrow.Field{{Name: "key", Type: arrow.PrimitiveTypes.Int64}}, nil), `the JSON field "key" has the name of a column of the records (key)`},
		{"typo", &docSource{schema: schema}, nil, "undeclared reference to 'idd'"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := p.ReadStream().Source(tt.src)
			if tt.give != nil {
				r = r.Schema(tt.give)
			}
			_, err := r.Load().Filter("idd > 1").WriteStream().Format("console").Start(context.Background())
			var ve *pipeline.ValidationError
			if !errors.As(err, &ve) || !slices.ContainsFunc(ve.Problems, func(e error) bool { return strings.Contains(e.Error(), tt.want) }) {
				t.Errorf("error %v, want a ValidationError with %q", err, tt.want)
			}
		})
	}
}

// TestDocumentsInferredAggregation: an aggregation after a source whose schema is inferred is
// checked at Start against the inferred schema, output-mode rules included.
func TestDocumentsInferredAggregation(t *testing.T) {
	docs := []string{`{"level": "info"}`, `{"level": "error"}`, `{"level": "info"}`}
	out := &collected{}
	q, err := newDocsPipeline(t).ReadStream().Source(&docSource{infer: true, docs: docs}).Load().GroupBy("level").Count().
		WriteStream().OutputMode("complete").ForeachBatch(out.write).
		Option("checkpointLocation", t.TempDir()).Trigger(pipeline.AvailableNow()).Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := await(t, q); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"error | 1", "info | 2"}, out.rows); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	// Append mode needs a watermarked key: known only once the schema is inferred.
	p := newDocsPipeline(t)
	_, err = p.ReadStream().Source(&docSource{infer: true, docs: docs}).Load().GroupBy("level").Count().
		WriteStream().OutputMode("append").ForeachBatch(func(context.Context, arrow.RecordBatch, int64) error { return nil }).
		Option("checkpointLocation", t.TempDir()).Start(context.Background())
	var ve *pipeline.ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "output mode append is not supported") {
		t.Fatalf("Start: %v; want a ValidationError about append mode", err)
	}
	// A typo in a grouping key fails Start too.
	_, err = p.ReadStream().Source(&docSource{infer: true, docs: docs}).Load().GroupBy("levle").Count().
		WriteStream().OutputMode("update").ForeachBatch(func(context.Context, arrow.RecordBatch, int64) error { return nil }).
		Option("checkpointLocation", t.TempDir()).Start(context.Background())
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "levle") {
		t.Fatalf("Start: %v; want a ValidationError naming levle", err)
	}
}

// TestUnionOfInferredSchemas: inputs of a union whose documents' schemas are inferred at Start
// are relabelled with the first input's names too (the union's schema is known only then).
func TestUnionOfInferredSchemas(t *testing.T) {
	p := newDocsPipeline(t)
	a := p.ReadStream().Source(&docSource{infer: true, docs: []string{`{"a": 1, "b": "x"}`}}).Load().Select("a", "b")
	b := p.ReadStream().Source(&docSource{infer: true, docs: []string{`{"c": 10, "d": "z"}`, `{"c": 11, "d": "y"}`}}).Load().Select("c", "d")
	out := &collected{}
	q, err := a.Union(b).Filter("a > 0").WriteStream().ForeachBatch(out.write).
		Option("checkpointLocation", t.TempDir()).Trigger(pipeline.AvailableNow()).Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := await(t, q); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(out.rows))
	if diff := cmp.Diff([]string{"1 | x", "10 | z", "11 | y"}, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a int64", "b utf8"}, out.columns); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
}
