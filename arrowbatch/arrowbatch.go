// Package arrowbatch holds small helpers over Arrow record batches shared by the engine and
// sinks: concatenation, a borrowed row view, and value formatting. It depends on arrow-go
// only.
//
// Ownership follows arrow-go: a function that returns a batch hands over one reference, which
// the caller releases; a function that receives a batch borrows it.
package arrowbatch

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// NumRows returns the total rows of batches.
func NumRows(batches []arrow.RecordBatch) int64 {
	var n int64
	for _, b := range batches {
		n += b.NumRows()
	}
	return n
}

// Concat returns one batch holding the rows of batches in order, all of schema. With no
// batches it returns an empty batch of schema. With one batch it retains and returns it
// without copying.
func Concat(mem memory.Allocator, schema *arrow.Schema, batches []arrow.RecordBatch) (arrow.RecordBatch, error) {
	switch len(batches) {
	case 0:
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		return b.NewRecordBatch(), nil
	case 1:
		if !batches[0].Schema().Equal(schema) {
			return nil, fmt.Errorf("arrowbatch: batch schema %s differs from %s", batches[0].Schema(), schema)
		}
		batches[0].Retain()
		return batches[0], nil
	}
	// Checked before the columns, so that a schema with no columns is checked too.
	for j, b := range batches {
		if !b.Schema().Equal(schema) {
			return nil, fmt.Errorf("arrowbatch: batch %d schema %s differs from %s", j, b.Schema(), schema)
		}
	}
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	parts := make([]arrow.Array, len(batches))
	for i := range cols {
		for j, b := range batches {
			parts[j] = b.Column(i)
		}
		c, err := array.Concatenate(parts, mem)
		if err != nil {
			return nil, fmt.Errorf("arrowbatch: concatenate column %q: %w", schema.Field(i).Name, err)
		}
		cols[i] = c
	}
	return array.NewRecordBatch(schema, cols, NumRows(batches)), nil
}

// Row is a borrowed view of one row of a batch: valid only while the batch is.
type Row struct {
	// Batch holds the row.
	Batch arrow.RecordBatch
	// Index is the row's position in Batch.
	Index int
}

// Schema returns the row's schema.
func (r Row) Schema() *arrow.Schema { return r.Batch.Schema() }

// column returns the column named name, or nil.
func (r Row) column(name string) arrow.Array {
	idx := r.Batch.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil
	}
	return r.Batch.Column(idx[0])
}

// IsNull reports whether the column is null in this row (or does not exist).
func (r Row) IsNull(name string) bool {
	c := r.column(name)
	return c == nil || c.IsNull(r.Index)
}

// Value returns the column's value as a Go value: string, []byte (borrowed), int64, uint64,
// float64, bool, time.Time for timestamps, or nil for null; other types as their string form.
// It returns an error when the batch has no such column.
func (r Row) Value(name string) (any, error) {
	c := r.column(name)
	if c == nil {
		return nil, fmt.Errorf("arrowbatch: no column %q (columns: %s)", name, strings.Join(FieldNames(r.Batch.Schema()), ", "))
	}
	return GoValue(c, r.Index), nil
}

// String returns the column's value formatted as the console sink prints it.
func (r Row) String(name string) string {
	c := r.column(name)
	if c == nil {
		return ""
	}
	return FormatValue(c, r.Index)
}

// FieldNames returns the names of a schema's fields.
func FieldNames(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i := range out {
		out[i] = s.Field(i).Name
	}
	return out
}

// GoValue returns element i of a as a Go value (see Row.Value).
func GoValue(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch c := a.(type) {
	case *array.String:
		return c.Value(i)
	case *array.LargeString:
		return c.Value(i)
	case *array.Binary:
		return c.Value(i)
	case *array.LargeBinary:
		return c.Value(i)
	case *array.Int8:
		return int64(c.Value(i))
	case *array.Int16:
		return int64(c.Value(i))
	case *array.Int32:
		return int64(c.Value(i))
	case *array.Int64:
		return c.Value(i)
	case *array.Uint8:
		return uint64(c.Value(i))
	case *array.Uint16:
		return uint64(c.Value(i))
	case *array.Uint32:
		return uint64(c.Value(i))
	case *array.Uint64:
		return c.Value(i)
	case *array.Float32:
		return float64(c.Value(i))
	case *array.Float64:
		return c.Value(i)
	case *array.Boolean:
		return c.Value(i)
	case *array.Timestamp:
		unit := c.DataType().(*arrow.TimestampType).Unit
		return c.Value(i).ToTime(unit).UTC()
	}
	return a.ValueStr(i)
}

// FormatValue formats element i of a for display, as Spark's show() and cast to string do: null
// as "NULL", binary as "[68 69]", timestamps as "2006-01-02 15:04:05.999999" in UTC, doubles and
// floats as Java prints them ("1.0", "1.0E21", "Infinity"; see FormatFloat), strings as
// they are, structs as "{v1, v2}", lists as "[a, b]" and maps as "{k1 -> v1, k2 -> v2}" (a null
// inside them as "null").
func FormatValue(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "NULL"
	}
	switch c := a.(type) {
	case *array.Struct:
		parts := make([]string, c.NumField())
		for j := range parts {
			parts[j] = formatNested(c.Field(j), i)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case *array.Map:
		start, end := c.ValueOffsets(i)
		keys, items := c.Keys(), c.Items()
		parts := make([]string, 0, end-start)
		for j := start; j < end; j++ {
			parts = append(parts, formatNested(keys, int(j))+" -> "+formatNested(items, int(j)))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case array.ListLike:
		start, end := c.ValueOffsets(i)
		vals := c.ListValues()
		parts := make([]string, 0, end-start)
		for j := start; j < end; j++ {
			parts = append(parts, formatNested(vals, int(j)))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	if f, ok := a.(*array.Float32); ok {
		// Shortest form of the float32, "0.1", not of its float64 widening.
		return FormatFloat(float64(f.Value(i)), 32)
	}
	switch v := GoValue(a, i).(type) {
	case string:
		return v
	case []byte:
		// Two upper-case hex digits per byte, as Spark's "%02X".
		const hex = "0123456789ABCDEF"
		var b strings.Builder
		b.WriteByte('[')
		for j, x := range v {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteByte(hex[x>>4])
			b.WriteByte(hex[x&0xf])
		}
		b.WriteByte(']')
		return b.String()
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case float64:
		return FormatFloat(v, 64)
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return v.Format("2006-01-02 15:04:05.999999")
	default:
		return fmt.Sprint(v)
	}
}

// FormatFloat formats a double (bitSize 64) or a float (32) as Spark casts it to a string,
// which is Java's Double.toString: the shortest digits that read back as the same value, in
// decimal notation with at least one digit after the point when 10^-3 <= |v| < 10^7 ("1.0",
// "0.001", "1234567.5"), else in scientific notation ("1.0E7", "1.5E-5"); "NaN", "Infinity",
// "-Infinity".
func FormatFloat(v float64, bitSize int) string {
	if w, ok := nonFinite(v); ok {
		return w
	}
	if abs := math.Abs(v); abs == 0 || (abs >= 1e-3 && abs < 1e7) {
		s := strconv.FormatFloat(v, 'f', -1, bitSize)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(v, 'e', -1, bitSize) // "1.5e-05", "1e+20"
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	sign := ""
	if exp[0] == '-' {
		sign = "-"
	}
	exp = strings.TrimLeft(exp[1:], "0")
	return mant + "E" + sign + exp
}

// nonFinite returns Spark's (and Java's) word for NaN and the infinities.
func nonFinite(v float64) (string, bool) {
	switch {
	case math.IsNaN(v):
		return "NaN", true
	case math.IsInf(v, 1):
		return "Infinity", true
	case math.IsInf(v, -1):
		return "-Infinity", true
	}
	return "", false
}

// formatNested is FormatValue for a value inside a struct, list or map: null as "null".
func formatNested(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "null"
	}
	return FormatValue(a, i)
}

// JSONValue returns element i of a as a value encoding/json renders as Spark's to_json does:
// binary as base64, timestamps as RFC 3339 strings with fractional seconds, NaN and infinities
// as the strings "NaN", "Infinity" and "-Infinity" (encoding/json rejects them as numbers).
func JSONValue(a arrow.Array, i int) any {
	switch a.(type) {
	case *array.Struct, *array.Map, array.ListLike:
		if a.IsNull(i) {
			return nil
		}
		b, err := AppendJSON(nil, a, i)
		if err != nil {
			return nil
		}
		return json.RawMessage(b) // objects and arrays in schema and map order
	}
	if f, ok := a.(*array.Float32); ok && f.IsValid(i) {
		if v := f.Value(i); !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) {
			return v // encoding/json writes a float32 in its shortest form, "0.1"
		}
	}
	switch v := GoValue(a, i).(type) {
	case float64:
		if w, ok := nonFinite(v); ok {
			return w
		}
		return v
	case []byte:
		return base64.StdEncoding.EncodeToString(v)
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case string:
		if !utf8.ValidString(v) {
			return strings.ToValidUTF8(v, "\uFFFD")
		}
		return v
	default:
		return v
	}
}
