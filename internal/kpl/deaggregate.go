package kpl

import (
	"crypto/md5"
	"errors"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrNotAggregated is returned by [Deaggregate] for data that is not a valid aggregated record.
// The caller delivers such data unchanged as one plain user record with sub-sequence number 0
// and the Kinesis record's own partition key, as the KCL does.
var ErrNotAggregated = errors.New("kpl: not an aggregated record")

// magic starts the data of every aggregated record.
var magic = [4]byte{0xF3, 0x89, 0x9A, 0xC2}

const (
	magicSize  = len(magic)
	digestSize = md5.Size
	// overhead is the size of an aggregated record beyond its protobuf message.
	overhead = magicSize + digestSize
)

// Field numbers of the AggregatedRecord, Record and Tag messages.
const (
	fieldPartitionKeyTable    protowire.Number = 1
	fieldExplicitHashKeyTable protowire.Number = 2
	fieldRecords              protowire.Number = 3

	fieldPartitionKeyIndex    protowire.Number = 1
	fieldExplicitHashKeyIndex protowire.Number = 2
	fieldData                 protowire.Number = 3
	fieldTags                 protowire.Number = 4

	fieldTagKey protowire.Number = 1
)

// IsAggregated reports whether data is a valid aggregated record, that is whether [Deaggregate]
// would decode it rather than return [ErrNotAggregated]. It checks the cheap conditions first
// (length, magic), then the MD5, then the protobuf, and does not allocate.
func IsAggregated(data []byte) bool {
	msg, ok := message(data)
	if !ok {
		return false
	}
	_, ok = scan(msg)
	return ok
}

// Deaggregate decodes the aggregated record data and calls fn once for each user record, in
// order. sub is the user record's sub-sequence number (0, 1, 2, ...). explicitHashKey is "" when
// the user record has none. payload is a sub-slice of data, not a copy: it is valid as long as
// data is, and its capacity equals its length, so appending to it cannot overwrite data. The
// key strings are allocated once per call for all table entries, never per user record, and may
// be retained.
//
// Deaggregate returns [ErrNotAggregated], without calling fn, when any of these holds:
//
//   - data is 20 bytes or shorter: it cannot hold the magic, a non-empty protobuf message and the
//     MD5 (an empty message is not an aggregate, as in the KCL);
//   - data does not start with the magic bytes F3 89 9A C2;
//   - the last 16 bytes are not the MD5 of the bytes between the magic and them;
//   - those bytes are not a well-formed protobuf message: a truncated or over-long varint, a
//     length past the end, a field number of 0 or above 2^29-1, wire type 6 or 7, or a group
//     whose end is missing or does not match (fields of unknown number, or of a known number
//     with another wire type, are skipped, as protobuf parsers do);
//   - a Record lacks its required partition_key_index or data field, or a Tag lacks its key;
//   - a Record's partition_key_index is not below the number of partition_key_table entries,
//     or its explicit_hash_key_index (when present) not below the number of
//     explicit_hash_key_table entries. The KCL drops the user records from the bad one on
//     instead; see the package documentation.
//
// A valid aggregate may hold no user records; then Deaggregate returns 0, nil (the KCL delivers
// nothing for it either). Strings are not checked for valid UTF-8 (proto2 does not require it)
// and explicit hash keys are not checked for being decimal numbers.
//
// If fn returns an error, Deaggregate stops and returns it as is. n is the number of calls to fn
// that returned nil. Deaggregate is safe for concurrent use and does not modify data.
func Deaggregate(data []byte, fn func(sub int, partitionKey string, explicitHashKey string, payload []byte) error) (n int, err error) {
	msg, ok := message(data)
	if !ok {
		return 0, ErrNotAggregated
	}
	s, ok := scan(msg)
	if !ok {
		return 0, ErrNotAggregated
	}
	if s.records == 0 {
		return 0, nil
	}

	// Small tables live on the stack; their strings share one allocation.
	var stack [64]string
	var keys []string
	if k := s.pks + s.ehks; k <= len(stack) {
		keys = stack[:k]
	} else {
		keys = make([]string, k)
	}
	keyTables(msg, s, keys)
	pks, ehks := keys[:s.pks], keys[s.pks:]

	for b := msg; len(b) > 0; {
		num, typ, v, rest, ok := nextField(b)
		if !ok {
			break // unreachable: scan accepted msg
		}
		b = rest
		if num != fieldRecords || typ != protowire.BytesType {
			continue
		}
		r, _ := parseRecord(v)
		ehk := ""
		if r.hasEHK {
			ehk = ehks[r.ehk]
		}
		if err := fn(n, pks[r.pk], ehk, r.data[:len(r.data):len(r.data)]); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// message returns the protobuf message of an aggregated record after checking the length, the
// magic and the MD5, cheapest first.
func message(data []byte) ([]byte, bool) {
	if len(data) <= overhead || [magicSize]byte(data) != magic {
		return nil, false
	}
	msg := data[magicSize : len(data)-digestSize]
	if md5.Sum(msg) != [digestSize]byte(data[len(data)-digestSize:]) {
		return nil, false
	}
	return msg, true
}

// summary is what scan learns about a valid AggregatedRecord message.
type summary struct {
	pks, ehks int // number of partition key and explicit hash key table entries
	keyBytes  int // total length of all table entries
	records   int // number of Records
}

// scan checks that msg is an AggregatedRecord that Deaggregate can decode (see its list of
// conditions) and counts its parts. It does not allocate.
func scan(msg []byte) (s summary, ok bool) {
	var maxPK, maxEHK uint64
	anyEHK := false
	for len(msg) > 0 {
		num, typ, v, rest, ok := nextField(msg)
		if !ok {
			return s, false
		}
		msg = rest
		if typ != protowire.BytesType {
			continue
		}
		switch num {
		case fieldPartitionKeyTable:
			s.pks++
			s.keyBytes += len(v)
		case fieldExplicitHashKeyTable:
			s.ehks++
			s.keyBytes += len(v)
		case fieldRecords:
			r, ok := parseRecord(v)
			if !ok {
				return s, false
			}
			s.records++
			maxPK = max(maxPK, r.pk)
			if r.hasEHK {
				anyEHK = true
				maxEHK = max(maxEHK, r.ehk)
			}
		}
	}
	// Tables may follow the records that index them, so the bounds are checked at the end.
	if s.records > 0 && maxPK >= uint64(s.pks) {
		return s, false
	}
	if anyEHK && maxEHK >= uint64(s.ehks) {
		return s, false
	}
	return s, true
}

// keyTables fills keys with the partition key table followed by the explicit hash key table of
// msg, which scan accepted with summary s. All strings share one allocation.
func keyTables(msg []byte, s summary, keys []string) {
	var sb strings.Builder
	sb.Grow(s.keyBytes)
	for b := msg; len(b) > 0; {
		num, typ, v, rest, _ := nextField(b)
		b = rest
		if typ == protowire.BytesType && (num == fieldPartitionKeyTable || num == fieldExplicitHashKeyTable) {
			sb.Write(v)
		}
	}
	blob := sb.String()
	off, pk, ehk := 0, 0, s.pks
	for b := msg; len(b) > 0; {
		num, typ, v, rest, _ := nextField(b)
		b = rest
		if typ != protowire.BytesType {
			continue
		}
		switch num {
		case fieldPartitionKeyTable:
			keys[pk] = blob[off : off+len(v)]
			pk++
		case fieldExplicitHashKeyTable:
			keys[ehk] = blob[off : off+len(v)]
			ehk++
		default:
			continue
		}
		off += len(v)
	}
}

// nextField reads one field of a message from b and returns the rest of b. For a
// length-delimited field v is its content; for other wire types v is nil. ok is false when b
// does not start with a well-formed field; then rest is nil.
func nextField(b []byte) (num protowire.Number, typ protowire.Type, v, rest []byte, ok bool) {
	num, typ, n := consumeTag(b)
	if n < 0 {
		return 0, 0, nil, nil, false
	}
	b = b[n:]
	if typ == protowire.BytesType {
		v, n = protowire.ConsumeBytes(b)
	} else {
		n = protowire.ConsumeFieldValue(num, typ, b)
	}
	if n < 0 {
		return 0, 0, nil, nil, false
	}
	return num, typ, v, b[n:], true
}

// consumeTag is protowire.ConsumeTag that also rejects field numbers above 2^29-1, as the
// protobuf runtime does.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && num > protowire.MaxValidNumber {
		return 0, 0, -1
	}
	return num, typ, n
}

// record is one decoded Record message. data aliases the input.
type record struct {
	pk, ehk uint64
	hasEHK  bool
	data    []byte
}

// parseRecord decodes a Record message. ok is false when b is malformed or lacks a required
// field (partition_key_index, data, or a tag's key). A field that occurs more than once takes its
// last value, as in protobuf.
func parseRecord(b []byte) (r record, ok bool) {
	hasPK, hasData := false, false
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return r, false
		}
		b = b[n:]
		switch {
		case num == fieldPartitionKeyIndex && typ == protowire.VarintType:
			r.pk, n = protowire.ConsumeVarint(b)
			hasPK = true
		case num == fieldExplicitHashKeyIndex && typ == protowire.VarintType:
			r.ehk, n = protowire.ConsumeVarint(b)
			r.hasEHK = true
		case num == fieldData && typ == protowire.BytesType:
			r.data, n = protowire.ConsumeBytes(b)
			hasData = true
		case num == fieldTags && typ == protowire.BytesType:
			var tag []byte
			tag, n = protowire.ConsumeBytes(b)
			if n >= 0 && !validTag(tag) {
				return r, false
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return r, false
		}
		b = b[n:]
	}
	return r, hasPK && hasData
}

// validTag reports whether b is a well-formed Tag message with its required key.
func validTag(b []byte) bool {
	hasKey := false
	for len(b) > 0 {
		num, typ, _, rest, ok := nextField(b)
		if !ok {
			return false
		}
		b = rest
		if num == fieldTagKey && typ == protowire.BytesType {
			hasKey = true
		}
	}
	return hasKey
}
