package arrowbatch

import (
	"bytes"
	"encoding/json"

	"github.com/apache/arrow-go/v18/arrow"
)

// Keys twice. Spark keeps the last value of a key that shows up twice in an object it reads as
// a struct (or as the row); arrow-go's decoder refuses such an object. When it does, the
// JSONParser rewrites the document with dedupValue, keeping each key's last value in the
// objects the schema reads as structs, and decodes it again. The rewrite also leaves out the
// keys the schema does not have, whose values arrow-go's decoder may refuse though Spark
// ignores them (a number out of float64's range). The objects of map columns keep
// every key, so that a key twice still fails the row (see json_map.go).

// dedupValue appends v, one well-formed JSON value (checked by the caller) of type typ, to out,
// without the earlier values of the keys that show up twice in its struct objects, nor the
// keys those do not have; changed reports whether it left anything out. Its recursion follows typ, not the document.
func dedupValue(out, v []byte, typ arrow.DataType) (_ []byte, changed bool) {
	if len(v) == 0 {
		return append(out, v...), false
	}
	switch tt := typ.(type) {
	case *arrow.StructType:
		if v[0] == '{' {
			return dedupObject(out, v, true, func(key string) arrow.DataType {
				if i, ok := tt.FieldIdx(key); ok {
					return tt.Field(i).Type
				}
				return nil
			})
		}
	case *arrow.MapType:
		if v[0] == '{' {
			return dedupObject(out, v, false, func(string) arrow.DataType { return tt.ItemType() })
		}
	case arrow.ListLikeType:
		if v[0] == '[' {
			return dedupArray(out, v, tt.Elem())
		}
	}
	return append(out, v...), false
}

// dedupObject is dedupValue for an object; with last, only the last value of each key is
// kept. fieldType returns the type of a key's values (nil: copied as they are).
func dedupObject(out, v []byte, last bool, fieldType func(key string) arrow.DataType) ([]byte, bool) {
	type entry struct {
		key        string
		ks, ke     int // the key, quoted
		vs, ve     int // the value
		superseded bool
	}
	var entries []entry
	i := skipSpace(v, 1)
	for i < len(v) && v[i] == '"' {
		e := entry{ks: i, ke: stringEnd(v, i)}
		raw := v[e.ks+1 : e.ke-1]
		if bytes.IndexByte(raw, '\\') >= 0 {
			_ = json.Unmarshal(v[e.ks:e.ke], &e.key)
		} else {
			e.key = string(raw)
		}
		i = skipSpace(v, e.ke)
		i = skipSpace(v, i+1) // ':'
		e.vs = i
		e.ve = valueEnd(v, i)
		entries = append(entries, e)
		i = skipSpace(v, e.ve)
		if i < len(v) && v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	changed := false
	if last {
		at := make(map[string]int, len(entries))
		for j, e := range entries {
			if fieldType(e.key) == nil {
				entries[j].superseded = true // not a field
				changed = true
				continue
			}
			if k, ok := at[e.key]; ok {
				entries[k].superseded = true
				changed = true
			}
			at[e.key] = j
		}
	}
	out = append(out, '{')
	n := 0
	for _, e := range entries {
		if e.superseded {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		n++
		out = append(out, v[e.ks:e.ke]...)
		out = append(out, ':')
		if t := fieldType(e.key); t != nil {
			var ch bool
			out, ch = dedupValue(out, v[e.vs:e.ve], t)
			changed = changed || ch
		} else {
			out = append(out, v[e.vs:e.ve]...)
		}
	}
	return append(out, '}'), changed
}

// dedupArray is dedupValue for an array of elem values.
func dedupArray(out, v []byte, elem arrow.DataType) ([]byte, bool) {
	changed := false
	out = append(out, '[')
	i := skipSpace(v, 1)
	for n := 0; i < len(v) && v[i] != ']'; n++ {
		if n > 0 {
			out = append(out, ',')
		}
		end := valueEnd(v, i)
		var ch bool
		out, ch = dedupValue(out, v[i:end], elem)
		changed = changed || ch
		i = skipSpace(v, end)
		if i < len(v) && v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	return append(out, ']'), changed
}

// valueEnd returns the index after the well-formed JSON value at v[i].
func valueEnd(v []byte, i int) int {
	depth := 0
	for i < len(v) {
		switch v[i] {
		case '"':
			i = stringEnd(v, i)
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		default:
			if depth == 0 { // a number or a literal
				for i < len(v) && bytes.IndexByte([]byte(",}] \t\r\n"), v[i]) < 0 {
					i++
				}
				return i
			}
		}
		i++
	}
	return i
}

// stringEnd returns the index after the string whose opening quote is at v[i].
func stringEnd(v []byte, i int) int {
	for i++; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(v)
}
