//go:build tinygo || arrow_json_stdlib

package arrowbatch

import (
	"bytes"
	"encoding/json"
)

// newJSONDecoder returns a decoder of the type arrow-go's builders take when arrow-go is built
// with the arrow_json_stdlib tag: encoding/json's.
func newJSONDecoder(d []byte) *json.Decoder {
	dec := json.NewDecoder(bytes.NewReader(d))
	dec.UseNumber()
	return dec
}
