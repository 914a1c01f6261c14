package state

import (
	"iter"
	"slices"
)

// mapEntryOverhead is what one entry of the memory backend costs besides its key and value
// bytes: its map slot (a 16-byte string header and a 24-byte slice header) at the average
// load of Go's maps, and the rounding of the key's and value's allocations. Measured with 1M
// entries of 8 to 100 bytes on amd64: 100 to 113 bytes; BenchmarkMemoryPerKey reports the
// estimate next to the measured heap.
const mapEntryOverhead = 104

// memoryBackend keeps the committed state in a Go map.
type memoryBackend struct {
	m     map[string][]byte
	bytes int64 // key and value bytes
}

func newMemoryBackend() *memoryBackend { return &memoryBackend{m: map[string][]byte{}} }

func (b *memoryBackend) get(key []byte) ([]byte, bool, error) {
	v, ok := b.m[string(key)]
	return v, ok, nil
}

func (b *memoryBackend) scan(sorted bool, fn func(key, value []byte) bool) error {
	if !sorted {
		for k, v := range b.m {
			if !fn(bytesOf(k), v) {
				return nil
			}
		}
		return nil
	}
	keys := make([]string, 0, len(b.m))
	for k := range b.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !fn(bytesOf(k), b.m[k]) {
			return nil
		}
	}
	return nil
}

// apply cannot fail, so it is atomic.
func (b *memoryBackend) apply(keys []string, changes map[string]pending) error {
	for _, k := range keys {
		p := changes[k]
		if old, had := b.m[k]; had {
			b.bytes -= int64(len(k) + len(old))
		}
		if p.deleted {
			delete(b.m, k)
			continue
		}
		b.m[k] = p.value
		b.bytes += int64(len(k) + len(p.value))
	}
	return nil
}

func (b *memoryBackend) load(entries iter.Seq[entry], n int64) (int64, error) {
	if len(b.m) == 0 {
		b.m = make(map[string][]byte, n) // a snapshot, or the first delta
	}
	before := len(b.m)
	for e := range entries {
		if old, had := b.m[string(e.key)]; had {
			b.bytes -= int64(len(e.key) + len(old))
		}
		if e.deleted {
			delete(b.m, string(e.key))
			continue
		}
		// The value is copied: an entry points into the file's data, and keeping a slice of
		// it would keep the whole file.
		b.m[string(e.key)] = append(make([]byte, 0, len(e.value)), e.value...)
		b.bytes += int64(len(e.key) + len(e.value))
	}
	return int64(len(b.m) - before), nil
}

func (b *memoryBackend) memoryBytes() int64 {
	return b.bytes + int64(len(b.m))*mapEntryOverhead
}

func (b *memoryBackend) close() error {
	b.m, b.bytes = nil, 0
	return nil
}
