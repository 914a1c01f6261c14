package arrowbatch

import (
	"bytes"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// WithoutFastPath returns a copy of p that decodes every document with the generic path, for
// the tests that compare the fast path with it.
func WithoutFastPath(p *JSONParser) *JSONParser {
	q := *p
	q.slowOnly = true
	return &q
}

// HasFastPath reports whether p decodes with the fast path.
func HasFastPath(p *JSONParser) bool { return p.fast != nil && !p.slowOnly }

// FastDecodes reports whether the fast path of p decodes doc itself (rather than leaving it to
// the generic path).
func FastDecodes(p *JSONParser, doc []byte) bool {
	if p.fast == nil {
		return false
	}
	b := array.NewRecordBuilder(memory.NewGoAllocator(), p.build)
	defer b.Release()
	d := newFastDecoder(p.fast, b)
	return d != nil && d.decode(bytes.TrimSpace(doc))
}

// ParseRestarts returns how many times a batch was parsed again because of a poisoned row.
func ParseRestarts() int64 { return parseRestarts.Load() }
