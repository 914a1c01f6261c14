package kinesis

import (
	"errors"
	"sort"
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

// decoder turns GetRecords results into Arrow batches of Schema, de-aggregating KPL records.
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

// decodeState is one decode call's builders and the Kinesis record being decoded; the KPL
// callback is a method value made once per call, so no closure is made per record.
type decodeState struct {
	d                          *decoder
	pkB, streamB, shardB, seqB *array.StringBuilder
	dataB                      *array.BinaryBuilder
	tsB                        *array.TimestampBuilder
	blk                        *block
	subs                       []int32
	rows, capHint              int
	lo                         position
	hi                         *position
	checkLo                    bool
	beyond                     bool
	seq                        string // of the current Kinesis record
	ts                         int64
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

func (st *decodeState) appendRow(pk string, data []byte, sub int) {
	st.pkB.Append(pk)
	st.dataB.Append(data)
	st.streamB.Append(st.d.stream)
	st.shardB.Append(st.d.shard)
	st.seqB.Append(st.seq)
	st.tsB.Append(arrow.Timestamp(st.ts))
	if sub != 0 && st.subs == nil {
		st.subs = make([]int32, st.rows, max(st.rows+1, st.capHint))
	}
	if st.subs != nil {
		st.subs = append(st.subs, int32(sub))
	}
	st.rows++
	st.blk.bytes += int64(len(pk) + len(data))
	st.blk.maxArrival = max(st.blk.maxArrival, st.ts)
	st.blk.to = after(st.seq, int64(sub))
}

// onUserRecord is the kpl.Deaggregate callback.
func (st *decodeState) onUserRecord(sub int, pk, _ string, payload []byte) error {
	if st.keep(sub) {
		st.appendRow(pk, payload, sub)
	}
	return nil
}

// decode appends the user records of recs to a new block: those that lo does not cover and,
// when hi is not nil, that hi covers (a closed hi covers everything). from is the block's
// start position. The block's to is the position after its last row, or from when it has
// none.
func (d *decoder) decode(recs []types.Record, from, lo position, hi *position) decoded {
	var dataLen, keyLen, seqLen int
	for i := range recs {
		dataLen += len(recs[i].Data)
		if recs[i].PartitionKey != nil {
			keyLen += len(*recs[i].PartitionKey)
		}
		if recs[i].SequenceNumber != nil {
			seqLen += len(*recs[i].SequenceNumber)
		}
	}
	bld := array.NewRecordBuilder(d.mem, Schema)
	defer bld.Release()
	n := len(recs)
	st := &decodeState{
		d:       d,
		pkB:     bld.Field(colPartitionKey).(*array.StringBuilder),
		dataB:   bld.Field(colData).(*array.BinaryBuilder),
		streamB: bld.Field(colStream).(*array.StringBuilder),
		shardB:  bld.Field(colShardID).(*array.StringBuilder),
		seqB:    bld.Field(colSequenceNumber).(*array.StringBuilder),
		tsB:     bld.Field(colArrival).(*array.TimestampBuilder),
		blk:     &block{from: from, to: from},
		capHint: n,
		lo:      lo,
		hi:      hi,
		checkLo: lo.kind == posAfter,
	}
	for _, b := range []array.Builder{st.pkB, st.dataB, st.streamB, st.shardB, st.seqB, st.tsB} {
		b.Reserve(n)
	}
	st.pkB.ReserveData(keyLen)
	st.dataB.ReserveData(dataLen)
	st.streamB.ReserveData(n * len(d.stream))
	st.shardB.ReserveData(n * len(d.shard))
	st.seqB.ReserveData(seqLen)
	onUser := st.onUserRecord
	boundedHi := hi != nil && hi.kind == posAfter
	for i := range recs {
		r := &recs[i]
		st.seq = deref(r.SequenceNumber)
		st.ts = 0
		if r.ApproximateArrivalTimestamp != nil {
			st.ts = r.ApproximateArrivalTimestamp.UnixMicro()
		}
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
		_, err := kpl.Deaggregate(r.Data, onUser)
		if errors.Is(err, kpl.ErrNotAggregated) && st.keep(0) {
			st.appendRow(deref(r.PartitionKey), r.Data, 0)
		}
		if last {
			st.beyond = true
		}
		if st.beyond {
			break
		}
	}
	if st.rows > 0 {
		st.blk.rec = bld.NewRecordBatch()
		st.blk.subs = st.subs
	}
	return decoded{blk: st.blk, beyond: st.beyond}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
