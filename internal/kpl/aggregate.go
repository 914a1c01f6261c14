package kpl

import (
	"crypto/md5"
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// DefaultMaxRecordSize is the default [Options.MaxRecordSize]: 1 MiB, the Kinesis record limit
// for data plus partition key.
const DefaultMaxRecordSize = 1 << 20

// MaxPartitionKeyLength is the longest partition key Kinesis accepts, in Unicode characters.
const MaxPartitionKeyLength = 256

// maxHashKey is 2^128-1, the largest explicit hash key.
const maxHashKey = "340282366920938463463374607431768211455"

// Errors returned by [Aggregator.Add].
var (
	// ErrFull means the user record would fit in an empty aggregate but not in the current
	// one. The Aggregator is unchanged: Flush it, then add the record again.
	ErrFull = errors.New("kpl: aggregate full")
	// ErrRecordTooLarge means the user record does not fit even in an empty aggregate of
	// Options.MaxRecordSize. The Aggregator is unchanged.
	ErrRecordTooLarge = errors.New("kpl: user record too large to aggregate")
	// ErrInvalidPartitionKey means the partition key is empty, longer than
	// MaxPartitionKeyLength characters, or not valid UTF-8.
	ErrInvalidPartitionKey = errors.New("kpl: invalid partition key")
	// ErrInvalidExplicitHashKey means the explicit hash key is not a decimal number in
	// [0, 2^128-1] written without leading zeros, as Kinesis requires.
	ErrInvalidExplicitHashKey = errors.New("kpl: invalid explicit hash key")
)

// Options configures an [Aggregator]. The zero value selects the defaults.
type Options struct {
	// MaxRecordSize is the largest Kinesis record the Aggregator builds, counted as Kinesis
	// counts its record limit: the aggregated data plus the UTF-8 bytes of the outer partition
	// key. Zero means DefaultMaxRecordSize. Set it to a stream's larger record limit, or lower
	// to bound latency and memory (the KPL's AggregationMaxSize).
	MaxRecordSize int
}

// Validate reports whether o is usable, naming the bad option.
func (o Options) Validate() error {
	if o.MaxRecordSize < 0 {
		return fmt.Errorf("kpl: option MaxRecordSize is %d, want 0 (default) or more", o.MaxRecordSize)
	}
	return nil
}

// Aggregator packs user records into one aggregated Kinesis record. Add user records until Add
// returns ErrFull (or Size says it is time), then Flush and send the result with PutRecord(s).
// The zero value is ready to use with default Options. An Aggregator is not safe for concurrent
// use; reusing one after Flush or Reset reuses its buffers.
//
// Every user record of an aggregate is delivered on the shard that the outer key selects, and
// KCL consumers drop aggregates holding user records that hash outside that shard, so add only
// user records that map to one shard (see the package documentation).
type Aggregator struct {
	maxSize int

	pkIndex, ehkIndex map[string]uint64
	pks, ehks         []string
	tablesSize        int    // encoded size of both key tables
	records           []byte // encoded `records` fields, in order
	n                 int    // number of user records
	firstEHK          string // explicit hash key of the first user record
}

// NewAggregator returns an empty Aggregator, or an error if opts is not valid.
func NewAggregator(opts Options) (*Aggregator, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Aggregator{maxSize: opts.MaxRecordSize}, nil
}

// Add appends a user record. explicitHashKey may be "" for none. data is copied. The record is
// checked as Kinesis would check it (ErrInvalidPartitionKey, ErrInvalidExplicitHashKey), then
// against the size limit: ErrFull if it only fits in an empty aggregate, ErrRecordTooLarge if it
// does not fit at all. After an error the Aggregator is unchanged.
//
// A record too large to aggregate may still fit on its own as a plain Kinesis record; sending
// it that way is the caller's choice.
func (a *Aggregator) Add(partitionKey, explicitHashKey string, data []byte) error {
	if err := checkPartitionKey(partitionKey); err != nil {
		return err
	}
	if explicitHashKey != "" && !validHashKey(explicitHashKey) {
		return fmt.Errorf("kpl: explicit hash key %.50q: %w", explicitHashKey, ErrInvalidExplicitHashKey)
	}
	return a.add(partitionKey, explicitHashKey, data)
}

// add is Add without the key checks.
func (a *Aggregator) add(partitionKey, explicitHashKey string, data []byte) error {
	pk, newPK := index(a.pkIndex, partitionKey)
	ehk, newEHK := index(a.ehkIndex, explicitHashKey)
	hasEHK := explicitHashKey != ""

	grow := recordSize(pk, ehk, hasEHK, len(data))
	if newPK {
		grow += tableEntrySize(partitionKey)
	}
	if hasEHK && newEHK {
		grow += tableEntrySize(explicitHashKey)
	}
	outerKey := partitionKey
	if a.n > 0 {
		outerKey = a.pks[0]
	}
	if overhead+a.tablesSize+len(a.records)+grow+len(outerKey) > a.limit() {
		alone := overhead + recordSize(0, 0, hasEHK, len(data)) + tableEntrySize(partitionKey) + len(partitionKey)
		if hasEHK {
			alone += tableEntrySize(explicitHashKey)
		}
		if a.n == 0 || alone > a.limit() {
			return fmt.Errorf("kpl: user record of %d bytes with partition key of %d bytes makes a %d-byte Kinesis record, limit %d: %w",
				len(data), len(partitionKey), alone, a.limit(), ErrRecordTooLarge)
		}
		return ErrFull
	}

	if a.pkIndex == nil {
		a.pkIndex = make(map[string]uint64)
		a.ehkIndex = make(map[string]uint64)
	}
	if newPK {
		a.pkIndex[partitionKey] = pk
		a.pks = append(a.pks, partitionKey)
		a.tablesSize += tableEntrySize(partitionKey)
	}
	if hasEHK && newEHK {
		a.ehkIndex[explicitHashKey] = ehk
		a.ehks = append(a.ehks, explicitHashKey)
		a.tablesSize += tableEntrySize(explicitHashKey)
	}
	if a.n == 0 {
		a.firstEHK = explicitHashKey
	}

	b := protowire.AppendTag(a.records, fieldRecords, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(recordBodySize(pk, ehk, hasEHK, len(data))))
	b = protowire.AppendTag(b, fieldPartitionKeyIndex, protowire.VarintType)
	b = protowire.AppendVarint(b, pk)
	if hasEHK {
		b = protowire.AppendTag(b, fieldExplicitHashKeyIndex, protowire.VarintType)
		b = protowire.AppendVarint(b, ehk)
	}
	b = protowire.AppendTag(b, fieldData, protowire.BytesType)
	a.records = protowire.AppendBytes(b, data)
	a.n++
	return nil
}

// Len returns the number of user records in the current aggregate.
func (a *Aggregator) Len() int { return a.n }

// Size returns the exact length of the data that Flush would return now: 0 when empty. The
// Kinesis record is Size() bytes of data plus the outer partition key.
func (a *Aggregator) Size() int {
	if a.n == 0 {
		return 0
	}
	return overhead + a.tablesSize + len(a.records)
}

// Flush returns the aggregated record and empties the Aggregator. The outer partition key is
// the first user record's partition key and the outer explicit hash key is the first user
// record's explicit hash key ("" if it had none), so the aggregate goes to the first user
// record's shard. data is newly allocated and owned by the caller. Flush of an empty
// Aggregator returns "", "", nil.
//
// The KPL sends a lone user record unaggregated; Flush always aggregates, so that every record
// it returns decodes with Deaggregate. A caller that prefers the KPL's way can check Len first.
func (a *Aggregator) Flush() (partitionKey string, explicitHashKey string, data []byte) {
	if a.n == 0 {
		return "", "", nil
	}
	data = make([]byte, 0, a.Size())
	data = append(data, magic[:]...)
	for _, k := range a.pks {
		data = protowire.AppendTag(data, fieldPartitionKeyTable, protowire.BytesType)
		data = protowire.AppendString(data, k)
	}
	for _, k := range a.ehks {
		data = protowire.AppendTag(data, fieldExplicitHashKeyTable, protowire.BytesType)
		data = protowire.AppendString(data, k)
	}
	data = append(data, a.records...)
	sum := md5.Sum(data[magicSize:])
	data = append(data, sum[:]...)
	partitionKey, explicitHashKey = a.pks[0], a.firstEHK
	a.Reset()
	return partitionKey, explicitHashKey, data
}

// Reset discards the current aggregate and keeps the buffers for reuse.
func (a *Aggregator) Reset() {
	clear(a.pkIndex)
	clear(a.ehkIndex)
	clear(a.pks)
	clear(a.ehks)
	a.pks, a.ehks = a.pks[:0], a.ehks[:0]
	a.tablesSize = 0
	a.records = a.records[:0]
	a.n = 0
	a.firstEHK = ""
}

func (a *Aggregator) limit() int {
	if a.maxSize == 0 {
		return DefaultMaxRecordSize
	}
	return a.maxSize
}

// index returns the table index of key and whether key is new to the table.
func index(table map[string]uint64, key string) (uint64, bool) {
	if i, ok := table[key]; ok {
		return i, false
	}
	return uint64(len(table)), true
}

// tableEntrySize is the encoded size of one key table entry.
func tableEntrySize(key string) int {
	return 1 + protowire.SizeBytes(len(key))
}

// recordBodySize is the encoded size of a Record message's fields.
func recordBodySize(pk, ehk uint64, hasEHK bool, dataLen int) int {
	n := 1 + protowire.SizeVarint(pk) + 1 + protowire.SizeBytes(dataLen)
	if hasEHK {
		n += 1 + protowire.SizeVarint(ehk)
	}
	return n
}

// recordSize is the encoded size of one `records` field of the AggregatedRecord.
func recordSize(pk, ehk uint64, hasEHK bool, dataLen int) int {
	return 1 + protowire.SizeBytes(recordBodySize(pk, ehk, hasEHK, dataLen))
}

func checkPartitionKey(k string) error {
	if !utf8.ValidString(k) {
		return fmt.Errorf("kpl: partition key is not valid UTF-8: %w", ErrInvalidPartitionKey)
	}
	if n := utf8.RuneCountInString(k); n == 0 || n > MaxPartitionKeyLength {
		return fmt.Errorf("kpl: partition key of %d characters, want 1 to %d: %w", n, MaxPartitionKeyLength, ErrInvalidPartitionKey)
	}
	return nil
}

// validHashKey reports whether s matches Kinesis's 0|([1-9]\d{0,38}) and is at most 2^128-1.
func validHashKey(s string) bool {
	if s == "" || len(s) > len(maxHashKey) || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) < len(maxHashKey) || s <= maxHashKey
}
