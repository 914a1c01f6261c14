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
//	kind           'd' for a delta, 's' for a snapshot, 'p' for the manifest of a snapshot
//	               written in parts (1 byte)
//	state version  uvarint: the version the file describes; it must match the file's name
//	entry count    uvarint
//	entries        count times: uvarint key length, key,
//	               uvarint value tag (0 = tombstone: the key was deleted; n+1 = a value of n
//	               bytes), value
//	checksum       CRC-32C (Castagnoli) of every byte before it, 4 bytes little-endian
//
// Keys are in strictly increasing byte order, so a file holds each key once and two stores
// that made the same changes write the same bytes. Snapshots hold no tombstones.
//
// A snapshot larger than the Pebble backend's part size (snapshotPartBytes) is written in
// parts, so that neither writing nor loading it holds more than one part in memory: the
// parts <v>.snapshot.1 ... <v>.snapshot.n are snapshot files ('s', version v) of
// consecutive key ranges, in key order across the parts, and <v>.snapshot is then a
// manifest ('p', version v) written last, whose entries list the parts: key i (1..n) as 4
// bytes big-endian, value the part's checksum (4 bytes little-endian) then its entry count
// (uvarint). The checksums tie the manifest to the parts it was written with. Builds that
// predate the manifest report it as a damaged file (unknown kind), never load part of a
// state. A snapshot that fits in one part is one snapshot file, as the memory backend
// always writes.
const (
	fileMagic          = "SLST"
	formatVersion      = 1
	kindDelta     byte = 'd'
	kindSnapshot  byte = 's'
	kindParts     byte = 'p'
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
	case kindParts:
		return "snapshot manifest"
	}
	return fmt.Sprintf("unknown kind %q", kind)
}

// encodeFile returns the file of the given kind and version holding the n entries of
// entries, which must be in strictly increasing key order. It fails, rather than writing a
// file that would not load, when the entries do not match n or are out of order.
func encodeFile(kind byte, version int64, n int64, entries iter.Seq[entry], sizeHint int) ([]byte, error) {
	buf := make([]byte, 0, headerSize+2*binary.MaxVarintLen64+sizeHint+checksumSize)
	buf = appendHeader(buf, kind, version, n)
	var count int64
	var prev []byte
	var err error
	for e := range entries {
		if err = checkEntry(kind, version, count, prev, e); err != nil {
			break
		}
		buf = appendEntry(buf, e)
		prev = e.key
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

// appendHeader appends a file's header: magic, format version, kind, state version, count.
func appendHeader(buf []byte, kind byte, version, n int64) []byte {
	buf = append(buf, fileMagic...)
	buf = append(buf, formatVersion, kind)
	buf = binary.AppendUvarint(buf, uint64(version))
	return binary.AppendUvarint(buf, uint64(n))
}

// maxHeaderSize is the largest a header can be.
const maxHeaderSize = headerSize + 2*binary.MaxVarintLen64

// appendEntry appends the encoding of e.
func appendEntry(buf []byte, e entry) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(e.key)))
	buf = append(buf, e.key...)
	if e.deleted {
		return append(buf, 0)
	}
	buf = binary.AppendUvarint(buf, uint64(len(e.value))+1)
	return append(buf, e.value...)
}

// checkEntry reports an entry that would make a file that does not load: a key not after the
// previous one (prev, the key of entry count-1) or a tombstone in a snapshot.
func checkEntry(kind byte, version, count int64, prev []byte, e entry) error {
	if count > 0 && bytes.Compare(prev, e.key) >= 0 {
		return fmt.Errorf("state: internal error: %s %d: key %q after %q", kindName(kind), version, e.key, prev)
	}
	if kind != kindDelta && e.deleted {
		return fmt.Errorf("state: internal error: %s %d: tombstone for key %q", kindName(kind), version, e.key)
	}
	return nil
}

// partRef is what a snapshot manifest records of one part: its entry count and checksum.
type partRef struct {
	count int64
	sum   uint32
}

// snapshotWriter encodes a snapshot's entries into files of about partBytes each, holding
// one part in memory at a time. A snapshot that fits in one part is written as one snapshot
// file, byte for byte what encodeFile makes; a larger one as the parts 1..n (snapshot files
// of consecutive key ranges, see partFileName) and then a manifest (kindParts) that lists
// them, written last, so the snapshot exists once the manifest does.
type snapshotWriter struct {
	version   int64
	partBytes int // 0: no limit, the snapshot is always one file
	// write writes the whole snapshot or the manifest (part 0), or a part (1..n).
	write func(part int, data []byte) error

	buf   []byte // maxHeaderSize bytes of room for the header, then the part's entries
	count int64  // entries in buf
	total int64
	prev  []byte // the last key added
	parts []partRef
	// maxBuf is the largest buf has been, for tests.
	maxBuf int
}

func newSnapshotWriter(version int64, partBytes int, write func(part int, data []byte) error) *snapshotWriter {
	return &snapshotWriter{version: version, partBytes: partBytes, write: write, buf: make([]byte, maxHeaderSize)}
}

// add appends e, which must come after the entries added before; when the part being built
// is full it is written first.
func (w *snapshotWriter) add(e entry) error {
	if err := checkEntry(kindSnapshot, w.version, w.total, w.prev, e); err != nil {
		return err
	}
	if w.partBytes > 0 && w.count > 0 && len(w.buf)-maxHeaderSize+len(e.key)+len(e.value) > w.partBytes {
		if err := w.flush(len(w.parts) + 1); err != nil {
			return err
		}
	}
	w.buf = appendEntry(w.buf, e)
	w.maxBuf = max(w.maxBuf, len(w.buf))
	w.prev = append(w.prev[:0], e.key...)
	w.count++
	w.total++
	return nil
}

// flush writes the entries in buf as a snapshot file: the whole snapshot when part is 0.
func (w *snapshotWriter) flush(part int) error {
	header := appendHeader(make([]byte, 0, maxHeaderSize), kindSnapshot, w.version, w.count)
	data := w.buf[maxHeaderSize-len(header):]
	copy(data, header)
	data = append(data, encodeChecksum(data)...)
	w.maxBuf = max(w.maxBuf, len(data))
	if err := w.write(part, data); err != nil {
		return err
	}
	if part > 0 {
		w.parts = append(w.parts, partRef{count: w.count, sum: binary.LittleEndian.Uint32(data[len(data)-checksumSize:])})
	}
	w.buf, w.count = w.buf[:maxHeaderSize], 0
	return nil
}

// finish writes what is left: the whole snapshot, or the last part and the manifest. n is
// the number of entries the snapshot must hold.
func (w *snapshotWriter) finish(n int64) error {
	if w.total != n {
		return fmt.Errorf("state: internal error: snapshot %d: %d entries, expected %d", w.version, w.total, n)
	}
	if len(w.parts) == 0 {
		return w.flush(0)
	}
	if w.count > 0 {
		if err := w.flush(len(w.parts) + 1); err != nil {
			return err
		}
	}
	manifest, err := encodeFile(kindParts, w.version, int64(len(w.parts)), manifestEntries(w.parts), 0)
	if err != nil {
		return err
	}
	return w.write(0, manifest)
}

// manifestEntries returns the entries of a manifest listing parts: part i (from 1) is the
// key i as 4 bytes big-endian, with the value its checksum (4 bytes little-endian) and its
// entry count (uvarint).
func manifestEntries(parts []partRef) iter.Seq[entry] {
	return func(yield func(entry) bool) {
		for i, p := range parts {
			key := binary.BigEndian.AppendUint32(nil, uint32(i+1))
			value := binary.LittleEndian.AppendUint32(nil, p.sum)
			if !yield(entry{key: key, value: binary.AppendUvarint(value, uint64(p.count))}) {
				return
			}
		}
	}
}

// parseManifest returns the parts a parsed manifest lists.
func parseManifest(f stateFile) ([]partRef, error) {
	if f.count == 0 {
		return nil, errors.New("a snapshot manifest lists no parts")
	}
	var parts []partRef
	for e := range f.entries() {
		i := len(parts) + 1
		if len(e.key) != 4 || binary.BigEndian.Uint32(e.key) != uint32(i) {
			return nil, fmt.Errorf("manifest entry %d: key %x is not part number %d", i, e.key, i)
		}
		if len(e.value) < checksumSize+1 {
			return nil, fmt.Errorf("manifest entry %d: value of %d bytes is too short", i, len(e.value))
		}
		count, rest, err := uvarint(e.value[checksumSize:], "part entry count")
		if err != nil || len(rest) != 0 || count > math.MaxInt64 {
			return nil, fmt.Errorf("manifest entry %d: bad part entry count", i)
		}
		parts = append(parts, partRef{count: int64(count), sum: binary.LittleEndian.Uint32(e.value)})
	}
	return parts, nil
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
	sum     uint32 // the checksum
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
	if f.kind != kindDelta && f.kind != kindSnapshot && f.kind != kindParts {
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
	f.version, f.count, f.body, f.sum = int64(version), int64(count), rest, sum
	var prev []byte
	for i := int64(0); i < f.count; i++ {
		var e entry
		if e, rest, err = nextEntry(rest); err != nil {
			return f, fmt.Errorf("entry %d: %w", i, err)
		}
		if i > 0 && bytes.Compare(prev, e.key) >= 0 {
			return f, fmt.Errorf("entry %d: key %q is not after the previous key %q", i, e.key, prev)
		}
		if e.deleted && f.kind != kindDelta {
			return f, fmt.Errorf("entry %d: a %s holds a tombstone (key %q)", i, kindName(f.kind), e.key)
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
