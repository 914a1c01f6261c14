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
	{Name: "geo", Type: arrow.StructOf(arrow.Field{Name: "lat", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		arrow.Field{Name: "at", Type: arrow.FixedWidthTypes.Timestamp_ms, Nullable: true}), Nullable: true},
}, nil)

// TestJSONParser: each document fills one row; a bad one fails its row alone and leaves it null,
// whatever column the decoder had reached.
func TestJSONParser(t *testing.T) {
	tests := []struct {
		doc  string // "<nil>" for a null value
		row  string
		fail string
	}{
		{`{"id": 1, "level": "info", "at": "2024-01-01T00:00:00Z", "tags": ["a", "b"], "geo": {"lat": 1.5}}`, `1 | info | 2024-01-01 00:00:00 | [a, b] | {1.5, null}`, ""},
		{`{"id": 2, "extra": {"deep": [1, 2]}}`, `2 | NULL | NULL | NULL | NULL`, ""},
		{`  {"level": "warn"}  `, `NULL | warn | NULL | NULL | NULL`, ""},
		{`{"id": "x"}`, "", `json: column "id": want an int64, got "x"`},
		{`{"id": 3, "tags": ["a", 3, true, {"k": [1, "x\n"]}, null]}`, "3 | NULL | NULL | [a, 3, true, {\"k\":[1,\"x\\n\"]}, null] | NULL", ""},
		{`{"id": 3, "level": 12.50}`, `3 | 12.50 | NULL | NULL | NULL`, ""},
		{`{"at": "2024-01-01T00:00:00.123456789Z"}`, `NULL | NULL | 2024-01-01 00:00:00.123456 | NULL | NULL`, ""},
		{`{"at": "2024-13-01T00:00:00Z"}`, "", `column "at": "2024-13-01T00:00:00Z" is not a valid timestamp: month out of range`},
		{`{"geo": {"lat": 1, "at": "yesterday"}}`, "", `column "geo.at": "yesterday" is not a valid timestamp`},
		{`{"id": 4, "geo": {"lat": "north"}}`, "", `json: column "geo.lat": want a float64, got "north"`},
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
	for _, s := range []string{`{"id": 1, "level": "x", "tags": ["a"], "geo": {"lat": 1}}`, `{"id": "x"}`, `[]`, `null`, `{"geo": {"lat": [1]}}`, `{"at": "2024-01-01T00:00:00Z"}`, "{\"id\":1}\n{\"id\":2}",
		`{"at": "2024-01-01T00:00:00.123456789123+01:00", "level": [1, {"a": "\u0000"}], "geo": {"at": 12}}`} {
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

// TestJSONTimestamps: timestamp strings with any number of fraction digits are truncated to
// the column's unit, in every unit; numbers are counts of the unit; a bad value fails its row
// with an error naming the column and the value.
func TestJSONTimestamps(t *testing.T) {
	const (
		s  = arrow.Second
		ms = arrow.Millisecond
		us = arrow.Microsecond
		ns = arrow.Nanosecond
	)
	tests := []struct {
		name  string
		unit  arrow.TimeUnit
		zone  string
		value string // a JSON value
		want  int64  // the stored count of units
		fail  string // a part of the row's error
	}{
		{"nanoseconds into us", us, "UTC", `"2024-05-01T12:30:00.123456789Z"`, 1714566600123456, ""},
		{"nanoseconds into ns", ns, "UTC", `"2024-05-01T12:30:00.123456789Z"`, 1714566600123456789, ""},
		{"nanoseconds into ms", ms, "UTC", `"2024-05-01T12:30:00.123456789Z"`, 1714566600123, ""},
		{"nanoseconds into s", s, "UTC", `"2024-05-01T12:30:00.999999999Z"`, 1714566600, ""},
		{"twelve digits", us, "UTC", `"2024-05-01T12:30:00.123456789999Z"`, 1714566600123456, ""},
		{"one digit", ns, "UTC", `"2024-05-01T12:30:00.5Z"`, 1714566600500000000, ""},
		{"no fraction", ms, "UTC", `"2024-05-01T12:30:00Z"`, 1714566600000, ""},
		{"offset", us, "UTC", `"2024-05-01T14:30:00.000001+02:00"`, 1714566600000001, ""},
		{"offset without colon", us, "UTC", `"2024-05-01T07:30:00-0500"`, 1714566600000000, ""},
		{"offset hours only", s, "UTC", `"2024-05-01T13:30:00+01"`, 1714566600, ""},
		{"lower-case t and z", s, "UTC", `"2024-05-01t12:30:00z"`, 1714566600, ""},
		{"space separator", s, "UTC", `"2024-05-01 12:30:00Z"`, 1714566600, ""},
		{"minutes only", s, "UTC", `"2024-05-01T12:30Z"`, 1714566600, ""},
		{"date only", s, "UTC", `"2024-05-01"`, 1714521600, ""},
		{"no zone in a UTC column", us, "UTC", `"2024-05-01T12:30:00.1234567"`, 1714566600123456, ""},
		{"no zone, column zone", s, "+02:00", `"2024-05-01T14:30:00"`, 1714566600, ""},
		{"column without zone", ms, "", `"2024-05-01T12:30:00.0019"`, 1714566600001, ""},
		{"before 1970 truncates toward the past", us, "UTC", `"1969-12-31T23:59:59.9999995Z"`, -1, ""},
		{"integer string in the unit", ms, "UTC", `"1714566600123"`, 1714566600123, ""},
		{"number in the unit", ns, "UTC", `1714566600123456789`, 1714566600123456789, ""},
		{"negative number", s, "UTC", `-5`, -5, ""},
		{"null", us, "UTC", `null`, 0, ""},
		{"bad month", us, "UTC", `"2024-13-01T00:00:00Z"`, 0, `column "at": "2024-13-01T00:00:00Z" is not a valid timestamp: month out of range`},
		{"bad day", us, "UTC", `"2023-02-29T00:00:00Z"`, 0, `"2023-02-29T00:00:00Z" is not a valid timestamp: day out of range`},
		{"words", ms, "UTC", `"yesterday"`, 0, `column "at": "yesterday" is not a valid timestamp`},
		{"trailing text", ms, "UTC", `"2024-05-01T12:30:00Z!"`, 0, `"2024-05-01T12:30:00Z!" is not a valid timestamp`},
		{"empty fraction", ms, "UTC", `"2024-05-01T12:30:00.Z"`, 0, "no digits after the decimal point"},
		{"bad offset", ms, "UTC", `"2024-05-01T12:30:00+25:00"`, 0, "zone offset out of range"},
		{"out of range for ns", ns, "UTC", `"2300-01-01T00:00:00Z"`, 0, "out of range for timestamp[ns]"},
		{"fractional number", ms, "UTC", `1.5`, 0, `column "at": 1.5 is not a valid timestamp: a number must be an integer count of milliseconds`},
		{"boolean", ms, "UTC", `true`, 0, `column "at": true is not a valid timestamp`},
		{"object", ms, "UTC", `{"a": 1}`, 0, `column "at": an object is not a valid timestamp`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			typ := &arrow.TimestampType{Unit: tt.unit, TimeZone: tt.zone}
			schema := arrow.NewSchema([]arrow.Field{
				{Name: "at", Type: typ, Nullable: true},
				{Name: "list", Type: arrow.ListOf(typ), Nullable: true},
			}, nil)
			p, err := arrowbatch.NewJSONParser(schema)
			if err != nil {
				t.Fatal(err)
			}
			docs := []string{`{"at": ` + tt.value + `}`, `{"list": [` + tt.value + `]}`}
			cols, failed := p.Parse(mem, len(docs), func(i int) []byte { return []byte(docs[i]) })
			defer func() {
				for _, c := range cols {
					c.Release()
				}
			}()
			if !arrow.TypeEqual(cols[0].DataType(), typ) || !arrow.TypeEqual(cols[1].DataType(), arrow.ListOf(typ)) {
				t.Fatalf("column types %s, %s", cols[0].DataType(), cols[1].DataType())
			}
			if tt.fail != "" {
				if len(failed) != 2 || !strings.Contains(failed[0].Err.Error(), tt.fail) {
					t.Fatalf("failures %v, want both rows failing with %q", failed, tt.fail)
				}
				if !strings.Contains(failed[1].Err.Error(), `column "list[]"`) {
					t.Errorf("list failure %q does not name the column list[]", failed[1].Err)
				}
				if cols[0].IsValid(0) || cols[1].IsValid(1) {
					t.Error("a failed row has values")
				}
				return
			}
			if len(failed) > 0 {
				t.Fatalf("failures: %v", failed)
			}
			at := cols[0].(*array.Timestamp)
			elems := cols[1].(*array.List).ListValues().(*array.Timestamp)
			if tt.value == "null" {
				if at.IsValid(0) || elems.IsValid(0) {
					t.Error("null is not null")
				}
				return
			}
			if got := int64(at.Value(0)); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
			if got := int64(elems.Value(0)); got != tt.want {
				t.Errorf("in a list: got %d, want %d", got, tt.want)
			}
		})
	}
}

// TestJSONStrings: a string column takes any JSON value, the others as their compact text.
func TestJSONStrings(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.LargeString, Nullable: true}}, nil)
	p, err := arrowbatch.NewJSONParser(schema)
	if err != nil {
		t.Fatal(err)
	}
	values := []string{`"x"`, `12`, `-1.5e3`, `false`, `null`, `{ "a" : [1, {"b": null}], "c\"\u0001": "\u00e9" }`, `[]`, `{}`, `[[[]]]`}
	want := []string{"x", "12", "-1.5e3", "false", "NULL", `{"a":[1,{"b":null}],"c\"\u0001":"é"}`, "[]", "{}", "[[[]]]"}
	cols, failed := p.Parse(mem, len(values), func(i int) []byte { return []byte(`{"s": ` + values[i] + `}`) })
	defer cols[0].Release()
	if len(failed) > 0 {
		t.Fatal(failed)
	}
	for i := range values {
		if got := arrowbatch.FormatValue(cols[0], i); got != want[i] {
			t.Errorf("%s: got %s, want %s", values[i], got, want[i])
		}
	}
}

// TestJSONSparkSemantics: the parser reads as Spark's from_json does. The schema is made
// nullable (a NOT NULL struct field that is missing is a null, and the columns keep their
// lengths); a key twice keeps its last value; a float out of range is ±Infinity; a string for
// a number or boolean is a type mismatch; errors name the column and the value; only JSON's
// whitespace surrounds a document. Each case is parsed in one batch between two good rows, by
// both paths.
func TestJSONSparkSemantics(t *testing.T) {
	i64 := arrow.PrimitiveTypes.Int64
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: i64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "x", Type: i64}), Nullable: true},
		{Name: "l", Type: arrow.ListOfNonNullable(i64), Nullable: true},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	}, nil)
	tests := []struct {
		doc  string
		row  string // i | f | b | s | l
		fail string
	}{
		{`{"s":{}}`, `NULL | NULL | NULL | {null} | NULL | NULL`, ""},
		{`{"s":{"x":null},"l":[1,null]}`, `NULL | NULL | NULL | {null} | [1, null] | NULL`, ""},
		{`{"i":1,"i":2}`, `2 | NULL | NULL | NULL | NULL | NULL`, ""},
		{`{"s":{"x":1,"x":3},"i":4,"s":{"x":5,"x":6,"y":{"y":1,"y":2}}}`, `4 | NULL | NULL | {6} | NULL | NULL`, ""},
		{`{"f":1e400}`, `NULL | Infinity | NULL | NULL | NULL | NULL`, ""},
		{`{"f":-1e400,"zz":1e400}`, `NULL | -Infinity | NULL | NULL | NULL | NULL`, ""},
		{`{"f":"Infinity"}`, `NULL | Infinity | NULL | NULL | NULL | NULL`, ""},
		{" \t\r\n{\"i\":1}\n", `1 | NULL | NULL | NULL | NULL | NULL`, ""},
		{`{"i":1.5}`, "", `json: column "i": want an int64, got 1.5`},
		{`{"i":"7"}`, "", `json: column "i": want an int64, got "7"`},
		{`{"b":"true"}`, "", `json: column "b": want a boolean, got "true"`},
		{`{"f":"1.5"}`, "", `json: column "f": want a float64, got "1.5"`},
		{`{"s":[1]}`, "", `json: column "s": want a JSON object, got an array`},
		{`{"s":{"x":"a"}}`, "", `json: column "s.x": want an int64, got "a"`},
		{`{"l":{"a":1}}`, "", `json: column "l": want a JSON array, got an object`},
		{`{"l":[1,"x"]}`, "", `json: column "l[]": want an int64, got "x"`},
		{`{"d":[1]}`, "", `json: column "d": `},
		{`{"i":1}{"i":2}`, "", "invalid data after the top-level object"},
		{`{"i":1} {"s":{"x":2}}`, "", "invalid data after the top-level object"},
		{"\u00a0{\"i\":1}", "", "json: "},
		{"\v{\"i\":1}", "", "json: "},
		{"{\"i\":1}\f", "", "json: "},
		{"\u0085null", "", "json: "},
	}
	for _, tt := range tests {
		p, err := arrowbatch.NewJSONParser(schema)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []*arrowbatch.JSONParser{p, arrowbatch.WithoutFastPath(p)} {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			docs := []string{`{"i":0}`, tt.doc, `{"s":{"x":9}}`}
			cols, failed := q.Parse(mem, len(docs), func(i int) []byte { return []byte(docs[i]) })
			var cells []string
			for k, c := range cols {
				if c.Len() != len(docs) {
					t.Fatalf("%q: a column has %d rows, want %d", tt.doc, c.Len(), len(docs))
				}
				if !arrow.TypeEqual(c.DataType(), q.Schema().Field(k).Type) {
					t.Errorf("%q: column of type %s, want %s", tt.doc, c.DataType(), q.Schema().Field(k).Type)
				}
				cells = append(cells, arrowbatch.FormatValue(c, 1))
			}
			if got := arrowbatch.FormatValue(cols[0], 0) + " " + arrowbatch.FormatValue(cols[3], 2); got != "0 {9}" {
				t.Errorf("%q: the rows around it are %s, want 0 {9}", tt.doc, got)
			}
			for _, c := range cols {
				c.Release()
			}
			mem.AssertSize(t, 0)
			want := tt.row
			if tt.fail != "" {
				want = "NULL | NULL | NULL | NULL | NULL | NULL"
				if len(failed) != 1 || failed[0].Row != 1 || !strings.Contains(failed[0].Err.Error(), tt.fail) {
					t.Errorf("%q: failures %v, want row 1 with %q", tt.doc, failed, tt.fail)
				}
			} else if len(failed) > 0 {
				t.Errorf("%q: failures %v", tt.doc, failed)
			}
			if diff := cmp.Diff(want, strings.Join(cells, " | ")); diff != "" {
				t.Errorf("%q (-want +got):\n%s", tt.doc, diff)
			}
		}
	}
	for _, bad := range []*arrow.Schema{
		arrow.NewSchema([]arrow.Field{{Name: "a", Type: i64}, {Name: "a", Type: arrow.BinaryTypes.String}}, nil),
		arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.ListOf(arrow.StructOf(arrow.Field{Name: "a", Type: i64}, arrow.Field{Name: "a", Type: i64}))}}, nil),
	} {
		if _, err := arrowbatch.NewJSONParser(bad); err == nil || !strings.Contains(err.Error(), `two fields named "a"`) {
			t.Errorf("schema %s: error %v, want one naming the field a", bad, err)
		}
	}
}

// TestJSONTrailingDataLinear: documents with data after their object fail one by one, in one
// pass over the batch (parsing the batch again for each of them made it quadratic).
func TestJSONTrailingDataLinear(t *testing.T) {
	for _, schema := range []*arrow.Schema{
		arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil),
		jsonSchema,
	} {
		p, err := arrowbatch.NewJSONParser(schema)
		if err != nil {
			t.Fatal(err)
		}
		docs := []string{`{"a":1}{"a":2}`, `{"id":1} {"level":"x"}`, `{"id":3}`}
		const n = 3000
		before := arrowbatch.ParseRestarts()
		cols, failed := p.Parse(memory.NewGoAllocator(), n, func(i int) []byte { return []byte(docs[i%3]) })
		for _, c := range cols {
			c.Release()
		}
		if got := arrowbatch.ParseRestarts() - before; got != 0 {
			t.Errorf("the batch was parsed again %d times", got)
		}
		if len(failed) != 2*n/3 {
			t.Errorf("%d failures, want %d", len(failed), 2*n/3)
		}
	}
}
