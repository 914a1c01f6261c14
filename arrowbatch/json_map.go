package arrowbatch

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Maps. A MAP column takes a JSON object, as Spark's from_json does with a MapType: each of its
// keys and values becomes an entry, in the order of the document; {} is an empty map and null a
// null map. The keys must be of a string type (checked by NewJSONParser); the values may be of
// any type the parser decodes, including structs, lists and maps. A null value is kept (a null
// item) if the map's values are nullable, and fails the row if not. A key that shows up twice
// in one object fails the row, as with Spark's default spark.sql.mapKeyDedupPolicy=EXCEPTION
// (and as a document's own keys do here). A value of the wrong type fails the row with an
// error naming the value's path, such as
//
//	json: column "m.k": want an int64, got "x"
//
// arrow-go's own map decoding reads Arrow's list-of-entries JSON instead, so the parser builds
// a map column through a jsonColumn (json_values.go) whose builder decodes the object itself.

// parseMapType is parseTypes for a map.
func parseMapType(t *arrow.MapType, path string) (arrow.DataType, error) {
	switch t.KeyType().ID() {
	case arrow.STRING, arrow.LARGE_STRING:
	default:
		return nil, fmt.Errorf("arrowbatch: column %q: a map's keys must be strings, as JSON object keys are, not %s", path, t.KeyType())
	}
	item := t.ItemField()
	it, _, err := parseTypes(item.Type, path+".*")
	if err != nil {
		return nil, err
	}
	item.Type = it
	key := t.KeyField()
	key.Nullable = false
	storage := arrow.MapOfFields(key, item)
	storage.KeysSorted = t.KeysSorted
	return &jsonColumn{ExtensionBase: arrow.ExtensionBase{Storage: storage}, path: path}, nil
}

// mapBuilder is the part of a jsonColumnBuilder that builds a map.
type mapBuilder struct {
	mb       *array.MapBuilder
	key      *array.BinaryBuilder // of the string or large string keys
	item     array.Builder
	nullable bool // the values
	// scalar appends an integer, float or boolean value (nil for other value types), which
	// the map decodes itself so as to name the value in errors.
	scalar     func(*slot, []byte)
	scalarKind fastColumn
	keys       map[string]struct{} // of the object being decoded
}

func newMapBuilder(mb *array.MapBuilder) *mapBuilder {
	m := &mapBuilder{mb: mb, item: mb.ItemBuilder(), nullable: mb.Type().(*arrow.MapType).ItemField().Nullable}
	switch kb := mb.KeyBuilder().(type) {
	case *array.StringBuilder:
		m.key = kb.BinaryBuilder
	case *array.LargeStringBuilder:
		m.key = kb.BinaryBuilder
	}
	if c, ok := scalarColumn(mb.Type().(*arrow.MapType).ItemType()); ok && c.kind != fastString {
		ib := m.item
		if ext, ok := ib.(*jsonColumnBuilder); ok {
			ib = ext.StorageBuilder()
		}
		m.scalar = (&fastDecoder{}).appender(ib)
		m.scalarKind = c
	}
	return m
}

// decode appends the map whose first token, tok, was just read.
func (m *mapBuilder) decode(dec *jsonDecoder, tok any, path string) error {
	if d, ok := tok.(jsonDelim); !ok || d != '{' {
		return fmt.Errorf("json: column %q: want an object for a map, got %s", path, describeToken(tok))
	}
	m.mb.Append(true)
	clear(m.keys)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if m.keys == nil {
			m.keys = map[string]struct{}{}
		}
		if _, dup := m.keys[key]; dup {
			return fmt.Errorf("json: column %q: the map key %q shows up twice", path, key)
		}
		m.keys[key] = struct{}{}
		m.key.AppendString(key)
		if err := m.value(dec, path+"."+key); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// value appends the next value to the map's items.
func (m *mapBuilder) value(dec *jsonDecoder, path string) error {
	if m.scalar != nil {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		var s slot
		if err := scalarSlot(&s, tok, m.scalarKind); err != nil {
			return fmt.Errorf("json: column %q: %w", path, err)
		}
		if s.null && !m.nullable {
			return fmt.Errorf("json: column %q: null, but the map's values are not nullable", path)
		}
		m.scalar(&s, nil)
		return nil
	}
	nulls := m.item.NullN()
	var err error
	if jb, ok := m.item.(*jsonColumnBuilder); ok {
		old := jb.path
		jb.path = path
		err = jb.UnmarshalOne(dec)
		jb.path = old
	} else {
		err = m.item.UnmarshalOne(dec)
	}
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, `column "`) {
			return err
		}
		return fmt.Errorf("json: column %q: %s", path, strings.TrimPrefix(msg, "json: "))
	}
	if !m.nullable && m.item.NullN() > nulls {
		return fmt.Errorf("json: column %q: null, but the map's values are not nullable", path)
	}
	return nil
}

// scalarColumn returns the fast path's kind of an integer, float, boolean or string type.
func scalarColumn(t arrow.DataType) (fastColumn, bool) {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		return fastColumn{kind: fastInt, bits: t.(arrow.FixedWidthDataType).BitWidth()}, true
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return fastColumn{kind: fastUint, bits: t.(arrow.FixedWidthDataType).BitWidth()}, true
	case arrow.FLOAT32:
		return fastColumn{kind: fastFloat, bits: 32}, true
	case arrow.FLOAT64:
		return fastColumn{kind: fastFloat, bits: 64}, true
	case arrow.BOOL:
		return fastColumn{kind: fastBool}, true
	case arrow.STRING, arrow.LARGE_STRING:
		return fastColumn{kind: fastString}, true
	}
	return fastColumn{}, false
}

// scalarSlot sets s to the value of token tok for an integer, float or boolean column c, as
// the fast path reads it (fastDecoder.value).
func scalarSlot(s *slot, tok any, c fastColumn) error {
	*s = slot{}
	want := func() error { return fmt.Errorf("want %s, got %s", kindName(c), describeToken(tok)) }
	var num string
	switch v := tok.(type) {
	case nil:
		s.null = true
		return nil
	case bool:
		if c.kind != fastBool {
			return want()
		}
		s.b = v
		return nil
	case jsonNumber:
		num = v.String()
	case float64:
		num = strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		// "NaN", "Infinity", "-Infinity" (as AppendJSON writes them, and as Spark's
		// allowNonNumericNumbers reads them) for a float column; any other string is a type
		// mismatch, as with Spark's from_json.
		if c.kind != fastFloat {
			return want()
		}
		switch v {
		case "NaN":
			num = "NaN"
		case "Infinity", "+Infinity", "INF", "+INF":
			num = "+Inf"
		case "-Infinity", "-INF":
			num = "-Inf"
		default:
			return want()
		}
	default:
		return want()
	}
	if ok, err := s.setNumber(num, c); !ok || err != nil {
		return want()
	}
	return nil
}

func kindName(c fastColumn) string {
	switch c.kind {
	case fastInt:
		return "an int" + strconv.Itoa(c.bits)
	case fastUint:
		return "a uint" + strconv.Itoa(c.bits)
	case fastFloat:
		if c.bits == 32 {
			return "a float32"
		}
		return "a float64"
	case fastBool:
		return "a boolean"
	}
	return "a string"
}

// describeToken describes a JSON token in an error.
func describeToken(tok any) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case jsonNumber:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case jsonDelim:
		switch v {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return string(rune(v))
	}
	return fmt.Sprint(tok)
}
