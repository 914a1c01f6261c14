package operators_test

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/operators"
)

// TestFromJSONMap: a map field takes a JSON object ({} an empty map, null a null map, null
// values kept, entries of structs too); a bad value fails only its row, which the error column
// keeps with a message naming the value's path.
func TestFromJSONMap(t *testing.T) {
	mem := checkedAlloc(t)
	inSchema := arrow.NewSchema([]arrow.Field{
		{Name: "pk", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "doc", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	in, _, err := array.RecordFromJSON(mem, inSchema, strings.NewReader(`[
		{"pk": "a", "doc": "{\"id\": 1, \"m\": {\"k\": 1, \"j\": 2}, \"s\": {\"x\": {\"v\": 1.5}}}"},
		{"pk": "b", "doc": "{\"id\": 2, \"m\": {}}"},
		{"pk": "c", "doc": "{\"id\": 3, \"m\": null, \"s\": {\"y\": null}}"},
		{"pk": "d", "doc": "{\"id\": 4, \"m\": {\"k\": \"x\"}}"},
		{"pk": "e", "doc": "{\"id\": 5, \"m\": {\"k\": 1, \"k\": 2}}"},
		{"pk": "f", "doc": "{\"id\": 6, \"s\": {\"x\": {\"v\": \"no\"}}}"},
		{"pk": "g", "doc": null}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Release()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "s", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.StructOf(arrow.Field{Name: "v", Type: arrow.PrimitiveTypes.Float64, Nullable: true})), Nullable: true},
	}, nil)
	out, err := run(t, mem, operators.FromJSON("doc", schema, operators.Options{OnError: operators.ErrorColumn("err")}), in)
	if err != nil {
		t.Fatal(err)
	}
	wantSchema := []string{"pk utf8", "id int64", "m map<utf8, int64, items_nullable>", "s map<utf8, struct<v: float64 nullable>, items_nullable>", "err utf8"}
	if diff := cmp.Diff(wantSchema, out.schema); diff != "" {
		t.Errorf("schema (-want +got):\n%s", diff)
	}
	want := []string{
		"a | 1 | {k -> 1, j -> 2} | {x -> {1.5}} | NULL",
		"b | 2 | {} | NULL | NULL",
		"c | 3 | NULL | {y -> null} | NULL",
		`d | NULL | NULL | NULL | json: column "m.k": want an int64, got "x"`,
		`e | NULL | NULL | NULL | json: column "m": the map key "k" shows up twice`,
		`f | NULL | NULL | NULL | json: column "s.x.v": want a float64, got "no"`,
		"g | NULL | NULL | NULL | NULL",
	}
	if diff := cmp.Diff(want, out.rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// TestFromJSONMapKeys: a map whose keys are not strings is refused when the operator is
// planned, not at run time.
func TestFromJSONMapKeys(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "m", Type: arrow.MapOf(arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int64), Nullable: true}}, nil)
	op := operators.FromJSON("data", schema, operators.Options{OnError: operators.ErrorColumn("err")})
	for _, in := range []*arrow.Schema{events, nil} {
		if _, err := op.OutputSchema(in); err == nil || !strings.Contains(err.Error(), `column "m": a map's keys must be strings`) {
			t.Errorf("OutputSchema(%v): %v, want an error about the keys", in, err)
		}
	}
}

// TestFromJSONNullable: the schema is made nullable, as Spark's from_json does: a NOT NULL
// field of a struct that a document leaves out is a null, and the rows keep their values
// (it panicked with "mismatch number of rows"); a schema with two fields of one name fails
// when the operator is planned, at the top or in a struct.
func TestFromJSONNullable(t *testing.T) {
	mem := checkedAlloc(t)
	inSchema := arrow.NewSchema([]arrow.Field{{Name: "doc", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	in, _, err := array.RecordFromJSON(mem, inSchema, strings.NewReader(`[
		{"doc": "{\"s\": {}, \"n\": 1}"},
		{"doc": "{\"s\": {\"x\": 2}, \"n\": 2}"},
		{"doc": "{\"s\": {\"x\": 3}, \"n\": 3, \"l\": [1, null]}"},
		{"doc": "{\"n\": 1.5}"}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Release()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64})},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64},
		{Name: "l", Type: arrow.ListOfNonNullable(arrow.PrimitiveTypes.Int64)},
	}, nil)
	out, err := run(t, mem, operators.FromJSON("doc", schema, operators.Options{OnError: operators.ErrorColumn("err")}), in)
	if err != nil {
		t.Fatal(err)
	}
	wantSchema := []string{"s struct<x: int64 nullable>", "n int64", "l list<item: int64, nullable>", "err utf8"}
	if diff := cmp.Diff(wantSchema, out.schema); diff != "" {
		t.Errorf("schema (-want +got):\n%s", diff)
	}
	want := []string{
		"{null} | 1 | NULL | NULL",
		"{2} | 2 | NULL | NULL",
		"{3} | 3 | [1, null] | NULL",
		`NULL | NULL | NULL | json: column "n": want an int64, got 1.5`,
	}
	if diff := cmp.Diff(want, out.rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	for _, bad := range []*arrow.Schema{
		arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}, {Name: "a", Type: arrow.BinaryTypes.String}}, nil),
		arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64}, arrow.Field{Name: "a", Type: arrow.BinaryTypes.String})}}, nil),
	} {
		_, err := operators.FromJSON("doc", bad, operators.Options{}).OutputSchema(inSchema)
		if err == nil || !strings.Contains(err.Error(), `two fields named "a"`) {
			t.Errorf("schema %s: error %v, want one naming the field a", bad, err)
		}
	}
}

// TestFromJSONFailBatchError: under FailBatch, the error names the row of the batch, the column
// and the value, and shows the start of the document.
func TestFromJSONFailBatchError(t *testing.T) {
	mem := checkedAlloc(t)
	inSchema := arrow.NewSchema([]arrow.Field{{Name: "doc", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	long := `{\"n\": 1.5, \"pad\": \"` + strings.Repeat("x", 200) + `\"}`
	in, _, err := array.RecordFromJSON(mem, inSchema, strings.NewReader(`[{"doc": "{\"n\": 1}"}, {"doc": "`+long+`"}]`))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	_, err = run(t, mem, operators.FromJSON("doc", schema, operators.Options{}), in)
	want := `row 1: json: column "n": want an int64, got 1.5; the document starts "{\"n\": 1.5, \"pad\": \"xxx`
	if err == nil || !strings.Contains(err.Error(), want) || !strings.HasSuffix(err.Error(), `xxx"...`) || strings.Contains(err.Error(), strings.Repeat("x", 100)) {
		t.Errorf("error %v, want one containing %s and only the document's first 100 bytes", err, want)
	}
}
