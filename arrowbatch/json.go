package arrowbatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// RowError is a row that could not be processed, such as a malformed JSON document.
type RowError struct {
	// Row is the row's index in its batch.
	Row int
	// Err is the cause.
	Err error
}

// Error names the row and the cause.
func (e *RowError) Error() string { return fmt.Sprintf("row %d: %v", e.Row, e.Err) }

// Unwrap returns the cause.
func (e *RowError) Unwrap() error { return e.Err }

// JSONParser parses JSON documents, one object per row, into the columns of a schema, with
// arrow-go's JSON decoding (that of array.NewJSONReader) and, as Spark reads JSON, its own for
// two kinds of column:
//
//   - a timestamp is a string in RFC 3339 (with any number of fraction digits, truncated to
//     the column's unit; see ParseTimestamp), or an integer in the column's unit; a string
//     without a zone is read in the column's time zone (UTC when it has none);
//   - a string column takes any JSON value: a number, boolean, object or array as its
//     compact JSON text.
//   - a map column (whose keys must be strings) takes a JSON object, as Spark's from_json does
//     with a MapType: an entry per key, in order, {} an empty map; a key twice fails the row,
//     and a bad value fails it with an error naming its path, such as column "m.k" (see
//     json_map.go).
//
// Keys not in the schema are ignored and missing keys give nulls; invalid UTF-8 becomes
// U+FFFD, as with encoding/json. A document that is not one JSON object (a syntax error,
// trailing data, an array, an empty string), or whose values do not fit the schema's types,
// fails its row only, with an error that names the column and the value where it can. A JSON
// null document gives a row of nulls.
//
// When every column is an integer, float, boolean or string, or a map of those, a document that is a plain
// object is decoded by a one-pass scanner straight into the columns (json_fast.go); it gives
// the same values as the generic decoding, which still decodes every other document and
// reports every error.
//
// A JSONParser is immutable and safe for concurrent use. Sources that decode record payloads
// share it with the FromJSON operator.
type JSONParser struct {
	schema *arrow.Schema
	// build is schema with the columns the parser decodes itself replaced (see parseTypes);
	// retyped says which columns of it must be given back their type.
	build   *arrow.Schema
	retyped []bool
	// fast is the plan of the fast path (json_fast.go), nil if the schema has columns it
	// does not decode.
	fast *fastPlan
	// slowOnly turns the fast path off (for the tests that compare the two paths).
	slowOnly bool
}

// NewJSONParser returns a parser into schema's columns.
func NewJSONParser(schema *arrow.Schema) (*JSONParser, error) {
	if schema == nil || schema.NumFields() == 0 {
		return nil, errors.New("arrowbatch: a JSON schema needs at least one field")
	}
	fields := schema.Fields()
	retyped := make([]bool, len(fields))
	for i, f := range fields {
		t, changed, err := parseTypes(f.Type, f.Name)
		if err != nil {
			return nil, err
		}
		fields[i].Type, retyped[i] = t, changed
	}
	md := schema.Metadata()
	return &JSONParser{schema: schema, build: arrow.NewSchema(fields, &md), retyped: retyped, fast: newFastPlan(schema)}, nil
}

// Schema returns the schema documents are parsed into.
func (p *JSONParser) Schema() *arrow.Schema { return p.schema }

// Parse parses n documents: doc(i) returns document i, or nil for a null row (the bytes are
// only read during the call). It returns one array of n rows per field of the schema, which the
// caller releases, and the rows that failed, in order; their values are null.
func (p *JSONParser) Parse(mem memory.Allocator, n int, doc func(i int) []byte) ([]arrow.Array, []RowError) {
	// A row that the decoder panicked on, or that had data after its object, may have left
	// values in the builders: it fails, and the batch is parsed again without it.
	poisoned := map[int]error{}
	for {
		cols, failed, bad, err := p.parse(mem, n, doc, poisoned)
		if bad < 0 {
			return cols, failed
		}
		poisoned[bad] = err
	}
}

// parse parses the documents, failing the poisoned rows. If the decoder panics, it returns the
// row and the panic as an error instead of columns.
func (p *JSONParser) parse(mem memory.Allocator, n int, doc func(i int) []byte, poisoned map[int]error) (cols []arrow.Array, failed []RowError, bad int, err error) {
	b := array.NewRecordBuilder(mem, p.build)
	defer b.Release()
	b.Reserve(n)
	var fast *fastDecoder
	if p.fast != nil && !p.slowOnly {
		fast = newFastDecoder(p.fast, b)
	}
	nullRow := func() {
		for _, f := range b.Fields() {
			f.AppendNull()
		}
	}
	for i := range n {
		if fast != nil && i == reserveRows && n > 2*reserveRows {
			fast.reserve(i, n-i)
		}
		if err, ok := poisoned[i]; ok {
			failed = append(failed, RowError{Row: i, Err: err})
			nullRow()
			continue
		}
		d := doc(i)
		if d == nil || isJSONNull(d) {
			nullRow()
			continue
		}
		t := bytes.TrimSpace(d)
		if len(t) == 0 || t[0] != '{' || t[len(t)-1] != '}' {
			failed = append(failed, RowError{Row: i, Err: notAnObject(t)})
			nullRow()
			continue
		}
		if fast != nil && fast.decode(t) {
			continue
		}
		if !utf8.Valid(t) {
			// As encoding/json does, invalid UTF-8 in strings becomes U+FFFD (which also keeps
			// the decoder off a panic it has on long invalid keys).
			t = bytes.ToValidUTF8(t, []byte("\uFFFD"))
		}
		panicked, err := unmarshal(b, t)
		if panicked || errors.Is(err, errTrailing) {
			// The builders may hold part of the row: parse the batch again without it.
			return nil, nil, i, err
		}
		if err != nil {
			failed = append(failed, RowError{Row: i, Err: err})
			nullRow()
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	cols = make([]arrow.Array, rec.NumCols())
	for i := range cols {
		if p.retyped[i] {
			d := retype(rec.Column(i).Data(), p.schema.Field(i).Type)
			cols[i] = array.MakeFromData(d)
			d.Release()
			continue
		}
		cols[i] = rec.Column(i)
		cols[i].Retain()
	}
	return cols, failed, -1, nil
}

// unmarshal appends document d, an object, to b. arrow-go's UnmarshalOne decodes one object
// and, on error, restores every column builder to its state before the row; anything but
// spaces after the object is an error too (the row is then taken back). A panic of the decoder
// is reported as an error, with panicked set.
func unmarshal(b *array.RecordBuilder, d []byte) (panicked bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			panicked, err = true, fmt.Errorf("json: the decoder failed on this document: %v", r)
		}
	}()
	dec := newJSONDecoder(d)
	if err := b.UnmarshalOne(dec); err != nil {
		return false, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return false, errTrailing
	}
	return false, nil
}

var errTrailing = errors.New("json: invalid data after the top-level object")

// jsonError prefixes decoder errors that do not say they are about JSON.
func jsonError(err error) error {
	if strings.HasPrefix(err.Error(), "json:") {
		return err
	}
	return fmt.Errorf("json: %w", err)
}

// ParseColumn parses the documents of a string or binary column (a null value is a null
// document); see Parse.
func (p *JSONParser) ParseColumn(mem memory.Allocator, col arrow.Array) ([]arrow.Array, []RowError, error) {
	var doc func(i int) []byte
	switch c := col.(type) {
	case *array.String:
		doc = func(i int) []byte { return stringBytes(c.Value(i)) }
	case *array.LargeString:
		doc = func(i int) []byte { return stringBytes(c.Value(i)) }
	case *array.Binary:
		doc = c.Value
	case *array.LargeBinary:
		doc = c.Value
	default:
		return nil, nil, fmt.Errorf("arrowbatch: JSON documents must be a string or binary column, not %s", col.DataType())
	}
	cols, failed := p.Parse(mem, col.Len(), func(i int) []byte {
		if col.IsNull(i) {
			return nil
		}
		d := doc(i)
		if d == nil {
			return []byte{} // an empty value, not a null one
		}
		return d
	})
	return cols, failed, nil
}

var jsonNull = []byte("null")

func isJSONNull(d []byte) bool { return bytes.Equal(bytes.TrimSpace(d), jsonNull) }

// notAnObject describes a document that is not a JSON object.
func notAnObject(t []byte) error {
	if len(t) == 0 {
		return errors.New("json: empty document")
	}
	var v any
	if err := json.Unmarshal(t, &v); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	return fmt.Errorf("json: the document is not an object (it starts with %q)", t[0])
}

// stringBytes returns the bytes of s without copying; they must not be modified.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
