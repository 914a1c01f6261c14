package arrowbatch_test

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/arrowbatch"
)

var jsonSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "level", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
	{Name: "geo", Type: arrow.StructOf(arrow.Field{Name: "lat", Type: arrow.PrimitiveTypes.Float64, Nullable: true}), Nullable: true},
}, nil)

// TestJSONParser: each document fills one row; a bad one fails its row alone and leaves it null,
// whatever column the decoder had reached.
func TestJSONParser(t *testing.T) {
	tests := []struct {
		doc  string // "<nil>" for a null value
		row  string
		fail string
	}{
		{`{"id": 1, "level": "info", "at": "2024-01-01T00:00:00Z", "tags": ["a", "b"], "geo": {"lat": 1.5}}`, `1 | info | 2024-01-01 00:00:00 | ["a","b"] | {"lat":1.5}`, ""},
		{`{"id": 2, "extra": {"deep": [1, 2]}}`, `2 | NULL | NULL | NULL | NULL`, ""},
		{`  {"level": "warn"}  `, `NULL | warn | NULL | NULL | NULL`, ""},
		{`{"id": "x"}`, "", "json: cannot unmarshal"},
		{`{"id": 3, "tags": ["a", 3]}`, "", "json: cannot unmarshal"},
		{`{"id": 4, "geo": {"lat": "north"}}`, "", "json: cannot unmarshal"},
		{`{"id": 5}{"id": 6}`, "", "invalid data after the top-level object"},
		{`{"id": 5} x }`, "", "invalid data after the top-level object"},
		{`{"id": 7`, "", "unexpected end of JSON input"},
		{`[1, 2]`, "", "not an object"},
		{``, "", "empty document"},
		{`null`, `NULL | NULL | NULL | NULL | NULL`, ""},
		{`<nil>`, `NULL | NULL | NULL | NULL | NULL`, ""},
		{`{"id": 9, "level": "h\u00e9"}`, `9 | hé | NULL | NULL | NULL`, ""},
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	p, err := arrowbatch.NewJSONParser(jsonSchema)
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	for _, tt := range tests {
		if tt.doc == "<nil>" {
			b.AppendNull()
		} else {
			b.AppendString(tt.doc)
		}
	}
	docs := b.NewArray()
	b.Release()
	defer docs.Release()
	cols, failed, err := p.ParseColumn(mem, docs)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	fails := map[int]string{}
	for _, f := range failed {
		fails[f.Row] = f.Err.Error()
	}
	for i, tt := range tests {
		var cells []string
		for _, c := range cols {
			if c.Len() != len(tests) {
				t.Fatalf("a column has %d rows, want %d", c.Len(), len(tests))
			}
			cells = append(cells, arrowbatch.FormatValue(c, i))
		}
		row := strings.Join(cells, " | ")
		if tt.fail != "" {
			if !strings.Contains(fails[i], tt.fail) {
				t.Errorf("%q: failure %q, want one containing %q", tt.doc, fails[i], tt.fail)
			}
			tt.row = "NULL | NULL | NULL | NULL | NULL"
		} else if fails[i] != "" {
			t.Errorf("%q failed: %s", tt.doc, fails[i])
		}
		if diff := cmp.Diff(tt.row, row); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tt.doc, diff)
		}
	}
}

func TestJSONParserErrors(t *testing.T) {
	if _, err := arrowbatch.NewJSONParser(nil); err == nil {
		t.Error("a nil schema was accepted")
	}
	p, _ := arrowbatch.NewJSONParser(jsonSchema)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ints, _, _ := array.FromJSON(mem, arrow.PrimitiveTypes.Int64, strings.NewReader(`[1]`))
	defer ints.Release()
	if _, _, err := p.ParseColumn(mem, ints); err == nil {
		t.Error("an int column was parsed")
	}
}

// FuzzJSONParser: documents from outside never make the parser panic, leak, or produce
// columns of the wrong length; a document either fills its row or fails it.
func FuzzJSONParser(f *testing.F) {
	for _, s := range []string{`{"id": 1, "level": "x", "tags": ["a"], "geo": {"lat": 1}}`, `{"id": "x"}`, `[]`, `null`, `{"geo": {"lat": [1]}}`, `{"at": "2024-01-01T00:00:00Z"}`, "{\"id\":1}\n{\"id\":2}"} {
		f.Add([]byte(s), []byte(`{"id": 2}`))
	}
	p, err := arrowbatch.NewJSONParser(jsonSchema)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		docs := [][]byte{a, b, a}
		cols, failed := p.Parse(mem, len(docs), func(i int) []byte { return docs[i] })
		for _, c := range cols {
			if c.Len() != len(docs) {
				t.Fatalf("column of %d rows for %d documents", c.Len(), len(docs))
			}
			c.Release()
		}
		for _, f := range failed {
			if f.Row < 0 || f.Row >= len(docs) || f.Err == nil {
				t.Fatalf("bad failure %+v", f)
			}
		}
		mem.AssertSize(t, 0)
	})
}
