package arrowbatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
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
//     with a MapType: an entry per key, in order, {} an empty map; a key twice fails the row
//     (as Spark's default spark.sql.mapKeyDedupPolicy=EXCEPTION does), and a bad value fails
//     it with an error naming its path, such as column "m.k" (see json_map.go).
//   - an integer, float or boolean column takes a JSON number or boolean of its kind only: a
//     string there ("7", "true") is a type mismatch that fails the row, as with Spark's
//     from_json, except that a float column takes the strings "NaN", "Infinity", "+Infinity",
//     "-Infinity", "INF", "+INF" and "-INF" (as Spark's allowNonNumericNumbers does). A number
//     too large for a float column is ±Infinity, as Jackson reads it for Spark.
//
// Keys not in the schema are ignored and missing keys give nulls; a key that shows up twice in
// an object read as the row or a struct keeps its last value, as Spark does. Invalid UTF-8
// becomes U+FFFD, as with encoding/json. A document that is not one JSON object (a syntax
// error, trailing data, an array, an empty string), or whose values do not fit the schema's
// types, fails its row only, with an error that names the column and the value where it can,
// such as
//
//	json: column "i": want an int64, got 1.5
//	json: column "st": want a JSON object, got an array
//
// A JSON null document gives a row of nulls. Only JSON's whitespace (space, tab, CR, LF) may
// surround a document.
//
// As Spark's from_json reads with schema.asNullable, the parser makes every field of the
// schema nullable, also inside structs, lists (their elements) and maps (their values):
// Schema returns that schema, whose types the parsed columns have. A missing or null value is
// then a null, wherever it is. A schema with two fields of the same name, at the top or in a
// struct, is an error.
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

// NewJSONParser returns a parser into schema's columns, made nullable (see JSONParser). It
// fails if schema has no fields, two fields of one name (at the top or in a struct), or a type
// the parser cannot decode (a map whose keys are not strings, a bad time zone).
func NewJSONParser(schema *arrow.Schema) (*JSONParser, error) {
	if schema == nil || schema.NumFields() == 0 {
		return nil, errors.New("arrowbatch: a JSON schema needs at least one field")
	}
	if err := CheckJSONFieldNames(schema); err != nil {
		return nil, err
	}
	schema = NullableSchema(schema)
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

// Schema returns the schema documents are parsed into: the one given to NewJSONParser with
// every field nullable, also inside structs, lists and maps.
func (p *JSONParser) Schema() *arrow.Schema { return p.schema }

// NullableSchema returns schema with every field nullable, also the fields of structs, the
// elements of lists and the values of maps (a map's keys stay non-null), as Spark's
// StructType.asNullable does.
func NullableSchema(schema *arrow.Schema) *arrow.Schema {
	fields := schema.Fields()
	for i := range fields {
		fields[i].Nullable = true
		fields[i].Type = nullableType(fields[i].Type)
	}
	md := schema.Metadata()
	return arrow.NewSchema(fields, &md)
}

func nullableType(t arrow.DataType) arrow.DataType {
	nullable := func(f arrow.Field) arrow.Field {
		f.Nullable = true
		f.Type = nullableType(f.Type)
		return f
	}
	switch tt := t.(type) {
	case *arrow.StructType:
		fields := tt.Fields()
		for i := range fields {
			fields[i] = nullable(fields[i])
		}
		return arrow.StructOf(fields...)
	case *arrow.ListType:
		return arrow.ListOfField(nullable(tt.ElemField()))
	case *arrow.LargeListType:
		return arrow.LargeListOfField(nullable(tt.ElemField()))
	case *arrow.FixedSizeListType:
		return arrow.FixedSizeListOfField(tt.Len(), nullable(tt.ElemField()))
	case *arrow.MapType:
		key := tt.KeyField()
		key.Type = nullableType(key.Type)
		mt := arrow.MapOfFields(key, nullable(tt.ItemField()))
		mt.KeysSorted = tt.KeysSorted
		return mt
	}
	return t
}

// CheckJSONFieldNames returns an error naming the first field of schema whose name another
// field of the same level has, at the top or in a struct (also inside lists and maps): a
// document's key could not say which of the two it is.
func CheckJSONFieldNames(schema *arrow.Schema) error {
	return checkFieldNames(schema.Fields(), "")
}

func checkFieldNames(fields []arrow.Field, path string) error {
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		if seen[f.Name] {
			if path == "" {
				return fmt.Errorf("arrowbatch: the JSON schema has two fields named %q", f.Name)
			}
			return fmt.Errorf("arrowbatch: column %q: the struct has two fields named %q", path, f.Name)
		}
		seen[f.Name] = true
		p := f.Name
		if path != "" {
			p = path + "." + f.Name
		}
		if err := checkTypeNames(f.Type, p); err != nil {
			return err
		}
	}
	return nil
}

func checkTypeNames(t arrow.DataType, path string) error {
	switch tt := t.(type) {
	case *arrow.StructType:
		return checkFieldNames(tt.Fields(), path)
	case arrow.ListLikeType:
		return checkTypeNames(tt.Elem(), path+"[]")
	}
	return nil
}

// Parse parses n documents: doc(i) returns document i, or nil for a null row (the bytes are
// only read during the call). It returns one array of n rows per field of the schema, which the
// caller releases, and the rows that failed, in order; their values are null.
//
// Each document costs time in proportion to its size: a malformed one is refused before it
// reaches the builders.
func (p *JSONParser) Parse(mem memory.Allocator, n int, doc func(i int) []byte) ([]arrow.Array, []RowError) {
	// A row that the decoder panicked on may have left values in the builders: it fails, and
	// the batch is parsed again without it (a decoder bug; no document is known to do it).
	poisoned := map[int]error{}
	for {
		cols, failed, bad, err := p.parse(mem, n, doc, poisoned)
		if bad < 0 {
			return cols, failed
		}
		parseRestarts.Add(1)
		poisoned[bad] = err
	}
}

// parseRestarts counts the batches parsed again because of a poisoned row, for the tests.
var parseRestarts atomic.Int64

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
		if d == nil {
			nullRow()
			continue
		}
		t := trimJSONSpace(d)
		if bytes.Equal(t, jsonNull) {
			nullRow()
			continue
		}
		if len(t) == 0 || t[0] != '{' || t[len(t)-1] != '}' {
			failed = append(failed, RowError{Row: i, Err: notAnObject(t)})
			nullRow()
			continue
		}
		if fast != nil && fast.decode(t) {
			continue
		}
		// The decoder reads one object and would leave what follows it: a document must be
		// one well-formed value (checked in one pass) before it reaches the builders.
		if !json.Valid(t) {
			failed = append(failed, RowError{Row: i, Err: malformed(t)})
			nullRow()
			continue
		}
		if !utf8.Valid(t) {
			// As encoding/json does, invalid UTF-8 in strings becomes U+FFFD (which also keeps
			// the decoder off a panic it has on long invalid keys).
			t = bytes.ToValidUTF8(t, []byte("\uFFFD"))
		}
		panicked, err := unmarshal(b, t)
		if err != nil && !panicked {
			// A key twice in an object keeps its last value, as with Spark: the decoder
			// refuses it (and restores the builders), so the document is decoded again
			// without the earlier values.
			if dd, changed := dedupValue(nil, t, p.schemaType()); changed {
				panicked, err = unmarshal(b, dd)
			}
		}
		if panicked {
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

// schemaType returns the parser's schema as a struct type, the type of a document.
func (p *JSONParser) schemaType() arrow.DataType { return arrow.StructOf(p.schema.Fields()...) }

// unmarshal appends document d, one well-formed object, to b. arrow-go's UnmarshalOne decodes
// one object and, on error, restores every column builder to its state before the row. A
// panic of the decoder is reported as an error, with panicked set.
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
	return false, nil
}

var errTrailing = errors.New("json: invalid data after the top-level object")

// malformed describes document t, which is not one well-formed JSON value.
func malformed(t []byte) error {
	dec := json.NewDecoder(bytes.NewReader(t))
	var raw json.RawMessage
	if dec.Decode(&raw) == nil {
		return errTrailing
	}
	if err := json.Unmarshal(t, &raw); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	return errors.New("json: malformed document")
}

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

// trimJSONSpace trims JSON's whitespace (space, tab, CR, LF) from both ends of d; other
// spaces, such as U+00A0 or a vertical tab, are not JSON and stay.
func trimJSONSpace(d []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
	for len(d) > 0 && isSpace(d[0]) {
		d = d[1:]
	}
	for len(d) > 0 && isSpace(d[len(d)-1]) {
		d = d[:len(d)-1]
	}
	return d
}

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
