package kinesis

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedev/sluice/internal/kpl"
)

// Schema is the schema of every batch the source emits, the reference connector's record
// schema: partitionKey (nullable), data, stream, shardId, sequenceNumber and
// approximateArrivalTimestamp (microseconds, UTC).
var Schema = arrow.NewSchema([]arrow.Field{
	{Name: "partitionKey", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "data", Type: arrow.BinaryTypes.Binary},
	{Name: "stream", Type: arrow.BinaryTypes.String},
	{Name: "shardId", Type: arrow.BinaryTypes.String},
	{Name: "sequenceNumber", Type: arrow.BinaryTypes.String},
	{Name: "approximateArrivalTimestamp", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
}, nil)

// Column indexes of Schema.
const (
	colPartitionKey = iota
	colData
	colStream
	colShardID
	colSequenceNumber
	colArrival
)

// block is a run of consecutive user records of one shard, as one Arrow batch: what one
// GetRecords response yielded (or a slice of it). Blocks are immutable once built; a block
// with no rows (rec nil) only moves the position, as when a shard's end is reached.
type block struct {
	rec  arrow.RecordBatch // nil when the block has no rows
	subs []int32           // sub-sequence number of each row; nil when all are 0
	from position          // where the block starts: the position before its first row
	to   position          // the position after its last row (closed at a shard's end)
	// bytes is the payload of the rows: data plus partition keys, as Kinesis counts.
	bytes      int64
	maxArrival int64     // largest arrival time of its rows, microseconds
	fetched    time.Time // when it was prefetched
}

func (b *block) rows() int {
	if b.rec == nil {
		return 0
	}
	return int(b.rec.NumRows())
}

func (b *block) release() {
	if b.rec != nil {
		b.rec.Release()
		b.rec = nil
	}
}

// sub returns the sub-sequence number of row i.
func (b *block) sub(i int) int64 {
	if b.subs == nil {
		return 0
	}
	return int64(b.subs[i])
}

// seq returns the sequence number of row i; it aliases the batch.
func (b *block) seq(i int) string {
	return b.rec.Column(colSequenceNumber).(*array.String).Value(i)
}

// posOf returns the position after row i.
func (b *block) posOf(i int) position { return after(b.seq(i), b.sub(i)) }

// firstAfter returns the index of the first row that p does not cover (rows() if none).
func (b *block) firstAfter(p position) int {
	return sort.Search(b.rows(), func(i int) bool { return !p.covers(b.seq(i), b.sub(i)) })
}

// slice returns a new block with rows [i, j) of b; it shares b's buffers. to is the position
// after row j-1, or b.to when j is rows() (from when the slice is empty).
func (b *block) slice(i, j int) *block {
	n := &block{fetched: b.fetched}
	if i == 0 {
		n.from = b.from
	} else {
		n.from = b.posOf(i - 1)
	}
	switch {
	case j == b.rows():
		n.to = b.to
	case j <= i:
		n.to = n.from
	default:
		n.to = b.posOf(j - 1)
	}
	if j > i {
		n.rec = b.rec.NewSlice(int64(i), int64(j))
		if b.subs != nil {
			n.subs = b.subs[i:j:j]
		}
		n.bytes = payloadBytes(n.rec)
		n.maxArrival = maxArrival(n.rec)
	}
	return n
}

// payloadBytes returns the bytes of a batch's data and partition keys.
func payloadBytes(rec arrow.RecordBatch) int64 {
	n := int(rec.NumRows())
	if n == 0 {
		return 0
	}
	d := rec.Column(colData).(*array.Binary).ValueOffsets()
	k := rec.Column(colPartitionKey).(*array.String).ValueOffsets()
	return int64(d[n]-d[0]) + int64(k[n]-k[0])
}

func maxArrival(rec arrow.RecordBatch) int64 {
	ts := rec.Column(colArrival).(*array.Timestamp).Values()
	var m int64
	for _, t := range ts {
		m = max(m, int64(t))
	}
	return m
}

// decoder turns GetRecords answers into Arrow batches of Schema, de-aggregating KPL records.
// It keeps no state between calls, so the calls of a shard's prefetching and of a Read that
// reads the shard again may use it at the same time.
type decoder struct {
	mem    memory.Allocator
	stream string // the stream column's value
	shard  string
}

// decoded is what decode built.
type decoded struct {
	blk *block
	// beyond is true when a record after the upper bound was seen (or the bound's record was
	// reached), so a bounded read is complete.
	beyond bool
}

// kinRecord is one Kinesis record as the batch builder reads it, whichever way the answer
// was decoded. Its strings and bytes alias the answer (the SDK's GetRecordsOutput, or the
// HTTP body read by the scanner of getrecords_scan.go) and are not kept.
type kinRecord struct {
	seq, pk string
	// data is the record's data. In a scanned body it is still base64: the bytes between the
	// quotes of the JSON string, whose escapes (which Kinesis does not use there) are resolved
	// only if decoding it fails.
	data []byte
	dlen int   // scanned body: decodedLen(data)
	off  int   // scanned body: the byte offset of the Data string, for errors
	ts   int64 // ApproximateArrivalTimestamp in microseconds since 1970; 0 when absent
}

// decodeState is one decode call's batch and the Kinesis record being decoded; the KPL
// callback is a method value made once per call, so no closure is made per record.
type decodeState struct {
	d       *decoder
	sc      *scratch
	b       batchBuilder
	blk     *block
	onUser  func(sub int, pk, ehk string, payload []byte) error
	lo      position
	hi      *position
	checkLo bool
	beyond  bool
	seq     string // of the current Kinesis record
	ts      int64
	lastSeq string // of the last row
	lastSub int
}

// keep reports whether user record sub of the current record is inside the bounds.
func (st *decodeState) keep(sub int) bool {
	if st.checkLo && st.lo.covers(st.seq, int64(sub)) {
		return false
	}
	if st.hi != nil && st.hi.kind == posAfter && !st.hi.covers(st.seq, int64(sub)) {
		st.beyond = true
		return false
	}
	return true
}

// row completes a row whose data (dataLen bytes) the data column already holds.
func (st *decodeState) row(pk string, dataLen, sub int) {
	b := &st.b
	b.pk.appendString(pk)
	b.seq.appendString(st.seq)
	b.appendTimestamp(st.ts)
	if sub != 0 && b.subs == nil {
		b.subs = make([]int32, b.rows, max(b.rows+1, b.capHint))
	}
	if b.subs != nil {
		b.subs = append(b.subs, int32(sub))
	}
	b.rows++
	st.blk.bytes += int64(len(pk) + dataLen)
	st.blk.maxArrival = max(st.blk.maxArrival, st.ts)
	st.lastSeq, st.lastSub = st.seq, sub
}

func (st *decodeState) appendRow(pk string, data []byte, sub int) {
	st.b.data.appendBytes(data)
	st.row(pk, len(data), sub)
}

// onUserRecord is the kpl.Deaggregate callback.
func (st *decodeState) onUserRecord(sub int, pk, _ string, payload []byte) error {
	if st.keep(sub) {
		st.appendRow(pk, payload, sub)
	}
	return nil
}

// appendData appends the user records of a Kinesis record's (decoded) data.
func (st *decodeState) appendData(pk string, data []byte) {
	_, err := kpl.Deaggregate(data, st.onUser)
	if errors.Is(err, kpl.ErrNotAggregated) && st.keep(0) {
		st.appendRow(pk, data, 0)
	}
}

// appendBase64 appends the user records of a scanned Kinesis record, whose data is base64.
// Plain records (all but KPL aggregates) are decoded straight into the data column. It
// returns the length of the decoded data, or -1 if it was not decoded (the record was
// skipped).
func (st *decodeState) appendBase64(r *kinRecord) (int, error) {
	if !maybeAggregate(r.data) {
		if !st.keep(0) {
			return -1, nil
		}
		if n, ok := st.b.data.appendBase64(r.data); ok {
			st.row(r.pk, n, 0)
			return n, nil
		}
	}
	data, err := st.sc.decodeBase64(r.data)
	if err != nil {
		return 0, fmt.Errorf("byte %d: Data: %w", r.off, err)
	}
	st.appendData(r.pk, data)
	return len(data), nil
}

// decode appends the user records of recs to a new block: those that lo does not cover and,
// when hi is not nil, that hi covers (a closed hi covers everything). from is the block's
// start position. The block's to is the position after its last row, or from when it has
// none.
func (d *decoder) decode(recs []types.Record, from, lo position, hi *position) decoded {
	sc := getScratch()
	defer putScratch(sc)
	krs := slices.Grow(sc.recs[:0], len(recs))[:len(recs)]
	sc.recs = krs
	for i := range recs {
		r := &recs[i]
		k := kinRecord{seq: deref(r.SequenceNumber), pk: deref(r.PartitionKey), data: r.Data}
		if r.ApproximateArrivalTimestamp != nil {
			k.ts = r.ApproximateArrivalTimestamp.UnixMicro()
		}
		krs[i] = k
	}
	out, _, _ := d.build(sc, krs, false, from, lo, hi) // decoded data cannot fail
	clear(krs)                                         // let the SDK's answer go
	return out
}

// build appends the user records of recs to a new block, as decode describes. b64 says that
// the records' data is base64 (a scanned body); then build fails on data that is not valid
// base64, naming its byte offset. respBytes is the data and partition key bytes of all of recs,
// as Kinesis counts them (for the data of a scanned record outside the bounds, which is not
// decoded, the length that its base64 text would decode to without escapes).
func (d *decoder) build(sc *scratch, recs []kinRecord, b64 bool, from, lo position, hi *position) (out decoded, respBytes int64, err error) {
	if len(recs) == 0 {
		return decoded{blk: &block{from: from, to: from}}, 0, nil
	}
	var dataLen, keyLen, seqLen int
	for i := range recs {
		r := &recs[i]
		n := len(r.data)
		if b64 {
			n = r.dlen
		}
		dataLen += n
		keyLen += len(r.pk)
		seqLen += len(r.seq)
	}
	respBytes = int64(dataLen + keyLen)
	if b64 {
		// Room for base64.StdEncoding.Decode, which wants DecodedLen(len(src)) bytes.
		dataLen += 3
	}
	st := &decodeState{
		d:       d,
		sc:      sc,
		blk:     &block{from: from, to: from},
		lo:      lo,
		hi:      hi,
		checkLo: lo.kind == posAfter,
	}
	st.onUser = st.onUserRecord
	st.b.init(d.mem, len(recs), keyLen, dataLen, seqLen)
	defer st.b.release()
	boundedHi := hi != nil && hi.kind == posAfter
	for i := range recs {
		r := &recs[i]
		st.seq, st.ts = r.seq, r.ts
		// Whole records before the lower bound, or after the upper one, are skipped cheaply.
		if st.checkLo && cmpSeq(st.seq, lo.seq) < 0 {
			continue
		}
		last := false
		if boundedHi {
			switch c := cmpSeq(st.seq, hi.seq); {
			case c > 0:
				st.beyond = true
			case c == 0:
				last = true // the bound's record is the last one to read
			}
			if st.beyond {
				break
			}
		}
		if b64 {
			n, err := st.appendBase64(r)
			if err != nil {
				return decoded{}, 0, err
			}
			if n >= 0 {
				respBytes += int64(n - r.dlen) // the estimate made exact
			}
		} else {
			st.appendData(r.pk, r.data)
		}
		if last {
			st.beyond = true
		}
		if st.beyond {
			break
		}
	}
	if st.b.rows > 0 {
		st.blk.rec = st.b.finish(d)
		st.blk.subs = st.b.subs
		// The sequence number aliases the answer, which is not kept.
		st.blk.to = after(strings.Clone(st.lastSeq), int64(st.lastSub))
	}
	return decoded{blk: st.blk, beyond: st.beyond}, respBytes, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// kplPrefix is how the base64 text of every KPL aggregate starts: the magic F3 89 9A C2.
const kplPrefix = "84maw"

// maybeAggregate reports whether base64 text (with JSON escapes perhaps unresolved) may
// decode to a KPL aggregate; false means it certainly does not.
func maybeAggregate(b64 []byte) bool {
	if len(b64) < len(kplPrefix) {
		return false
	}
	p := b64[:len(kplPrefix)]
	return string(p) == kplPrefix || bytes.IndexByte(p, '\\') >= 0
}

// decodedLen returns the length of the data that padded base64 text decodes to, or an upper
// bound of it for text that is not plain padded base64.
func decodedLen(b64 []byte) int {
	n := len(b64)
	if n%4 != 0 {
		return base64.StdEncoding.DecodedLen(n)
	}
	m := n / 4 * 3
	if n > 0 && b64[n-1] == '=' {
		m--
		if b64[n-2] == '=' {
			m--
		}
	}
	return m
}

// batchBuilder builds one batch of Schema in buffers of the allocator that it writes
// directly: base64 data is decoded in place into the data column's values. The stream and
// shardId columns, the same in every row, are made at the end.
type batchBuilder struct {
	rows, capHint int
	pk, data, seq varColumn
	tsBuf         *memory.Buffer
	ts            []int64 // view of tsBuf: the timestamps written so far
	subs          []int32 // sub-sequence numbers; nil while all are 0
}

// varColumn is a string or binary column being built.
type varColumn struct {
	offsets, values *memory.Buffer
	offs            []int32 // view of offsets: the offsets written so far, rows+1 of them
	vals            []byte  // view of values: the bytes written so far; cap is the capacity
}

func (b *batchBuilder) init(mem memory.Allocator, rows, keyLen, dataLen, seqLen int) {
	b.capHint = rows
	b.pk.init(mem, rows, keyLen)
	b.data.init(mem, rows, dataLen)
	b.seq.init(mem, rows, seqLen)
	b.tsBuf = memory.NewResizableBuffer(mem)
	b.tsBuf.Reserve(max(rows, 1) * 8)
	b.ts = arrow.Int64Traits.CastFromBytes(b.tsBuf.Buf())[:0]
}

// release releases what finish did not hand over.
func (b *batchBuilder) release() {
	for _, buf := range []*memory.Buffer{b.pk.offsets, b.pk.values, b.data.offsets, b.data.values, b.seq.offsets, b.seq.values, b.tsBuf} {
		if buf != nil {
			buf.Release()
		}
	}
	*b = batchBuilder{subs: b.subs}
}

func (b *batchBuilder) appendTimestamp(ts int64) {
	if len(b.ts) == cap(b.ts) {
		n := len(b.ts)
		b.tsBuf.Reserve(2 * cap(b.ts) * 8)
		b.ts = arrow.Int64Traits.CastFromBytes(b.tsBuf.Buf())[:n]
	}
	b.ts = append(b.ts, ts)
}

// finish returns the batch of the rows appended.
func (b *batchBuilder) finish(d *decoder) arrow.RecordBatch {
	n := b.rows
	b.tsBuf.ResizeNoShrink(n * 8)
	tsData := array.NewData(Schema.Field(colArrival).Type, n, []*memory.Buffer{nil, b.tsBuf}, nil, 0, 0)
	b.tsBuf.Release()
	b.tsBuf, b.ts = nil, nil
	cols := []arrow.Array{
		colPartitionKey:   b.pk.finish(Schema.Field(colPartitionKey).Type, n),
		colData:           b.data.finish(Schema.Field(colData).Type, n),
		colStream:         constColumn(d.mem, Schema.Field(colStream).Type, d.stream, n),
		colShardID:        constColumn(d.mem, Schema.Field(colShardID).Type, d.shard, n),
		colSequenceNumber: b.seq.finish(Schema.Field(colSequenceNumber).Type, n),
		colArrival:        array.MakeFromData(tsData),
	}
	tsData.Release()
	rec := array.NewRecordBatch(Schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

func (c *varColumn) init(mem memory.Allocator, rows, size int) {
	c.offsets = memory.NewResizableBuffer(mem)
	c.offsets.Reserve((rows + 1) * 4)
	c.offs = arrow.Int32Traits.CastFromBytes(c.offsets.Buf())[:1]
	c.offs[0] = 0
	c.values = memory.NewResizableBuffer(mem)
	if size > 0 {
		c.values.Reserve(size)
	}
	c.vals = c.values.Buf()[:0]
}

// reserve makes room for n more bytes of values and one more offset.
func (c *varColumn) reserve(n int) {
	if len(c.vals)+n > cap(c.vals) {
		l := len(c.vals)
		c.values.Reserve(max(2*cap(c.vals), l+n))
		c.vals = c.values.Buf()[:l]
	}
	if len(c.offs) == cap(c.offs) {
		l := len(c.offs)
		c.offsets.Reserve(2 * cap(c.offs) * 4)
		c.offs = arrow.Int32Traits.CastFromBytes(c.offsets.Buf())[:l]
	}
}

func (c *varColumn) appendString(s string) {
	c.reserve(len(s))
	c.vals = append(c.vals, s...)
	c.offs = append(c.offs, int32(len(c.vals)))
}

func (c *varColumn) appendBytes(v []byte) {
	c.reserve(len(v))
	c.vals = append(c.vals, v...)
	c.offs = append(c.offs, int32(len(c.vals)))
}

// appendBase64 appends the data that padded base64 text decodes to, decoding it in place,
// and returns its length. It appends nothing and returns false when the text is not plain
// padded base64 (it holds JSON escapes, line breaks, other bytes, or is cut short).
func (c *varColumn) appendBase64(b64 []byte) (int, bool) {
	want := decodedLen(b64)
	c.reserve(base64.StdEncoding.DecodedLen(len(b64)))
	l := len(c.vals)
	n, err := base64.StdEncoding.Decode(c.vals[l:cap(c.vals)], b64)
	if err != nil || n != want {
		return 0, false
	}
	c.vals = c.vals[:l+n]
	c.offs = append(c.offs, int32(len(c.vals)))
	return n, true
}

// finish returns the column's array and hands its buffers over to it.
func (c *varColumn) finish(dt arrow.DataType, n int) arrow.Array {
	c.offsets.ResizeNoShrink((n + 1) * 4)
	c.values.ResizeNoShrink(len(c.vals))
	data := array.NewData(dt, n, []*memory.Buffer{nil, c.offsets, c.values}, nil, 0, 0)
	c.offsets.Release()
	c.values.Release()
	*c = varColumn{}
	arr := array.MakeFromData(data)
	data.Release()
	return arr
}

// constColumn returns a string column of n rows that all hold v.
func constColumn(mem memory.Allocator, dt arrow.DataType, v string, n int) arrow.Array {
	offsets := memory.NewResizableBuffer(mem)
	offsets.Resize((n + 1) * 4)
	offs := arrow.Int32Traits.CastFromBytes(offsets.Bytes())
	for i := range offs {
		offs[i] = int32(i * len(v))
	}
	values := memory.NewResizableBuffer(mem)
	values.Resize(n * len(v))
	if vals := values.Bytes(); len(vals) > 0 {
		k := copy(vals, v)
		for k < len(vals) {
			k += copy(vals[k:], vals[:k])
		}
	}
	data := array.NewData(dt, n, []*memory.Buffer{nil, offsets, values}, nil, 0, 0)
	offsets.Release()
	values.Release()
	arr := array.MakeFromData(data)
	data.Release()
	return arr
}
