package arrowbatch_test

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/arrowbatch"
)

// TestJSONMaps: a map column takes a JSON object, as Spark's from_json does with a MapType:
// entries in the document's order, {} an empty map, null a null map, null values kept; a
// value of the wrong type or a key twice fails the row, naming the value's path. The fast
// path and the generic one agree on every document.
func TestJSONMaps(t *testing.T) {
	str := arrow.BinaryTypes.String
	tests := []struct {
		name string
		typ  arrow.DataType
		doc  string
		want string // the map's value, or the row's error
		fail bool
	}{
		{"int64", arrow.MapOf(str, arrow.PrimitiveTypes.Int64), `{"m": {"k": 1, "j": 2}}`, `{k -> 1, j -> 2}`, false},
		{"one", arrow.MapOf(str, arrow.PrimitiveTypes.Int64), `{"m":{"k":1}}`, `{k -> 1}`, false},
		{"empty", arrow.MapOf(str, arrow.PrimitiveTypes.Int64), `{"m":{}}`, `{}`, false},
		{"empty spaced", arrow.MapOf(str, arrow.PrimitiveTypes.Int64), `{"m": { } }`, `{}`, false},
		{"null map", arrow.MapOf(str, arrow.PrimitiveTypes.Int64), `{"m": null}`, `NULL`, false},
		{"missing map", arrow.MapOf(str, arrow.PrimitiveTypes.Int64), `{"x": 1}`, `NULL`, false},
		{"null value", arrow.MapOf(str, arrow.PrimitiveTypes.Int64), `{"m": {"a": null, "b": 3}}`, `{a -> null, b -> 3}`, false},
		{"string", arrow.MapOf(str, str), `{"m": {"a": "x", "b": "y\n", "c": 1.50, "d": true, "e": [1, {"z": 2}]}}`, "{a -> x, b -> y\n, c -> 1.50, d -> true, e -> [1,{\"z\":2}]}", false},
		{"large string", arrow.MapOf(arrow.BinaryTypes.LargeString, arrow.BinaryTypes.LargeString), `{"m": {"a": "x"}}`, `{a -> x}`, false},
		{"double", arrow.MapOf(str, arrow.PrimitiveTypes.Float64), `{"m": {"a": 1, "b": -2.5e3}}`, `{a -> 1.0, b -> -2500.0}`, false},
		{"bool", arrow.MapOf(str, arrow.FixedWidthTypes.Boolean), `{"m": {"a": true, "b": false}}`, `{a -> true, b -> false}`, false},
		{"escaped key", arrow.MapOf(str, arrow.PrimitiveTypes.Int64), `{"m": {"a\"b": 1, "\u00e9": 2}}`, `{a"b -> 1, é -> 2}`, false},
		{"struct", arrow.MapOf(str, arrow.StructOf(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, arrow.Field{Name: "s", Type: str, Nullable: true})),
			`{"m": {"a": {"x": 1, "s": "t"}, "b": {"s": 2}}}`, `{a -> {1, t}, b -> {null, 2}}`, false},
		{"list", arrow.MapOf(str, arrow.ListOf(arrow.PrimitiveTypes.Int64)), `{"m": {"a": [1, 2], "b": [], "c": null}}`, `{a -> [1, 2], b -> [], c -> null}`, false},
		{"nested map", arrow.MapOf(str, arrow.MapOf(str, arrow.PrimitiveTypes.Int64)), `{"m": {"a": {"x": 1}, "b": {}, "c": null}}`, `{a -> {x -> 1}, b -> {}, c -> null}`, false},
		{"timestamp", arrow.MapOf(str, &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}), `{"m": {"a": "2024-01-01T00:00:00.1234Z"}}`, `{a -> 2024-01-01 00:00:00.123}`, false},

		{"wrong value", arrow.MapOf(str, arrow.PrimitiveTypes.Int64), `{"m": {"k": "x"}}`, `json: column "m.k": want an int64, got "x"`, true},
		{"float for int", arrow.MapOf(str, arrow.PrimitiveTypes.Int32), `{"m": {"k": 1.5}}`, `json: column "m.k": want an int32, got 1.5`, true},
		{"out of range", arrow.MapOf(str, arrow.PrimitiveTypes.Int8), `{"m": {"k": 300}}`, `json: column "m.k": want an int8, got 300`, true},
		{"object for double", arrow.MapOf(str, arrow.PrimitiveTypes.Float64), `{"m": {"k": {}}}`, `json: column "m.k": want a float64, got an object`, true},
		{"string for bool", arrow.MapOf(str, arrow.FixedWidthTypes.Boolean), `{"m": {"k": "true"}}`, `json: column "m.k": want a boolean, got "true"`, true},
		{"not an object", arrow.MapOf(str, arrow.PrimitiveTypes.Int64), `{"m": [["k", 1]]}`, `json: column "m": want an object for a map, got an array`, true},
		{"number for map", arrow.MapOf(str, arrow.PrimitiveTypes.Int64), `{"m": 5}`, `json: column "m": want an object for a map, got 5`, true},
		{"duplicate key", arrow.MapOf(str, arrow.PrimitiveTypes.Int64), `{"m": {"k": 1, "k": 2}}`, `json: column "m": the map key "k" shows up twice`, true},
		{"nested wrong", arrow.MapOf(str, arrow.MapOf(str, arrow.PrimitiveTypes.Int64)), `{"m": {"a": {"b": true}}}`, `json: column "m.a.b": want an int64, got true`, true},
		{"nested struct wrong", arrow.MapOf(str, arrow.StructOf(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true})), `{"m": {"a": {"x": "no"}}}`, `json: column "m.a.x": want an int64, got "no"`, true},
		{"nested timestamp wrong", arrow.MapOf(str, &arrow.TimestampType{Unit: arrow.Millisecond}), `{"m": {"a": "soon"}}`, `json: column "m.a": "soon" is not a valid timestamp: want RFC 3339, such as 2024-05-01T12:30:00.123456789Z, or an integer`, true},
		// The schema is made nullable, as Spark's from_json does (schema.asNullable).
		{"null in non-nullable", arrow.MapOfFields(arrow.Field{Type: str}, arrow.Field{Type: arrow.PrimitiveTypes.Int64}), `{"m": {"a": null}}`, `{a -> null}`, false},
		{"null in non-nullable list", arrow.MapOfFields(arrow.Field{Type: str}, arrow.Field{Type: arrow.ListOf(arrow.PrimitiveTypes.Int64)}), `{"m": {"a": null}}`, `{a -> null}`, false},
		{"huge double", arrow.MapOf(str, arrow.PrimitiveTypes.Float64), `{"m": {"a": 1e400, "b": -1e400, "c": "-INF"}}`, `{a -> Infinity, b -> -Infinity, c -> -Infinity}`, false},
		{"string for double", arrow.MapOf(str, arrow.PrimitiveTypes.Float64), `{"m": {"k": "1.5"}}`, `json: column "m.k": want a float64, got "1.5"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := arrowbatch.NewJSONParser(arrow.NewSchema([]arrow.Field{
				{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
				{Name: "m", Type: tt.typ, Nullable: true},
			}, nil))
			if err != nil {
				t.Fatal(err)
			}
			docs := []string{`{"id": 1}`, strings.Replace(tt.doc, "{", `{"id": 2, `, 1), `{"id": 3, "m": null}`}
			docs[1] = strings.Replace(docs[1], `{"id": 2, }`, `{"id": 2}`, 1)
			for _, q := range []*arrowbatch.JSONParser{p, arrowbatch.WithoutFastPath(p)} {
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				cols, failed := q.Parse(mem, len(docs), func(i int) []byte { return []byte(docs[i]) })
				var got string
				if tt.fail {
					if len(failed) != 1 || failed[0].Row != 1 {
						t.Fatalf("fast=%v: failures %v, want row 1 only", arrowbatch.HasFastPath(q), failed)
					}
					got = failed[0].Err.Error()
					if strings.HasSuffix(tt.want, " ") && strings.HasPrefix(got, tt.want) {
						got = tt.want
					}
					if s := arrowbatch.FormatValue(cols[0], 1); s != "NULL" {
						t.Errorf("the failed row has id %s", s)
					}
				} else {
					if len(failed) != 0 {
						t.Fatalf("fast=%v: failures %v", arrowbatch.HasFastPath(q), failed)
					}
					got = arrowbatch.FormatValue(cols[1], 1)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("fast=%v: %s (-want +got):\n%s", arrowbatch.HasFastPath(q), docs[1], diff)
				}
				if want := q.Schema().Field(1).Type; !arrow.TypeEqual(cols[1].DataType(), want) {
					t.Errorf("column of type %s, want %s", cols[1].DataType(), want)
				}
				for _, r := range []int{0, 2} {
					if s := arrowbatch.FormatValue(cols[1], r); s != "NULL" {
						t.Errorf("row %d: map %s, want NULL", r, s)
					}
				}
				for _, c := range cols {
					c.Release()
				}
				mem.AssertSize(t, 0)
			}
			parseBoth(t, p, docs)
		})
	}
}

// TestJSONMapKeysMustBeStrings: a map whose keys are not strings is refused up front.
func TestJSONMapKeysMustBeStrings(t *testing.T) {
	for _, typ := range []arrow.DataType{
		arrow.MapOf(arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int64),
		arrow.StructOf(arrow.Field{Name: "in", Type: arrow.MapOf(arrow.FixedWidthTypes.Boolean, arrow.BinaryTypes.String), Nullable: true}),
		arrow.MapOf(arrow.BinaryTypes.String, arrow.MapOf(arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64)),
	} {
		_, err := arrowbatch.NewJSONParser(arrow.NewSchema([]arrow.Field{{Name: "m", Type: typ, Nullable: true}}, nil))
		if err == nil || !strings.Contains(err.Error(), "a map's keys must be strings") {
			t.Errorf("%s: error %v, want one about the keys", typ, err)
		}
	}
}

// TestJSONMapFastPath: the fast path decodes maps of scalars itself and leaves maps of other
// values to the generic path.
func TestJSONMapFastPath(t *testing.T) {
	str := arrow.BinaryTypes.String
	fast, _ := arrowbatch.NewJSONParser(arrow.NewSchema([]arrow.Field{{Name: "m", Type: arrow.MapOf(str, arrow.PrimitiveTypes.Int64), Nullable: true}}, nil))
	if !arrowbatch.HasFastPath(fast) {
		t.Fatal("no fast path for a map of int64s")
	}
	for doc, want := range map[string]bool{`{"m": {"a": 1, "b": 2}}`: true, `{"m": {}}`: true, `{"m": null}`: true, `{"m": {"a": "x"}}`: false, `{"m": {"a": 1, "a": 2}}`: false, `{"m": {"a\n": 1}}`: false} {
		if got := arrowbatch.FastDecodes(fast, []byte(doc)); got != want {
			t.Errorf("%s: fast path %v, want %v", doc, got, want)
		}
	}
	slow, _ := arrowbatch.NewJSONParser(arrow.NewSchema([]arrow.Field{{Name: "m", Type: arrow.MapOf(str, arrow.ListOf(str)), Nullable: true}}, nil))
	if arrowbatch.HasFastPath(slow) {
		t.Error("a fast path for a map of lists")
	}
}
