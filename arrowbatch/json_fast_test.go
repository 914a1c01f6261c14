package arrowbatch_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/arrowbatch"
)

// fastTypes are the column types the JSONParser's fast path decodes.
var fastTypes = []arrow.DataType{
	arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64,
	arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64,
	arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64, arrow.FixedWidthTypes.Boolean,
	arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString,
	arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64),
	arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String),
	arrow.MapOf(arrow.BinaryTypes.LargeString, arrow.PrimitiveTypes.Float64),
	arrow.MapOf(arrow.BinaryTypes.String, arrow.FixedWidthTypes.Boolean),
	arrow.MapOfFields(arrow.Field{Type: arrow.BinaryTypes.String}, arrow.Field{Type: arrow.PrimitiveTypes.Uint8}),
	arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Float32),
}

var fastKeys = []string{"a", "b", "user", "level", "msg", "n", "é", "a b", "a\xff", "a\xfe"}

// randomFastSchema returns a schema of 1 to 5 columns of the fast path's types.
func randomFastSchema(r *rand.Rand) *arrow.Schema {
	keys := r.Perm(len(fastKeys))[:1+r.IntN(5)]
	fields := make([]arrow.Field, len(keys))
	for i, k := range keys {
		fields[i] = arrow.Field{Name: fastKeys[k], Type: fastTypes[r.IntN(len(fastTypes))], Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

var jsonScalars = []string{
	`null`, `true`, `false`, `0`, `-0`, `1`, `-1`, `127`, `128`, `-129`, `255`, `256`, `65535`, `4294967296`,
	`9223372036854775807`, `9223372036854775808`, `-9223372036854775808`, `18446744073709551615`, `18446744073709551616`,
	`1.5`, `-2.25`, `1e3`, `1E+2`, `2.5e-3`, `1e400`, `-0.0`, `3.4028236e38`, `0.1`, `12.50`,
	`""`, `"x"`, `"error"`, `"info"`, `"12"`, `"true"`, `"1.5"`, `"h\u00e9"`, `"tab\there"`, `"q\"uote\\"`, `"\/"`,
	`"\ud83d\ude00"`, `"\ud800"`, `"\u0000"`, `"\b\f\n\r"`, `"é日本"`, `"\uFFFD"`, "\"a\xffb\"", "\"\xe6\x97\"",
	`[]`, `{}`, `[1, "a", null]`, `{"k": [1, {"x": "y"}]}`, `{"a": 1, "a": 2}`, `[[[]]]`,
}

var jsonJunk = []string{`01`, `1.`, `.5`, `-`, `+1`, `tru`, `nul`, `"abc`, `"\x"`, `"\u12"`, `[1,]`, `{"a"}`, `{,}`, "\"a\tb\"", `NaN`, `Infinity`, `'a'`, `[1 2]`, `{"a":1,}`}

// randomJSONDocument returns a document, mostly a well-formed object, sometimes not.
func randomJSONDocument(r *rand.Rand) string {
	var sb strings.Builder
	sb.WriteString(`{`)
	n := r.IntN(6)
	for i := range n {
		if i > 0 {
			sb.WriteString(`,`)
			if r.IntN(4) == 0 {
				sb.WriteString(" \n\t")
			}
		}
		key := fastKeys[r.IntN(len(fastKeys))]
		switch r.IntN(10) {
		case 0:
			key = "other" + strconv.Itoa(r.IntN(3))
		case 1:
			key = `u\u0073er`
		}
		fmt.Fprintf(&sb, `"%s"`, key)
		if r.IntN(5) == 0 {
			sb.WriteString(` `)
		}
		sb.WriteString(`:`)
		if r.IntN(5) == 0 {
			sb.WriteString(` `)
		}
		if r.IntN(25) == 0 {
			sb.WriteString(jsonJunk[r.IntN(len(jsonJunk))])
		} else if r.IntN(4) == 0 {
			writeRandomJSONMap(r, &sb)
		} else {
			sb.WriteString(jsonScalars[r.IntN(len(jsonScalars))])
		}
	}
	sb.WriteString(`}`)
	d := sb.String()
	switch r.IntN(20) {
	case 0:
		d = d[:r.IntN(len(d)+1)]
	case 1:
		d += ` {}`
	case 2:
		d = " \t" + d + "\n "
	case 3:
		i := r.IntN(len(d) + 1)
		junk := "{}[],:\"\\ x1\xff"
		d = d[:i] + string(junk[r.IntN(len(junk))]) + d[i:]
	case 4:
		d = jsonScalars[r.IntN(len(jsonScalars))]
	}
	return d
}

// writeRandomJSONMap writes an object of scalars (and sometimes junk, or a key twice), as a map
// column takes.
func writeRandomJSONMap(r *rand.Rand, sb *strings.Builder) {
	sb.WriteString(`{`)
	if r.IntN(5) == 0 {
		sb.WriteString(` `)
	}
	for i := range r.IntN(5) {
		if i > 0 {
			sb.WriteString(`,`)
			if r.IntN(4) == 0 {
				sb.WriteString(" \n")
			}
		}
		key := fastKeys[r.IntN(len(fastKeys))]
		switch r.IntN(8) {
		case 0:
			key = `k\u0073`
		case 1:
			key = "k"
		}
		fmt.Fprintf(sb, `"%s":`, key)
		switch r.IntN(30) {
		case 0:
			sb.WriteString(jsonJunk[r.IntN(len(jsonJunk))])
		default:
			sb.WriteString(jsonScalars[r.IntN(len(jsonScalars))])
		}
	}
	sb.WriteString(`}`)
}

// parseBoth parses docs with p's fast path and without it, and fails t if the columns or the
// row errors differ.
func parseBoth(t testing.TB, p *arrowbatch.JSONParser, docs []string) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	doc := func(i int) []byte {
		if docs[i] == "<nil>" {
			return nil
		}
		return []byte(docs[i])
	}
	fastCols, fastFailed := p.Parse(mem, len(docs), doc)
	slowCols, slowFailed := arrowbatch.WithoutFastPath(p).Parse(mem, len(docs), doc)
	defer func() {
		for _, c := range append(fastCols, slowCols...) {
			c.Release()
		}
	}()
	errs := func(failed []arrowbatch.RowError) []string {
		var out []string
		for _, f := range failed {
			out = append(out, f.Error())
		}
		return out
	}
	if diff := cmp.Diff(errs(slowFailed), errs(fastFailed)); diff != "" {
		t.Fatalf("schema %s, documents %q: row errors (-generic +fast):\n%s", p.Schema(), docs, diff)
	}
	for i := range slowCols {
		if !arrow.TypeEqual(slowCols[i].DataType(), fastCols[i].DataType()) || !array.Equal(slowCols[i], fastCols[i]) {
			for row := range docs {
				g, f := arrowbatch.FormatValue(slowCols[i], row), arrowbatch.FormatValue(fastCols[i], row)
				if g != f {
					t.Fatalf("schema %s, document %q: column %d: generic %s, fast %s", p.Schema(), docs[row], i, g, f)
				}
			}
			t.Fatalf("schema %s, documents %q: column %d differs: generic %v, fast %v", p.Schema(), docs, i, slowCols[i], fastCols[i])
		}
	}
}

// TestJSONFastPathDifferential: on random schemas of the types the fast path decodes (maps
// of scalars among them) and
// random documents, well-formed and not, the parser gives the same columns and the same row
// errors with the fast path as without it.
func TestJSONFastPathDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rounds := 3000
	if testing.Short() {
		rounds = 300
	}
	for range rounds {
		p, err := arrowbatch.NewJSONParser(randomFastSchema(r))
		if err != nil {
			t.Fatal(err)
		}
		if !arrowbatch.HasFastPath(p) {
			t.Fatalf("no fast path for %s", p.Schema())
		}
		docs := make([]string, 1+r.IntN(8))
		for i := range docs {
			docs[i] = randomJSONDocument(r)
			if r.IntN(30) == 0 {
				docs[i] = "<nil>"
			}
		}
		parseBoth(t, p, docs)
	}
}

// TestJSONFastPathUsed: the fast path decodes the usual documents itself, escapes and all, and
// leaves the unusual ones to the generic path.
func TestJSONFastPathUsed(t *testing.T) {
	p, err := arrowbatch.NewJSONParser(arrow.NewSchema([]arrow.Field{
		{Name: "user", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "level", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	}, nil))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		doc  string
		fast bool
	}{
		{`{"user":"user-0042","level":"info","msg":"a \"quoted\" word, caf\u00e9 日本"}`, true},
		{` {"n": -12, "ok": true, "level": 1.5e3, "x": {"y": [1, null, {"z": "w"}]}} `, true},
		{`{}`, true},
		{`{"n": null, "user": null}`, true},
		{`{"n": 1.5}`, false},               // an error
		{`{"n": "12"}`, false},              // a string for a number
		{`{"user": {"a": 1}}`, false},       // compact JSON text
		{`{"user": "\ud83d\ude00"}`, false}, // surrogates
		{`{"us\u0065r": "x"}`, false},       // an escaped key
		{`{"n": 1, "n": 2}`, false},         // an error
		{`{"n": 1} x`, false},               // an error
	}
	for _, tt := range tests {
		if got := arrowbatch.FastDecodes(p, []byte(tt.doc)); got != tt.fast {
			t.Errorf("%s: fast path %v, want %v", tt.doc, got, tt.fast)
		}
	}
	var docs []string
	for _, tt := range tests {
		docs = append(docs, tt.doc)
	}
	parseBoth(t, p, docs)
}

// FuzzJSONFastPath: on any document and the columns of the fast path's types, the parser
// never panics or leaks, and gives the same columns and row errors with the fast path as
// without it.
func FuzzJSONFastPath(f *testing.F) {
	for _, s := range []string{`{"a": 1, "b": "x", "user": true}`, `{"a": "\u00e9\n", "n": [1, {"k": null}]}`, `{"a": 1e3, "b": -0}`, `{"a":1,"a":2}`, `{"b": "\ud800"}`, `{"a": 1`, `[1]`} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, doc []byte, types uint8) {
		// a and b get two of the fast path's types; user is a string.
		schema := arrow.NewSchema([]arrow.Field{
			{Name: "a", Type: fastTypes[int(types&0xf)%len(fastTypes)], Nullable: true},
			{Name: "b", Type: fastTypes[int(types>>4)%len(fastTypes)], Nullable: true},
			{Name: "user", Type: arrow.BinaryTypes.String, Nullable: true},
		}, nil)
		p, err := arrowbatch.NewJSONParser(schema)
		if err != nil {
			t.Fatal(err)
		}
		parseBoth(t, p, []string{string(doc), `{"a": 1}`, string(doc)})
	})
}

// jsonEvent returns a log event of about size bytes like those of the end-to-end benchmark
// (bench/internal/fakekinesis): user, level and a message with some escapes and non-ASCII text.
func jsonEvent(i, size int) []byte {
	level := "info"
	if i%10 == 0 {
		level = "error"
	}
	head := fmt.Sprintf(`{"user":"user-%04d","level":%q,"msg":"`, i%1000, level)
	var msg strings.Builder
	words := []string{"request", "served", `\"quoted\"`, "café", "in", "12ms", "from", "cache", "日本", "path=/a/b"}
	for j := 0; len(head)+msg.Len()+2 < size; j++ {
		msg.WriteString(words[(i+j)%len(words)])
		msg.WriteByte(' ')
	}
	return []byte(head + msg.String() + `"}`)
}

// BenchmarkJSONParser parses batches of 1,000 events of 1 KB into user, level and msg, with
// the fast path (fast) and without it (generic).
func BenchmarkJSONParser(b *testing.B) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "user", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "level", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "msg", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	fast, err := arrowbatch.NewJSONParser(schema)
	if err != nil {
		b.Fatal(err)
	}
	const rows = 1000
	docs := make([][]byte, rows)
	size := 0
	for i := range docs {
		docs[i] = jsonEvent(i, 1000)
		size += len(docs[i])
	}
	for _, bc := range []struct {
		name string
		p    *arrowbatch.JSONParser
	}{{"fast", fast}, {"generic", arrowbatch.WithoutFastPath(fast)}} {
		b.Run(bc.name, func(b *testing.B) {
			mem := memory.NewGoAllocator()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				cols, failed := bc.p.Parse(mem, rows, func(i int) []byte { return docs[i] })
				if len(failed) > 0 {
					b.Fatal(failed[0].Error())
				}
				for _, c := range cols {
					c.Release()
				}
			}
			b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// TestJSONFastPathAllocs: the fast path allocates per batch, not per row.
func TestJSONFastPathAllocs(t *testing.T) {
	p, err := arrowbatch.NewJSONParser(arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "b", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "c", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "user", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "u", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
	}, nil))
	if err != nil {
		t.Fatal(err)
	}
	doc := []byte(`{"a": -12, "b": 2.5e3, "c": true, "user": "x \"y\" caf\u00e9", "u": null, "other": [1, {"k": "v"}]}`)
	mem := memory.NewGoAllocator()
	allocs := func(rows int) float64 {
		return testing.AllocsPerRun(5, func() {
			cols, failed := p.Parse(mem, rows, func(int) []byte { return doc })
			if len(failed) > 0 {
				t.Fatal(failed[0].Error())
			}
			for _, c := range cols {
				c.Release()
			}
		})
	}
	few, many := allocs(1000), allocs(8000)
	if few > 200 || many > few+20 {
		t.Errorf("%.0f allocations for 1000 rows, %.0f for 8000", few, many)
	}
}
