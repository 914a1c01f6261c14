package operators

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedev/sluice/arrowbatch"
)

// WithWatermark marks the timestamp column col as the query's event time, with a watermark
// that trails the latest event time seen by delay (Spark's withWatermark). It passes every
// batch on unchanged, without copying: the output schema is the input's with
// WatermarkDelayKey=<delay in milliseconds> added to col's field metadata. It drops nothing;
// the stateful operators after it (aggregations over a Window, DropDuplicates) drop the rows
// that are late and evict the state the watermark has passed.
//
// The operator is an EventTimeObserver: it records the minimum, maximum and average of the
// non-null values of col it sees, which the coordinator reads after each batch to advance the
// watermark. col may be a timestamp of any unit; its values are counted in Unix milliseconds,
// rounded down. A second WithWatermark on another column makes that column the event time
// instead, as in Spark: the mark of the earlier column is removed, so the stateful operators
// after it use the last marked column (see EventTimeColumn), while the query's watermark stays
// the smallest of the two operators' watermarks. A second one on the same column replaces the
// delay.
func WithWatermark(col string, delay time.Duration) Operator {
	w := &watermarkOp{col: col, delay: delay}
	w.plans.build = w.plan
	w.resetLocked()
	return w
}

type watermarkOp struct {
	col   string
	delay time.Duration
	plans perSchema[*watermarkPlan]

	mu    sync.Mutex
	stats evtStats
}

type watermarkPlan struct {
	col  int
	unit arrow.TimeUnit
	out  *arrow.Schema
}

var _ EventTimeObserver = (*watermarkOp)(nil)

// Name returns "WithWatermark(col, delay)".
func (w *watermarkOp) Name() string {
	return "WithWatermark(" + w.col + ", " + w.delay.String() + ")"
}

func (w *watermarkOp) plan(in *arrow.Schema) (*watermarkPlan, error) {
	if w.delay < 0 {
		return nil, fmt.Errorf("WithWatermark: the delay %s is negative", w.delay)
	}
	if w.delay%time.Millisecond != 0 {
		return nil, fmt.Errorf("WithWatermark: the delay %s is not a whole number of milliseconds", w.delay)
	}
	idx, err := columnIndex(in, w.col)
	if err != nil {
		return nil, fmt.Errorf("WithWatermark: %w", err)
	}
	f := in.Field(idx)
	ts, ok := f.Type.(*arrow.TimestampType)
	if !ok {
		return nil, fmt.Errorf("WithWatermark: column %q is of type %s; the event time must be a timestamp (%s)", w.col, f.Type, wmTimestampColumns(in))
	}
	fields := slices.Clone(in.Fields())
	for i, other := range fields {
		if i != idx && other.Metadata.FindKey(WatermarkDelayKey) >= 0 {
			// As Spark's EventTimeWatermark: only the last marked column is the event time.
			fields[i].Metadata = wmWithout(other.Metadata, WatermarkDelayKey)
		}
	}
	fields[idx].Metadata = wmWithMetadata(f.Metadata, WatermarkDelayKey, strconv.FormatInt(w.delay.Milliseconds(), 10))
	md := in.Metadata()
	return &watermarkPlan{col: idx, unit: ts.Unit, out: arrow.NewSchema(fields, &md)}, nil
}

// OutputSchema returns in with col marked by WatermarkDelayKey.
func (w *watermarkOp) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	if in == nil {
		if w.delay < 0 {
			return nil, fmt.Errorf("WithWatermark: the delay %s is negative", w.delay)
		}
		return nil, nil
	}
	p, err := w.plans.get(in)
	if err != nil {
		return nil, err
	}
	return p.out, nil
}

// Process records the batch's event times and emits it with the marked schema, sharing its
// columns.
func (w *watermarkOp) Process(ctx context.Context, in arrow.RecordBatch, emit Emit) error {
	p, err := w.plans.get(in.Schema())
	if err != nil {
		return err
	}
	col, ok := in.Column(p.col).(*array.Timestamp)
	if !ok {
		return fmt.Errorf("WithWatermark: column %q is a %T", w.col, in.Column(p.col))
	}
	if s := wmObserve(col, p.unit); s.count > 0 {
		w.mu.Lock()
		w.stats.merge(s)
		w.mu.Unlock()
	}
	out := array.NewRecordBatch(p.out, in.Columns(), in.NumRows())
	defer out.Release()
	return emit(out)
}

// Delay returns the watermark delay.
func (w *watermarkOp) Delay() time.Duration { return w.delay }

// EventTimeStats returns the event times seen since the last reset; avgMs is rounded down.
func (w *watermarkOp) EventTimeStats() (minMs, maxMs, avgMs int64, count int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	if s.count == 0 {
		return 0, 0, 0, 0
	}
	return s.min, s.max, s.sum.divFloor(s.count), s.count
}

// ResetEventTimeStats forgets the event times seen.
func (w *watermarkOp) ResetEventTimeStats() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.resetLocked()
}

func (w *watermarkOp) resetLocked() {
	w.stats = evtStats{min: math.MaxInt64, max: math.MinInt64}
}

// wmObserve returns the statistics of the non-null values of col, in Unix milliseconds, in
// one pass over the column.
func wmObserve(col *array.Timestamp, unit arrow.TimeUnit) evtStats {
	s := evtStats{min: math.MaxInt64, max: math.MinInt64}
	vals := col.TimestampValues()
	nulls := col.NullN() > 0
	for i, v := range vals {
		if nulls && col.IsNull(i) {
			continue
		}
		ms := int64(v)
		if unit != arrow.Millisecond {
			ms = evtMsFloor(ms, unit)
		}
		s.min = min(s.min, ms)
		s.max = max(s.max, ms)
		s.sum = s.sum.addInt64(ms)
		s.count++
	}
	return s
}

// evtStats accumulates event times; the sum has 128 bits, as a batch of millions of Unix
// milliseconds overflows 64.
type evtStats struct {
	min, max int64
	sum      evtInt128
	count    int64
}

func (s *evtStats) merge(o evtStats) {
	s.min = min(s.min, o.min)
	s.max = max(s.max, o.max)
	s.sum = s.sum.add(o.sum)
	s.count += o.count
}

// evtInt128 is a two's-complement 128-bit integer.
type evtInt128 struct {
	hi int64
	lo uint64
}

func (a evtInt128) addInt64(v int64) evtInt128 {
	lo, c := bits.Add64(a.lo, uint64(v), 0)
	return evtInt128{hi: a.hi + int64(c) + v>>63, lo: lo}
}

func (a evtInt128) add(b evtInt128) evtInt128 {
	lo, c := bits.Add64(a.lo, b.lo, 0)
	return evtInt128{hi: a.hi + b.hi + int64(c), lo: lo}
}

// divFloor returns a/n rounded down, for n > 0 and a quotient that fits in an int64 (as a
// mean of n int64 values does).
func (a evtInt128) divFloor(n int64) int64 {
	neg := a.hi < 0
	hi, lo := uint64(a.hi), a.lo
	if neg {
		lo = ^lo + 1
		hi = ^hi
		if lo == 0 {
			hi++
		}
	}
	if hi >= uint64(n) { // cannot happen for a mean; avoid bits.Div64's panic
		if neg {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	q, r := bits.Div64(hi, lo, uint64(n))
	res := int64(q)
	if neg {
		res = -res
		if r != 0 {
			res--
		}
	}
	return res
}

// wmWithMetadata returns md with key set to value.
func wmWithMetadata(md arrow.Metadata, key, value string) arrow.Metadata {
	keys, vals := slices.Clone(md.Keys()), slices.Clone(md.Values())
	if i := md.FindKey(key); i >= 0 {
		vals[i] = value
	} else {
		keys = append(keys, key)
		vals = append(vals, value)
	}
	return arrow.NewMetadata(keys, vals)
}

// wmWithout returns md without key.
func wmWithout(md arrow.Metadata, key string) arrow.Metadata {
	var keys, vals []string
	for i, k := range md.Keys() {
		if k != key {
			keys = append(keys, k)
			vals = append(vals, md.Values()[i])
		}
	}
	return arrow.NewMetadata(keys, vals)
}

// wmTimestampColumns describes the timestamp columns of s, for error messages.
func wmTimestampColumns(s *arrow.Schema) string {
	var names []string
	for _, f := range s.Fields() {
		if f.Type.ID() == arrow.TIMESTAMP {
			names = append(names, f.Name)
		}
	}
	if len(names) == 0 {
		return "the input has no timestamp column; columns: " + strings.Join(arrowbatch.FieldNames(s), ", ")
	}
	return "timestamp columns: " + strings.Join(names, ", ")
}

// evtMsFloor converts a timestamp of unit to Unix milliseconds, rounded down.
func evtMsFloor(v int64, unit arrow.TimeUnit) int64 {
	switch unit {
	case arrow.Second:
		return evtSatMul(v, 1000)
	case arrow.Microsecond:
		return evtFloorDiv(v, 1000)
	case arrow.Nanosecond:
		return evtFloorDiv(v, 1_000_000)
	}
	return v
}

// evtMsCeil converts a timestamp of unit to Unix milliseconds, rounded up: the time t is at or
// before the watermark W (in ms) exactly when evtMsCeil(t) <= W, as Spark compares them in
// the column's own precision.
func evtMsCeil(v int64, unit arrow.TimeUnit) int64 {
	switch unit {
	case arrow.Second:
		return evtSatMul(v, 1000)
	case arrow.Microsecond:
		return -evtFloorDiv(-v, 1000)
	case arrow.Nanosecond:
		return -evtFloorDiv(-v, 1_000_000)
	}
	return v
}

// evtMicros converts a timestamp of unit to Unix microseconds, rounded down.
func evtMicros(v int64, unit arrow.TimeUnit) int64 {
	switch unit {
	case arrow.Second:
		return evtSatMul(v, 1_000_000)
	case arrow.Millisecond:
		return evtSatMul(v, 1000)
	case arrow.Nanosecond:
		return evtFloorDiv(v, 1000)
	}
	return v
}

// evtFloorDiv returns a/b rounded down, for b > 0.
func evtFloorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// evtFloorMod returns a mod b in [0, b), for b > 0.
func evtFloorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// evtSatMul returns a*b for b > 0, saturated to the int64 range.
func evtSatMul(a, b int64) int64 {
	switch {
	case a > math.MaxInt64/b:
		return math.MaxInt64
	case a < math.MinInt64/b:
		return math.MinInt64
	}
	return a * b
}
