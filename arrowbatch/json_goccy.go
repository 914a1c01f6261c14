//go:build !tinygo && !arrow_json_stdlib

package arrowbatch

import (
	"bytes"

	json "github.com/goccy/go-json"
)

// newJSONDecoder returns a decoder of the type arrow-go's builders take: goccy/go-json's,
// unless arrow-go is built with the arrow_json_stdlib tag (see json_stdlib.go).
func newJSONDecoder(d []byte) *json.Decoder {
	dec := json.NewDecoder(bytes.NewReader(d))
	dec.UseNumber()
	return dec
}
