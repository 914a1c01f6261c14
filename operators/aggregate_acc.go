package operators

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/axiomhq/hyperloglog"
)

// The accumulators of an aggregation are columnar: each aggregate keeps one slice per piece of
// its state, indexed by group number, so folding a batch allocates nothing per row or group
// beyond the slices' growth.
//
// The state value of a group in the store is
//
//	version byte (1), uvarint number of aggregates,
//	then per aggregate: function byte, Arrow type ID of its output, payload
//
// with the payloads
//
//	count                  uvarint count
//	sum of integers        0 (no value) | 1, varint sum
//	sum of floats          0 | 1, float64 little-endian
//	avg                    uvarint count, float64 sum little-endian
//	min, max, first, last  0 (no row) | 1 (a null: first and last only) | 2, value
//	approx_count_distinct  uvarint length, then the HyperLogLog sketch (axiomhq/hyperloglog's
//	                       binary form; length 0: no value)
//
// where a value is a varint (signed integers, bool, dates, timestamps, durations), a uvarint
// (unsigned integers), a float64 little-endian, or a uvarint length and bytes (strings,
// binary).
const aggStateVersion = 1

// errAggBadState reports a state value that does not match the aggregation: state written by a
// different query, or corrupt.
var errAggBadState = errors.New("the state's value does not match the aggregation (was the query changed since the checkpoint was written? a changed aggregation needs a new checkpointLocation)")

// errAggSumOverflow is the error of a sum of integers beyond int64.
var errAggSumOverflow = errors.New("the sum overflows int64")

// aggHLLPrecision gives HyperLogLog sketches 2^9 registers: a relative standard deviation of
// 1.04/sqrt(512) = 0.046, Spark's precision for its default rsd of 0.05.
const aggHLLPrecision = 9

// Slot states of min, max, first and last.
const (
	aggSlotUnset = 0 // no row yet (min and max: no non-null value)
	aggSlotNull  = 1 // first and last: the row's value was null
	aggSlotValue = 2
)

// aggAccumulator is the state of one aggregate for the groups of a table. It is used by one
// goroutine at a time.
type aggAccumulator interface {
	// grow makes room for groups 0..n-1; new groups are empty.
	grow(n int)
	// update folds row rows[k] of v into group gids[k], for every k, in order. v is nil for
	// Count("*"). An error is an *aggGroupError.
	update(gids []uint32, rows []int32, v *aggValues) error
	// merge folds the encoded state at the start of data, which is older than group g's rows,
	// into g, and returns the rest of data. data may be reused after merge returns.
	merge(g uint32, data []byte) ([]byte, error)
	// encode appends group g's state to buf.
	encode(buf []byte, g uint32) ([]byte, error)
	// result appends group g's result to b, a builder of the aggregate's output type.
	result(b array.Builder, g uint32)
}

// aggGroupError is an aggAccumulator's failure for one group.
type aggGroupError struct {
	group uint32
	err   error
}

func (e *aggGroupError) Error() string { return e.err.Error() }
func (e *aggGroupError) Unwrap() error { return e.err }

// aggValues is the input of one aggregate in one batch: its array, and the array's values
// widened to int64, uint64 or float64, or read as bytes.
type aggValues struct {
	arr   arrow.Array
	nulls bool
	i64   []int64 // signed integers, bool (0 or 1), dates, timestamps, durations
	u64   []uint64
	f64   []float64
	bytes func(i int) []byte // strings and binary
}

func (v *aggValues) valid(i int32) bool { return !v.nulls || v.arr.IsValid(int(i)) }

// float returns value i as a float64.
func (v *aggValues) float(i int32) float64 {
	switch {
	case v.f64 != nil:
		return v.f64[i]
	case v.i64 != nil:
		return float64(v.i64[i])
	case v.u64 != nil:
		return float64(v.u64[i])
	}
	return 0
}

func aggWiden[F ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64, T int64 | uint64 | float64](in []F) []T {
	out := make([]T, len(in))
	for i, x := range in {
		out[i] = T(x)
	}
	return out
}

// newAggValues reads arr. Arrays of other types (lists...) have only their validity read, by
// count.
func newAggValues(arr arrow.Array) *aggValues {
	v := &aggValues{arr: arr, nulls: arr.NullN() > 0}
	switch a := arr.(type) {
	case *array.Boolean:
		v.i64 = make([]int64, a.Len())
		for i := range v.i64 {
			if a.Value(i) {
				v.i64[i] = 1
			}
		}
	case *array.Int8:
		v.i64 = aggWiden[int8, int64](a.Values())
	case *array.Int16:
		v.i64 = aggWiden[int16, int64](a.Values())
	case *array.Int32:
		v.i64 = aggWiden[int32, int64](a.Values())
	case *array.Int64:
		v.i64 = a.Values()
	case *array.Date32:
		v.i64 = aggWiden[arrow.Date32, int64](a.Values())
	case *array.Date64:
		v.i64 = aggWiden[arrow.Date64, int64](a.Values())
	case *array.Timestamp:
		v.i64 = aggWiden[arrow.Timestamp, int64](a.Values())
	case *array.Duration:
		v.i64 = aggWiden[arrow.Duration, int64](a.Values())
	case *array.Uint8:
		v.u64 = aggWiden[uint8, uint64](a.Values())
	case *array.Uint16:
		v.u64 = aggWiden[uint16, uint64](a.Values())
	case *array.Uint32:
		v.u64 = aggWiden[uint32, uint64](a.Values())
	case *array.Uint64:
		v.u64 = a.Values()
	case *array.Float32:
		v.f64 = aggWiden[float32, float64](a.Values())
	case *array.Float64:
		v.f64 = a.Values()
	case *array.String:
		v.bytes = func(i int) []byte { return aggBytes(a.Value(i)) }
	case *array.LargeString:
		v.bytes = func(i int) []byte { return aggBytes(a.Value(i)) }
	case *array.Binary:
		v.bytes = a.Value
	case *array.LargeBinary:
		v.bytes = a.Value
	}
	return v
}

// Value categories: how an aggregate stores the values of an Arrow type.
type aggCategory int

const (
	aggCatNone  aggCategory = iota
	aggCatInt               // int64: signed integers, bool, dates, timestamps, durations
	aggCatUint              // uint64
	aggCatFloat             // float64
	aggCatBytes             // []byte: strings and binary
)

func aggCategoryOf(dt arrow.DataType) aggCategory {
	switch dt.ID() {
	case arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP, arrow.DURATION:
		return aggCatInt
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return aggCatUint
	case arrow.FLOAT32, arrow.FLOAT64:
		return aggCatFloat
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		return aggCatBytes
	}
	return aggCatNone
}

// aggNumeric reports whether sum and avg accept values of dt.
func aggNumeric(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64, arrow.FLOAT32, arrow.FLOAT64:
		return true
	}
	return false
}

// aggGrow returns s with length n (n >= len(s)), the new elements zero.
func aggGrow[T any](s []T, n int) []T {
	if n <= len(s) {
		return s
	}
	return slices.Grow(s, n-len(s))[:n]
}

func aggReadUvarint(data []byte) (uint64, []byte, error) {
	x, k := binary.Uvarint(data)
	if k <= 0 {
		return 0, nil, errAggBadState
	}
	return x, data[k:], nil
}

func aggReadVarint(data []byte) (int64, []byte, error) {
	x, k := binary.Varint(data)
	if k <= 0 {
		return 0, nil, errAggBadState
	}
	return x, data[k:], nil
}

func aggReadFloat(data []byte) (float64, []byte, error) {
	if len(data) < 8 {
		return 0, nil, errAggBadState
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(data)), data[8:], nil
}

func aggAppendFloatBits(buf []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(buf, math.Float64bits(f))
}

// aggCountAcc counts rows (Count("*")) or non-null values.
type aggCountAcc struct {
	n []int64
}

func (a *aggCountAcc) grow(n int) { a.n = aggGrow(a.n, n) }

func (a *aggCountAcc) update(gids []uint32, rows []int32, v *aggValues) error {
	if v == nil || !v.nulls {
		for _, g := range gids {
			a.n[g]++
		}
		return nil
	}
	for k, r := range rows {
		if v.arr.IsValid(int(r)) {
			a.n[gids[k]]++
		}
	}
	return nil
}

func (a *aggCountAcc) merge(g uint32, data []byte) ([]byte, error) {
	x, data, err := aggReadUvarint(data)
	a.n[g] += int64(x)
	return data, err
}

func (a *aggCountAcc) encode(buf []byte, g uint32) ([]byte, error) {
	return binary.AppendUvarint(buf, uint64(a.n[g])), nil
}

func (a *aggCountAcc) result(b array.Builder, g uint32) { b.(*array.Int64Builder).Append(a.n[g]) }

// aggSumIntAcc sums integers into an int64, failing on overflow.
type aggSumIntAcc struct {
	sum []int64
	has []bool
}

func (a *aggSumIntAcc) grow(n int) { a.sum, a.has = aggGrow(a.sum, n), aggGrow(a.has, n) }

func (a *aggSumIntAcc) add(g uint32, x int64) error {
	s := a.sum[g] + x
	if (s > a.sum[g]) != (x > 0) {
		return &aggGroupError{group: g, err: errAggSumOverflow}
	}
	a.sum[g], a.has[g] = s, true
	return nil
}

func (a *aggSumIntAcc) update(gids []uint32, rows []int32, v *aggValues) error {
	for k, r := range rows {
		if !v.valid(r) {
			continue
		}
		var x int64
		switch {
		case v.i64 != nil:
			x = v.i64[r]
		case v.u64 != nil:
			if v.u64[r] > math.MaxInt64 {
				return &aggGroupError{group: gids[k], err: errAggSumOverflow}
			}
			x = int64(v.u64[r])
		}
		if err := a.add(gids[k], x); err != nil {
			return err
		}
	}
	return nil
}

func (a *aggSumIntAcc) merge(g uint32, data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, errAggBadState
	}
	if data[0] == 0 {
		return data[1:], nil
	}
	x, data, err := aggReadVarint(data[1:])
	if err != nil {
		return nil, err
	}
	return data, a.add(g, x)
}

func (a *aggSumIntAcc) encode(buf []byte, g uint32) ([]byte, error) {
	if !a.has[g] {
		return append(buf, 0), nil
	}
	return binary.AppendVarint(append(buf, 1), a.sum[g]), nil
}

func (a *aggSumIntAcc) result(b array.Builder, g uint32) {
	if a.has[g] {
		b.(*array.Int64Builder).Append(a.sum[g])
	} else {
		b.AppendNull()
	}
}

// aggSumFloatAcc sums floats into a float64.
type aggSumFloatAcc struct {
	sum []float64
	has []bool
}

func (a *aggSumFloatAcc) grow(n int) { a.sum, a.has = aggGrow(a.sum, n), aggGrow(a.has, n) }

func (a *aggSumFloatAcc) update(gids []uint32, rows []int32, v *aggValues) error {
	for k, r := range rows {
		if v.valid(r) {
			g := gids[k]
			a.sum[g] += v.float(r)
			a.has[g] = true
		}
	}
	return nil
}

func (a *aggSumFloatAcc) merge(g uint32, data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, errAggBadState
	}
	if data[0] == 0 {
		return data[1:], nil
	}
	x, data, err := aggReadFloat(data[1:])
	if err != nil {
		return nil, err
	}
	a.sum[g] += x
	a.has[g] = true
	return data, nil
}

func (a *aggSumFloatAcc) encode(buf []byte, g uint32) ([]byte, error) {
	if !a.has[g] {
		return append(buf, 0), nil
	}
	return aggAppendFloatBits(append(buf, 1), a.sum[g]), nil
}

func (a *aggSumFloatAcc) result(b array.Builder, g uint32) {
	if a.has[g] {
		b.(*array.Float64Builder).Append(a.sum[g])
	} else {
		b.AppendNull()
	}
}

// aggAvgAcc averages numbers as float64, as Spark does for integer and float inputs.
type aggAvgAcc struct {
	sum []float64
	n   []int64
}

func (a *aggAvgAcc) grow(n int) { a.sum, a.n = aggGrow(a.sum, n), aggGrow(a.n, n) }

func (a *aggAvgAcc) update(gids []uint32, rows []int32, v *aggValues) error {
	for k, r := range rows {
		if v.valid(r) {
			g := gids[k]
			a.sum[g] += v.float(r)
			a.n[g]++
		}
	}
	return nil
}

func (a *aggAvgAcc) merge(g uint32, data []byte) ([]byte, error) {
	n, data, err := aggReadUvarint(data)
	if err != nil {
		return nil, err
	}
	s, data, err := aggReadFloat(data)
	if err != nil {
		return nil, err
	}
	a.n[g] += int64(n)
	a.sum[g] += s
	return data, nil
}

func (a *aggAvgAcc) encode(buf []byte, g uint32) ([]byte, error) {
	return aggAppendFloatBits(binary.AppendUvarint(buf, uint64(a.n[g])), a.sum[g]), nil
}

func (a *aggAvgAcc) result(b array.Builder, g uint32) {
	if a.n[g] == 0 {
		b.AppendNull()
		return
	}
	b.(*array.Float64Builder).Append(a.sum[g] / float64(a.n[g]))
}

// aggValueOps is how a aggValueAcc reads, compares, keeps, encodes and outputs values of type T.
type aggValueOps[T any] struct {
	at   func(v *aggValues, r int32) T
	cmp  func(a, b T) int
	keep func(dst, x T) T // x, copied into dst's memory when T holds memory
	enc  func(buf []byte, x T) []byte
	dec  func(data []byte) (T, []byte, error)
	out  func(b array.Builder, x T)
}

var aggIntOps = &aggValueOps[int64]{
	at:   func(v *aggValues, r int32) int64 { return v.i64[r] },
	cmp:  cmp.Compare[int64],
	keep: func(_, x int64) int64 { return x },
	enc:  binary.AppendVarint,
	dec:  aggReadVarint,
	out:  aggAppendInt,
}

var aggUintOps = &aggValueOps[uint64]{
	at:   func(v *aggValues, r int32) uint64 { return v.u64[r] },
	cmp:  cmp.Compare[uint64],
	keep: func(_, x uint64) uint64 { return x },
	enc:  binary.AppendUvarint,
	dec:  aggReadUvarint,
	out:  aggAppendUint,
}

var aggFloatOps = &aggValueOps[float64]{
	at:   func(v *aggValues, r int32) float64 { return v.f64[r] },
	cmp:  aggCompareFloats,
	keep: func(_, x float64) float64 { return x },
	enc:  aggAppendFloatBits,
	dec:  aggReadFloat,
	out:  aggAppendFloat,
}

var aggBytesOps = &aggValueOps[[]byte]{
	at:   func(v *aggValues, r int32) []byte { return v.bytes(int(r)) },
	cmp:  bytes.Compare,
	keep: func(dst, x []byte) []byte { return append(dst[:0], x...) },
	enc: func(buf, x []byte) []byte {
		return append(binary.AppendUvarint(buf, uint64(len(x))), x...)
	},
	dec: func(data []byte) ([]byte, []byte, error) {
		n, data, err := aggReadUvarint(data)
		if err != nil || n > uint64(len(data)) {
			return nil, nil, errAggBadState
		}
		return data[:n], data[n:], nil
	},
	out: aggAppendBytes,
}

// aggCompareFloats orders floats as Spark does: NaN is greater than any other value and equal to
// itself.
func aggCompareFloats(a, b float64) int {
	an, bn := math.IsNaN(a), math.IsNaN(b)
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	}
	return cmp.Compare(a, b)
}

// aggValueAcc keeps one value of the input per group: min, max, first or last.
type aggValueAcc[T any] struct {
	fn  aggFunc
	ops *aggValueOps[T]
	st  []uint8 // aggSlotUnset, aggSlotNull or aggSlotValue
	v   []T
}

func (a *aggValueAcc[T]) grow(n int) { a.st, a.v = aggGrow(a.st, n), aggGrow(a.v, n) }

// fold offers group g a value (st aggSlotValue) or a null (aggSlotNull), from a row after the
// group's rows so far or, when older, from the state before them.
func (a *aggValueAcc[T]) fold(g uint32, st uint8, x T, older bool) {
	set := false
	switch a.fn {
	case aggMin:
		set = st == aggSlotValue && (a.st[g] != aggSlotValue || a.ops.cmp(x, a.v[g]) < 0)
	case aggMax:
		set = st == aggSlotValue && (a.st[g] != aggSlotValue || a.ops.cmp(x, a.v[g]) > 0)
	case aggFirst:
		set = (older && st != aggSlotUnset) || (!older && a.st[g] == aggSlotUnset)
	case aggLast:
		set = !older || a.st[g] == aggSlotUnset
	}
	if !set {
		return
	}
	a.st[g] = st
	if st == aggSlotValue {
		a.v[g] = a.ops.keep(a.v[g], x)
	}
}

func (a *aggValueAcc[T]) update(gids []uint32, rows []int32, v *aggValues) error {
	var zero T
	for k, r := range rows {
		if v.valid(r) {
			a.fold(gids[k], aggSlotValue, a.ops.at(v, r), false)
		} else {
			a.fold(gids[k], aggSlotNull, zero, false)
		}
	}
	return nil
}

func (a *aggValueAcc[T]) merge(g uint32, data []byte) ([]byte, error) {
	if len(data) == 0 || data[0] > aggSlotValue {
		return nil, errAggBadState
	}
	st, data := data[0], data[1:]
	var x T
	if st == aggSlotValue {
		var err error
		if x, data, err = a.ops.dec(data); err != nil {
			return nil, err
		}
	}
	a.fold(g, st, x, true)
	return data, nil
}

func (a *aggValueAcc[T]) encode(buf []byte, g uint32) ([]byte, error) {
	buf = append(buf, a.st[g])
	if a.st[g] == aggSlotValue {
		buf = a.ops.enc(buf, a.v[g])
	}
	return buf, nil
}

func (a *aggValueAcc[T]) result(b array.Builder, g uint32) {
	if a.st[g] != aggSlotValue {
		b.AppendNull()
		return
	}
	a.ops.out(b, a.v[g])
}

// aggHLLAcc estimates the number of distinct non-null values with a HyperLogLog sketch per group.
type aggHLLAcc struct {
	sk      []*hyperloglog.Sketch
	scratch [8]byte
	tmp     []byte
}

func (a *aggHLLAcc) grow(n int) { a.sk = aggGrow(a.sk, n) }

func newAggHLL() *hyperloglog.Sketch {
	sk, err := hyperloglog.NewSketch(aggHLLPrecision, true)
	if err != nil {
		panic("operators: internal error: " + err.Error()) // aggHLLPrecision is valid
	}
	return sk
}

// hashInput returns the bytes of value r that the sketch hashes: 8 bytes for numbers (floats
// normalised as in group keys, so -0 and 0 are one value, as are all NaNs), the bytes
// themselves for strings and binary.
func (a *aggHLLAcc) hashInput(v *aggValues, r int32) []byte {
	switch {
	case v.i64 != nil:
		binary.LittleEndian.PutUint64(a.scratch[:], uint64(v.i64[r]))
	case v.u64 != nil:
		binary.LittleEndian.PutUint64(a.scratch[:], v.u64[r])
	case v.f64 != nil:
		binary.LittleEndian.PutUint64(a.scratch[:], aggFloatBits(v.f64[r]))
	default:
		return v.bytes(int(r))
	}
	return a.scratch[:]
}

func (a *aggHLLAcc) update(gids []uint32, rows []int32, v *aggValues) error {
	for k, r := range rows {
		if !v.valid(r) {
			continue
		}
		g := gids[k]
		if a.sk[g] == nil {
			a.sk[g] = newAggHLL()
		}
		a.sk[g].Insert(a.hashInput(v, r))
	}
	return nil
}

func (a *aggHLLAcc) merge(g uint32, data []byte) ([]byte, error) {
	n, data, err := aggReadUvarint(data)
	if err != nil || n > uint64(len(data)) {
		return nil, errAggBadState
	}
	if n == 0 {
		return data, nil
	}
	other := new(hyperloglog.Sketch)
	if err := other.UnmarshalBinary(data[:n]); err != nil {
		return nil, fmt.Errorf("%w: %v", errAggBadState, err)
	}
	if a.sk[g] == nil {
		a.sk[g] = other
	} else if err := a.sk[g].Merge(other); err != nil {
		return nil, fmt.Errorf("%w: %v", errAggBadState, err)
	}
	return data[n:], nil
}

func (a *aggHLLAcc) encode(buf []byte, g uint32) ([]byte, error) {
	if a.sk[g] == nil {
		return append(buf, 0), nil
	}
	var err error
	if a.tmp, err = a.sk[g].AppendBinary(a.tmp[:0]); err != nil {
		return nil, err
	}
	return append(binary.AppendUvarint(buf, uint64(len(a.tmp))), a.tmp...), nil
}

func (a *aggHLLAcc) result(b array.Builder, g uint32) {
	var n int64
	if a.sk[g] != nil {
		n = int64(a.sk[g].Estimate())
	}
	b.(*array.Int64Builder).Append(n)
}

// newAggAccumulator returns an empty aggAccumulator for an aggregate with output type out.
func newAggAccumulator(fn aggFunc, out arrow.DataType) aggAccumulator {
	switch fn {
	case aggCount:
		return &aggCountAcc{}
	case aggSum:
		if out.ID() == arrow.INT64 {
			return &aggSumIntAcc{}
		}
		return &aggSumFloatAcc{}
	case aggAvg:
		return &aggAvgAcc{}
	case aggApproxCountDistinct:
		return &aggHLLAcc{}
	}
	switch aggCategoryOf(out) {
	case aggCatInt:
		return &aggValueAcc[int64]{fn: fn, ops: aggIntOps}
	case aggCatUint:
		return &aggValueAcc[uint64]{fn: fn, ops: aggUintOps}
	case aggCatFloat:
		return &aggValueAcc[float64]{fn: fn, ops: aggFloatOps}
	}
	return &aggValueAcc[[]byte]{fn: fn, ops: aggBytesOps}
}

// newAggAccumulators returns the empty accumulators of a plan's aggregates.
func newAggAccumulators(pl *aggPlan) []aggAccumulator {
	accs := make([]aggAccumulator, len(pl.aggs))
	for j, s := range pl.aggs {
		accs[j] = newAggAccumulator(s.agg.fn, s.field.Type)
	}
	return accs
}

// encodeAggState appends the state value of group g to buf.
func encodeAggState(buf []byte, pl *aggPlan, accs []aggAccumulator, g uint32) ([]byte, error) {
	buf = binary.AppendUvarint(append(buf, aggStateVersion), uint64(len(accs)))
	var err error
	for j, acc := range accs {
		buf = append(buf, byte(pl.aggs[j].agg.fn), byte(pl.aggs[j].field.Type.ID()))
		if buf, err = acc.encode(buf, g); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// mergeAggState folds the state value data, older than group g's rows, into g.
func mergeAggState(pl *aggPlan, accs []aggAccumulator, g uint32, data []byte) error {
	if len(data) == 0 || data[0] != aggStateVersion {
		return fmt.Errorf("%w: unknown version", errAggBadState)
	}
	n, data, err := aggReadUvarint(data[1:])
	if err != nil {
		return err
	}
	if n != uint64(len(accs)) {
		return fmt.Errorf("%w: it holds %d aggregates; the aggregation has %d", errAggBadState, n, len(accs))
	}
	for j, acc := range accs {
		s := pl.aggs[j]
		if len(data) < 2 || data[0] != byte(s.agg.fn) || data[1] != byte(s.field.Type.ID()) {
			return fmt.Errorf("%w: aggregate %d is not %s of type %s", errAggBadState, j+1, s.agg.fn, s.field.Type)
		}
		if data, err = acc.merge(g, data[2:]); err != nil {
			if ge, ok := err.(*aggGroupError); ok {
				return fmt.Errorf("%s: %w", s.field.Name, ge.err)
			}
			return err
		}
	}
	if len(data) != 0 {
		return fmt.Errorf("%w: %d bytes after the aggregates", errAggBadState, len(data))
	}
	return nil
}
