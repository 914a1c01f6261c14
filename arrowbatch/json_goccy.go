//go:build !tinygo && !arrow_json_stdlib

package arrowbatch

import (
	"bytes"

	json "github.com/goccy/go-json"
)

// The JSON package arrow-go's builders decode with: goccy/go-json, unless arrow-go is built
// with the arrow_json_stdlib tag (see json_stdlib.go).
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
