package kinesis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sluicedev/sluice/sources"
)

// offsetVersion is the version of the offset format this package writes and reads.
const offsetVersion = 1

// posKind is the kind of a shard position.
type posKind uint8

const (
	posNone        posKind = iota // not a position (zero value)
	posTrimHorizon                // nothing read yet; start at the oldest record
	posAtTimestamp                // nothing read yet; start at the first record arriving at or after tsMs
	posAfter                      // user records up to (seq, sub) have been read
	posClosed                     // the shard has been read to its end
)

// position is where the next read of a shard starts: the state of one shard in an offset.
// It is comparable; equal positions are the same place.
type position struct {
	kind posKind
	tsMs int64  // posAtTimestamp: milliseconds since 1970
	seq  string // posAfter: the sequence number of the last user record read
	sub  int64  // posAfter: its sub-sequence number (0 unless it came out of a KPL aggregate)
}

func trimHorizon() position { return position{kind: posTrimHorizon} }

func atTimestamp(ms int64) position { return position{kind: posAtTimestamp, tsMs: ms} }

func after(seq string, sub int64) position { return position{kind: posAfter, seq: seq, sub: sub} }

func closedPos() position { return position{kind: posClosed} }

// String describes the position for errors and logs.
func (p position) String() string {
	switch p.kind {
	case posTrimHorizon:
		return "trim_horizon"
	case posAtTimestamp:
		return fmt.Sprintf("at_timestamp(%d)", p.tsMs)
	case posAfter:
		if p.sub != 0 {
			return fmt.Sprintf("after(%s/%d)", p.seq, p.sub)
		}
		return fmt.Sprintf("after(%s)", p.seq)
	case posClosed:
		return "closed"
	}
	return "none"
}

// unread reports whether nothing of the shard has been read at p.
func (p position) unread() bool { return p.kind == posTrimHorizon || p.kind == posAtTimestamp }

// cmpSeq compares two sequence numbers: decimal strings without leading zeros, up to 128
// digits.
func cmpSeq(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// cmpRecord compares user record (seq, sub) with (seq2, sub2).
func cmpRecord(seq string, sub int64, seq2 string, sub2 int64) int {
	if c := cmpSeq(seq, seq2); c != 0 {
		return c
	}
	switch {
	case sub < sub2:
		return -1
	case sub > sub2:
		return 1
	}
	return 0
}

// covers reports whether the user record (seq, sub) has been read at position p, that is
// whether a read starting at p skips it.
func (p position) covers(seq string, sub int64) bool {
	switch p.kind {
	case posAfter:
		return cmpRecord(seq, sub, p.seq, p.sub) <= 0
	case posClosed:
		return true
	}
	return false
}

// before reports whether p is strictly before q in a shard's reading order. Positions
// where nothing was read (trim horizon, at-timestamp) are before every other position, and
// closed is after every other one.
func (p position) before(q position) bool {
	rank := func(x position) int {
		switch x.kind {
		case posAfter:
			return 1
		case posClosed:
			return 2
		}
		return 0
	}
	if rp, rq := rank(p), rank(q); rp != rq {
		return rp < rq
	}
	if p.kind == posAfter {
		return cmpRecord(p.seq, p.sub, q.seq, q.sub) < 0
	}
	return false
}

// streamOffset is the state of one stream in an offset.
type streamOffset struct {
	createdMs int64               // the stream's StreamCreationTimestamp
	shards    map[string]position // by shard ID
}

// offset is a decoded source offset: per stream (by its name or ARN as configured), per
// shard, where the next read starts. A shard of a configured stream that is missing from an
// offset has not been read at all: it starts at its trim horizon (see the package
// documentation).
type offset struct {
	streams map[string]*streamOffset
}

func (o *offset) clone() *offset {
	c := &offset{streams: make(map[string]*streamOffset, len(o.streams))}
	for k, s := range o.streams {
		c.streams[k] = &streamOffset{createdMs: s.createdMs, shards: maps.Clone(s.shards)}
	}
	return c
}

// pos returns the position of a shard, or ok false when the offset does not hold it.
func (o *offset) pos(stream, shard string) (position, bool) {
	s := o.streams[stream]
	if s == nil {
		return position{}, false
	}
	p, ok := s.shards[shard]
	return p, ok
}

// startOf returns where a read of shard starts at o: its position, or the trim horizon for
// a shard the offset does not hold.
func (o *offset) startOf(stream, shard string) position {
	if p, ok := o.pos(stream, shard); ok {
		return p
	}
	return trimHorizon()
}

// The JSON form. encoding/json writes struct fields in order and map keys sorted, so equal
// offsets encode to equal bytes, as the coordinator requires.
type offsetJSON struct {
	Version int                    `json:"version"`
	Streams map[string]*streamJSON `json:"streams"`
}

type streamJSON struct {
	CreatedMs int64                `json:"createdMs"`
	Shards    map[string]shardJSON `json:"shards"`
}

type shardJSON struct {
	Pos         string `json:"pos"`
	TimestampMs int64  `json:"timestampMs,omitempty"`
	Seq         string `json:"seq,omitempty"`
	Sub         int64  `json:"sub,omitempty"`
}

// encode returns the canonical JSON of o.
func (o *offset) encode() sources.Offset {
	j := offsetJSON{Version: offsetVersion, Streams: make(map[string]*streamJSON, len(o.streams))}
	for name, s := range o.streams {
		sj := &streamJSON{CreatedMs: s.createdMs, Shards: make(map[string]shardJSON, len(s.shards))}
		for id, p := range s.shards {
			var pj shardJSON
			switch p.kind {
			case posTrimHorizon:
				pj.Pos = "trim_horizon"
			case posAtTimestamp:
				pj.Pos, pj.TimestampMs = "at_timestamp", p.tsMs
			case posAfter:
				pj.Pos, pj.Seq, pj.Sub = "after", p.seq, p.sub
			case posClosed:
				pj.Pos = "closed"
			}
			sj.Shards[id] = pj
		}
		j.Streams[name] = sj
	}
	b, err := json.Marshal(j)
	if err != nil {
		panic(fmt.Sprintf("kinesis: encode offset: %v", err)) // unreachable: plain data
	}
	return b
}

// errBadOffset is wrapped by decodeOffset's errors.
var errBadOffset = errors.New("kinesis: invalid offset")

// decodeOffset parses and checks an offset. It rejects anything encode would not write.
func decodeOffset(b sources.Offset) (*offset, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", errBadOffset, fmt.Sprintf(format, args...))
	}
	var j offsetJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, bad("%v", jsonProblem(err))
	}
	if dec.More() {
		return nil, bad("text after the JSON object")
	}
	if j.Version != offsetVersion {
		return nil, bad("version %d; this build reads version %d", j.Version, offsetVersion)
	}
	if j.Streams == nil {
		return nil, bad(`no "streams"`)
	}
	o := &offset{streams: make(map[string]*streamOffset, len(j.Streams))}
	for name, sj := range j.Streams {
		if sj == nil || name == "" {
			return nil, bad("stream %q has no state", name)
		}
		if sj.CreatedMs <= 0 {
			return nil, bad("stream %q: createdMs must be positive", name)
		}
		so := &streamOffset{createdMs: sj.CreatedMs, shards: make(map[string]position, len(sj.Shards))}
		for id, pj := range sj.Shards {
			if id == "" {
				return nil, bad("stream %q: empty shard ID", name)
			}
			var p position
			switch pj.Pos {
			case "trim_horizon":
				p = trimHorizon()
				if pj.TimestampMs != 0 || pj.Seq != "" || pj.Sub != 0 {
					return nil, bad("stream %q shard %q: trim_horizon has extra fields", name, id)
				}
			case "at_timestamp":
				if pj.TimestampMs <= 0 || pj.Seq != "" || pj.Sub != 0 {
					return nil, bad("stream %q shard %q: at_timestamp needs a positive timestampMs and nothing else", name, id)
				}
				p = atTimestamp(pj.TimestampMs)
			case "after":
				if !validSeq(pj.Seq) || pj.Sub < 0 || pj.TimestampMs != 0 {
					return nil, bad("stream %q shard %q: after needs a decimal seq and a sub-sequence number >= 0", name, id)
				}
				p = after(pj.Seq, pj.Sub)
			case "closed":
				if pj.TimestampMs != 0 || pj.Seq != "" || pj.Sub != 0 {
					return nil, bad("stream %q shard %q: closed has extra fields", name, id)
				}
				p = closedPos()
			default:
				return nil, bad("stream %q shard %q: unknown pos %q", name, id, pj.Pos)
			}
			so.shards[id] = p
		}
		o.streams[name] = so
	}
	return o, nil
}

// validSeq reports whether s is a Kinesis sequence number: 1 to 128 decimal digits without
// leading zeros.
func validSeq(s string) bool {
	if len(s) == 0 || len(s) > 128 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// streamKeys returns the stream keys of o, sorted.
func (o *offset) streamKeys() []string {
	return slices.Sorted(maps.Keys(o.streams))
}
