package arrowbatch

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// AppendJSON appends the JSON of element i of a, as Spark's JSON writer and to_json write it:
// null as null; numbers as numbers (decimals too), NaN and the infinities as the strings
// "NaN", "Infinity" and "-Infinity"; binary as base64; timestamps as RFC 3339 strings in UTC;
// structs as objects with their fields in schema order; lists as arrays; maps as objects whose
// keys are the keys as FormatValue prints them, in the map's order. What AppendJSON writes,
// JSONParser (and FromJSON) read back into the same schema.
func AppendJSON(b []byte, a arrow.Array, i int) ([]byte, error) {
	if a.IsNull(i) {
		return append(b, "null"...), nil
	}
	switch c := a.(type) {
	case *array.Struct:
		st := c.DataType().(*arrow.StructType)
		b = append(b, '{')
		for j := range c.NumField() {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, st.Field(j).Name)
			b = append(b, ':')
			var err error
			if b, err = AppendJSON(b, c.Field(j), i); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	case *array.Map:
		start, end := c.ValueOffsets(i)
		keys, items := c.Keys(), c.Items()
		b = append(b, '{')
		for j := start; j < end; j++ {
			if j > start {
				b = append(b, ',')
			}
			b = appendJSONString(b, FormatValue(keys, int(j)))
			b = append(b, ':')
			var err error
			if b, err = AppendJSON(b, items, int(j)); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	case array.ListLike:
		start, end := c.ValueOffsets(i)
		vals := c.ListValues()
		b = append(b, '[')
		for j := start; j < end; j++ {
			if j > start {
				b = append(b, ',')
			}
			var err error
			if b, err = AppendJSON(b, vals, int(j)); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case *array.Decimal128, *array.Decimal256, *array.Decimal32, *array.Decimal64:
		return append(b, a.ValueStr(i)...), nil // a JSON number, as Spark writes decimals
	case *array.Float32:
		return appendJSONFloat(b, float64(c.Value(i)), 32), nil
	case *array.Float64:
		return appendJSONFloat(b, c.Value(i), 64), nil
	}
	switch v := JSONValue(a, i).(type) {
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case uint64:
		return strconv.AppendUint(b, v, 10), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case string:
		return appendJSONString(b, v), nil
	default:
		enc, err := json.Marshal(v)
		if err != nil {
			return b, err
		}
		return append(b, enc...), nil
	}
}

func appendJSONFloat(b []byte, v float64, bits int) []byte {
	if w, ok := nonFinite(v); ok {
		return appendJSONString(b, w)
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e21 {
		// A whole number keeps a fraction, "1.0" as Spark writes it, so that a reader sees a
		// double and not an integer.
		return strconv.AppendFloat(b, v, 'f', 1, bits)
	}
	return strconv.AppendFloat(b, v, 'g', -1, bits)
}

func appendJSONString(b []byte, s string) []byte {
	enc, _ := json.Marshal(s) // a string always encodes; invalid UTF-8 becomes U+FFFD
	return append(b, enc...)
}
