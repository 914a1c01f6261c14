package arrowbatch_test

import (
	"encoding/json"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/internal/testkit"
)

// TestAppendJSON: nested values are written as Spark's JSON writer writes them (structs in
// schema order, maps as objects, whole doubles with a fraction, decimals as numbers), and
// what is written reads back into the same schema.
func TestAppendJSON(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "s", Type: arrow.StructOf(
			arrow.Field{Name: "z", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
			arrow.Field{Name: "a", Type: arrow.BinaryTypes.String, Nullable: true}), Nullable: true},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64), Nullable: true},
		{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "d", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	docs := []string{
		`{"s":{"z":1,"a":"x"},"l":[1.5,null,2.0],"m":{"k":1,"j":2},"d":3.0}`,
		`{"s":{"z":null,"a":null},"l":[],"m":{},"d":"NaN"}`,
		`{"s":null,"l":null,"m":null,"d":null}`,
	}
	p, err := arrowbatch.NewJSONParser(schema)
	if err != nil {
		t.Fatal(err)
	}
	cols, failed := p.Parse(mem, len(docs), func(i int) []byte { return []byte(docs[i]) })
	if len(failed) > 0 {
		t.Fatalf("parse: %v", failed)
	}
	rec := array.NewRecordBatch(schema, cols, int64(len(docs)))
	for _, c := range cols {
		c.Release()
	}
	defer rec.Release()
	for r, want := range docs {
		b := []byte{'{'}
		for c, col := range rec.Columns() {
			if c > 0 {
				b = append(b, ',')
			}
			b = append(b, `"`+schema.Field(c).Name+`":`...)
			if b, err = arrowbatch.AppendJSON(b, col, r); err != nil {
				t.Fatal(err)
			}
		}
		b = append(b, '}')
		if string(b) != want {
			t.Errorf("row %d: wrote %s; want %s (what was read)", r, b, want)
		}
	}

	dt := &arrow.Decimal128Type{Precision: 20, Scale: 3}
	db := array.NewDecimal128Builder(mem, dt)
	defer db.Release()
	if err := db.AppendValueFromString("-1234.567"); err != nil {
		t.Fatal(err)
	}
	dec := db.NewArray()
	defer dec.Release()
	if got, _ := arrowbatch.AppendJSON(nil, dec, 0); string(got) != "-1234.567" {
		t.Errorf("decimal: %s; want the number -1234.567", got)
	}
	if got, err := json.Marshal(arrowbatch.JSONValue(rec.Column(2), 0)); err != nil || string(got) != `{"k":1,"j":2}` {
		t.Errorf("JSONValue of a map encodes as %s, %v", got, err)
	}
}

// TestAppendJSONNonFiniteInMaps: NaN and the infinities in map values are written as Spark
// writes them ("NaN", "Infinity", "-Infinity") and read back.
func TestAppendJSONNonFiniteInMaps(t *testing.T) {
	mem := testkit.CheckedAlloc(t)
	for _, vt := range []arrow.DataType{arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Float32} {
		schema := arrow.NewSchema([]arrow.Field{{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, vt), Nullable: true}}, nil)
		doc := `{"m":{"a":"NaN","b":"Infinity","c":"-Infinity","d":1.5}}`
		p, err := arrowbatch.NewJSONParser(schema)
		if err != nil {
			t.Fatal(err)
		}
		cols, failed := p.Parse(mem, 1, func(int) []byte { return []byte(doc) })
		if len(failed) > 0 {
			t.Fatalf("%s: parse: %v", vt, failed)
		}
		got, err := arrowbatch.AppendJSON([]byte(`{"m":`), cols[0], 0)
		cols[0].Release()
		if err != nil {
			t.Fatal(err)
		}
		if string(got)+"}" != doc {
			t.Errorf("%s: wrote %s}; want %s", vt, got, doc)
		}
	}
}
