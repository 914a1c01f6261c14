package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"iter"
	"math"
)

// The state files in the checkpoint. Both backends read and write exactly this format, so a
// checkpoint moves between them.
//
//	magic          "SLST" (4 bytes)
//	format version 1 (1 byte)
//	kind           'd' for a delta, 's' for a snapshot (1 byte)
//	state version  uvarint: the version the file describes; it must match the file's name
//	entry count    uvarint
//	entries        count times: uvarint key length, key,
//	               uvarint value tag (0 = tombstone: the key was deleted; n+1 = a value of n
//	               bytes), value
//	checksum       CRC-32C (Castagnoli) of every byte before it, 4 bytes little-endian
//
// Keys are in strictly increasing byte order, so a file holds each key once and two stores
// that made the same changes write the same bytes. Snapshots hold no tombstones.
const (
	fileMagic          = "SLST"
	formatVersion      = 1
	kindDelta     byte = 'd'
	kindSnapshot  byte = 's'
	headerSize         = len(fileMagic) + 2
	checksumSize       = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// entry is one key of a state file: a value, or a tombstone when deleted is set.
type entry struct {
	key, value []byte
	deleted    bool
}

// kindName names a file kind for messages and file names.
func kindName(kind byte) string {
	switch kind {
	case kindDelta:
		return "delta"
	case kindSnapshot:
		return "snapshot"
	}
	return fmt.Sprintf("unknown kind %q", kind)
}

// encodeFile returns the file of the given kind and version holding the n entries of
// entries, which must be in strictly increasing key order. It fails, rather than writing a
// file that would not load, when the entries do not match n or are out of order.
func encodeFile(kind byte, version int64, n int64, entries iter.Seq[entry], sizeHint int) ([]byte, error) {
	buf := make([]byte, 0, headerSize+2*binary.MaxVarintLen64+sizeHint+checksumSize)
	buf = append(buf, fileMagic...)
	buf = append(buf, formatVersion, kind)
	buf = binary.AppendUvarint(buf, uint64(version))
	buf = binary.AppendUvarint(buf, uint64(n))
	var count int64
	var prev []byte
	var err error
	for e := range entries {
		if count > 0 && bytes.Compare(prev, e.key) >= 0 {
			err = fmt.Errorf("state: internal error: %s %d: key %q after %q", kindName(kind), version, e.key, prev)
			break
		}
		if kind == kindSnapshot && e.deleted {
			err = fmt.Errorf("state: internal error: snapshot %d: tombstone for key %q", version, e.key)
			break
		}
		buf = binary.AppendUvarint(buf, uint64(len(e.key)))
		buf = append(buf, e.key...)
		prev = buf[len(buf)-len(e.key):]
		if e.deleted {
			buf = append(buf, 0)
		} else {
			buf = binary.AppendUvarint(buf, uint64(len(e.value))+1)
			buf = append(buf, e.value...)
		}
		count++
	}
	if err != nil {
		return nil, err
	}
	if count != n {
		return nil, fmt.Errorf("state: internal error: %s %d: %d entries, expected %d", kindName(kind), version, count, n)
	}
	return append(buf, encodeChecksum(buf)...), nil
}

// encodeChecksum returns the checksum that ends a file whose other bytes are b.
func encodeChecksum(b []byte) []byte {
	return binary.LittleEndian.AppendUint32(nil, crc32.Checksum(b, castagnoli))
}

// stateFile is a parsed, fully validated state file.
type stateFile struct {
	kind    byte
	version int64
	count   int64
	body    []byte // the entries
}

// parseFile checks a whole state file (checksum, header, every entry) without copying it.
// It never panics, whatever the bytes.
func parseFile(data []byte) (stateFile, error) {
	var f stateFile
	if len(data) < headerSize+2+checksumSize {
		return f, fmt.Errorf("truncated: %d bytes is shorter than any state file", len(data))
	}
	if string(data[:len(fileMagic)]) != fileMagic {
		return f, errors.New("not a state file (bad magic number)")
	}
	body, sum := data[:len(data)-checksumSize], binary.LittleEndian.Uint32(data[len(data)-checksumSize:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return f, fmt.Errorf("checksum mismatch (stored %08x, computed %08x): the file is damaged or truncated", sum, got)
	}
	switch v := data[len(fileMagic)]; {
	case v > formatVersion:
		return f, fmt.Errorf("format version %d is newer than this build reads (%d)", v, formatVersion)
	case v != formatVersion:
		return f, fmt.Errorf("unknown format version %d (this build reads %d)", v, formatVersion)
	}
	f.kind = data[len(fileMagic)+1]
	if f.kind != kindDelta && f.kind != kindSnapshot {
		return f, fmt.Errorf("unknown file kind %q", f.kind)
	}
	rest := body[headerSize:]
	version, rest, err := uvarint(rest, "state version")
	if err != nil {
		return f, err
	}
	if version > math.MaxInt64 {
		return f, fmt.Errorf("state version %d out of range", version)
	}
	count, rest, err := uvarint(rest, "entry count")
	if err != nil {
		return f, err
	}
	// Each entry takes at least two bytes.
	if count > uint64(len(rest))/2 {
		return f, fmt.Errorf("entry count %d does not fit in the file's %d bytes", count, len(rest))
	}
	f.version, f.count, f.body = int64(version), int64(count), rest
	var prev []byte
	for i := int64(0); i < f.count; i++ {
		var e entry
		if e, rest, err = nextEntry(rest); err != nil {
			return f, fmt.Errorf("entry %d: %w", i, err)
		}
		if i > 0 && bytes.Compare(prev, e.key) >= 0 {
			return f, fmt.Errorf("entry %d: key %q is not after the previous key %q", i, e.key, prev)
		}
		if e.deleted && f.kind == kindSnapshot {
			return f, fmt.Errorf("entry %d: a snapshot holds a tombstone (key %q)", i, e.key)
		}
		prev = e.key
	}
	if len(rest) != 0 {
		return f, fmt.Errorf("%d bytes of trailing data after %d entries", len(rest), f.count)
	}
	return f, nil
}

// entries returns the file's entries, in key order. Their slices point into the file's data.
func (f stateFile) entries() iter.Seq[entry] {
	return func(yield func(entry) bool) {
		rest := f.body
		for i := int64(0); i < f.count; i++ {
			var e entry
			var err error
			if e, rest, err = nextEntry(rest); err != nil || !yield(e) {
				return // parseFile validated the entries: err is always nil
			}
		}
	}
}

// nextEntry decodes the entry at the start of b.
func nextEntry(b []byte) (entry, []byte, error) {
	var e entry
	n, b, err := uvarint(b, "key length")
	if err != nil {
		return e, nil, err
	}
	if n > uint64(len(b)) {
		return e, nil, fmt.Errorf("key length %d exceeds the %d bytes left", n, len(b))
	}
	e.key, b = b[:n:n], b[n:]
	tag, b, err := uvarint(b, "value length")
	if err != nil {
		return e, nil, err
	}
	if tag == 0 {
		e.deleted = true
		return e, b, nil
	}
	if n = tag - 1; n > uint64(len(b)) {
		return e, nil, fmt.Errorf("value length %d exceeds the %d bytes left", n, len(b))
	}
	e.value, b = b[:n:n], b[n:]
	return e, b, nil
}

func uvarint(b []byte, what string) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, fmt.Errorf("bad %s (truncated or overflowing varint)", what)
	}
	if n > 1 && b[n-1] == 0 {
		return 0, nil, fmt.Errorf("bad %s (varint not in its shortest form)", what)
	}
	return v, b[n:], nil
}
