package fakekinesis

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// The PutRecords limits of Kinesis Data Streams, which Puts enforces.
const (
	// MaxPutRecords is the most entries one PutRecords call may carry.
	MaxPutRecords = 500
	// MaxPutRecordsBytes is the most bytes one PutRecords call may carry: every entry's data
	// (decoded) plus its partition key.
	MaxPutRecordsBytes = 5 << 20
	// MaxRecordBytes is the most bytes of one entry: its data (decoded) plus its partition key.
	MaxRecordBytes = 1 << 20
	// MaxPartitionKey is the longest partition key, in Unicode code points.
	MaxPartitionKey = 256
)

// Puts accepts PutRecords calls for a fake stream: it checks each call against the limits of
// Kinesis (MaxPutRecords, MaxPutRecordsBytes, MaxRecordBytes, MaxPartitionKey; a call over a
// limit is refused whole, with the error type Kinesis uses), counts the records and their
// bytes, and discards them. Every entry of an accepted call succeeds, with a sequence number
// of shard 0. The zero value accepts any stream; it is safe for concurrent use.
//
// It reads the request with a small JSON scanner of its own and base64-decodes each record's
// data into a scratch buffer, so that it costs far less CPU than the sink that calls it.
type Puts struct {
	// Stream, if not empty, is the only stream accepted, by name or by an ARN ending in
	// "/"+Stream; calls for another stream fail with ResourceNotFoundException.
	Stream string

	// Calls counts the PutRecords calls accepted; Refused those refused for a limit or a
	// malformed body.
	Calls, Refused atomic.Int64
	// Records counts the entries accepted; DataBytes their data bytes (decoded), and KeyBytes
	// their partition keys' bytes.
	Records, DataBytes, KeyBytes atomic.Int64

	bufs sync.Pool // *putScratch
}

// putScratch is the memory of one call.
type putScratch struct {
	data []byte       // a record's decoded data
	out  bytes.Buffer // the answer
}

// refusal is a reason to refuse a call: Kinesis' error type and message.
type refusal struct{ typ, msg string }

func (r *refusal) Error() string { return r.typ + ": " + r.msg }

func validation(format string, args ...any) *refusal {
	return &refusal{"ValidationException", "1 validation error detected: " + fmt.Sprintf(format, args...)}
}

// ServePutRecords answers the PutRecords call whose JSON 1.1 body is body.
func (p *Puts) ServePutRecords(w http.ResponseWriter, body []byte) {
	sc, _ := p.bufs.Get().(*putScratch)
	if sc == nil {
		sc = new(putScratch)
	}
	defer p.bufs.Put(sc)
	n, data, keys, err := p.scan(body, sc)
	if err != nil {
		var r *refusal
		if !errors.As(err, &r) {
			r = &refusal{"SerializationException", err.Error()}
		}
		p.Refused.Add(1)
		fail(w, 400, r.typ, r.msg)
		return
	}
	first := p.Records.Add(int64(n)) - int64(n)
	p.Calls.Add(1)
	p.DataBytes.Add(data)
	p.KeyBytes.Add(keys)

	b := &sc.out
	b.Reset()
	b.WriteString(`{"EncryptionType":"NONE","FailedRecordCount":0,"Records":[`)
	var sq []byte
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"SequenceNumber":"`)
		sq = appendSeq(sq[:0], 0, int(first)+i)
		b.Write(sq)
		b.WriteString(`","ShardId":"`)
		b.WriteString(shardID(0))
		b.WriteString(`"}`)
	}
	b.WriteString(`]}`)
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.Write(b.Bytes())
}

// scan reads a PutRecords request and checks it: the stream, and the limits. It returns the
// number of records, their data bytes and their partition keys' bytes.
func (p *Puts) scan(body []byte, sc *putScratch) (n int, data, keys int64, err error) {
	d := &scanner{b: body}
	var stream string
	var streamGiven bool
	err = d.object(func(key []byte) error {
		switch string(key) {
		case "StreamName", "StreamARN":
			s, err := d.str()
			if err != nil {
				return err
			}
			stream, streamGiven = string(s), true
			if k := string(key); k == "StreamARN" {
				stream = stream[strings.LastIndexByte(stream, '/')+1:]
			}
			return nil
		case "Records":
			return d.array(func() error {
				n++
				var recData, recKey int
				var hasKey bool
				err := d.object(func(key []byte) error {
					switch string(key) {
					case "Data":
						s, err := d.str()
						if err != nil {
							return err
						}
						if m := base64.StdEncoding.DecodedLen(len(s)); cap(sc.data) < m {
							sc.data = make([]byte, m)
						}
						k, err := base64.StdEncoding.Decode(sc.data[:cap(sc.data)], s)
						if err != nil {
							return &refusal{"SerializationException", fmt.Sprintf("records.%d.member.data: %v", n, err)}
						}
						recData = k
						return nil
					case "PartitionKey":
						s, err := d.str()
						if err != nil {
							return err
						}
						if c := utf8.RuneCount(s); c < 1 || c > MaxPartitionKey {
							return validation("Value at 'records.%d.member.partitionKey' failed to satisfy constraint: Member must have length between 1 and %d", n, MaxPartitionKey)
						}
						hasKey, recKey = true, len(s)
						return nil
					}
					return d.skip()
				})
				switch {
				case err != nil:
					return err
				case !hasKey:
					return validation("Value null at 'records.%d.member.partitionKey' failed to satisfy constraint: Member must not be null", n)
				case recData+recKey > MaxRecordBytes:
					return validation("Value at 'records.%d.member.data' failed to satisfy constraint: Member must have length less than or equal to %d", n, MaxRecordBytes)
				}
				data += int64(recData)
				keys += int64(recKey)
				return nil
			})
		}
		return d.skip()
	})
	if err == nil {
		if d.skipSpace(); d.i != len(d.b) {
			err = d.errorf("unexpected data after the request")
		}
	}
	switch {
	case err != nil:
	case !streamGiven:
		err = validation("Value null at 'streamName' failed to satisfy constraint: Member must not be null")
	case p.Stream != "" && stream != p.Stream:
		err = &refusal{"ResourceNotFoundException", "Stream " + stream + " under account 000000000000 not found."}
	case n == 0:
		err = validation("Value '[]' at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case n > MaxPutRecords:
		err = validation("Value at 'records' failed to satisfy constraint: Member must have length less than or equal to %d", MaxPutRecords)
	case data+keys > MaxPutRecordsBytes:
		err = &refusal{"InvalidArgumentException", fmt.Sprintf("Records size exceeds %d MB limit", MaxPutRecordsBytes>>20)}
	}
	return n, data, keys, err
}

// scanner reads JSON from b without allocating (but for strings with escapes).
type scanner struct {
	b []byte
	i int
}

func (d *scanner) skipSpace() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("malformed JSON at byte %d: %s", d.i, fmt.Sprintf(format, args...))
}

// next consumes the next non-space byte if it is c.
func (d *scanner) next(c byte) bool {
	d.skipSpace()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// object reads an object, calling field for each key; field reads the value.
func (d *scanner) object(field func(key []byte) error) error {
	if !d.next('{') {
		return d.errorf("want an object")
	}
	if d.next('}') {
		return nil
	}
	for {
		key, err := d.str()
		if err != nil {
			return err
		}
		if !d.next(':') {
			return d.errorf("want ':'")
		}
		if err := field(key); err != nil {
			return err
		}
		if d.next(',') {
			continue
		}
		if d.next('}') {
			return nil
		}
		return d.errorf("want ',' or '}'")
	}
}

// array reads an array, calling elem for each element; elem reads it.
func (d *scanner) array(elem func() error) error {
	if !d.next('[') {
		return d.errorf("want an array")
	}
	if d.next(']') {
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		if d.next(',') {
			continue
		}
		if d.next(']') {
			return nil
		}
		return d.errorf("want ',' or ']'")
	}
}

// str reads a string and returns its contents: a slice of b, or a new slice when the string
// has escapes.
func (d *scanner) str() ([]byte, error) {
	if !d.next('"') {
		return nil, d.errorf("want a string")
	}
	start := d.i
	// The common case: no escapes up to the closing quote.
	if k := bytes.IndexAny(d.b[start:], "\"\\"); k >= 0 && d.b[start+k] == '"' {
		d.i = start + k + 1
		return d.b[start : start+k], nil
	}
	for ; d.i < len(d.b); d.i++ {
		switch d.b[d.i] {
		case '\\':
			d.i++
		case '"':
			d.i++
			var s string
			if err := json.Unmarshal(d.b[start-1:d.i], &s); err != nil {
				return nil, d.errorf("%v", err)
			}
			return []byte(s), nil
		}
	}
	return nil, d.errorf("unterminated string")
}

// skip reads a value of any type.
func (d *scanner) skip() error {
	d.skipSpace()
	if d.i == len(d.b) {
		return d.errorf("want a value")
	}
	switch d.b[d.i] {
	case '"':
		_, err := d.str()
		return err
	case '{':
		return d.object(func([]byte) error { return d.skip() })
	case '[':
		return d.array(d.skip)
	}
	start := d.i
	for d.i < len(d.b) && !strings.ContainsRune(",}] \t\n\r", rune(d.b[d.i])) {
		d.i++
	}
	if d.i == start {
		return d.errorf("want a value")
	}
	return nil
}
