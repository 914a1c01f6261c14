//go:build tinygo || arrow_json_stdlib

package arrowbatch

import (
	"bytes"
	"encoding/json"
)

// The JSON package arrow-go's builders decode with when arrow-go is built with the
// arrow_json_stdlib tag: encoding/json.
type (
	jsonDecoder = json.Decoder
	jsonNumber  = json.Number
	jsonDelim   = json.Delim
)

// newJSONDecoder returns a decoder of the type arrow-go's builders take.
func newJSONDecoder(d []byte) *json.Decoder {
	dec := json.NewDecoder(bytes.NewReader(d))
	dec.UseNumber()
	return dec
}
