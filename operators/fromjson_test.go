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
		`f | NULL | NULL | NULL | json: column "s.x": cannot unmarshal no into Go value of type float64`,
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
