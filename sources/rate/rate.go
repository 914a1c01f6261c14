// Package rate provides Spark's development sources "rate" and "rate-micro-batch": rows of
// (timestamp, value) with value counting up from 0, for demos and tests without AWS.
//
// Both are deterministic: a range of offsets always yields the same rows, so they replay
// exactly after a restart. "rate" produces rowsPerSecond rows per second of wall time since the
// query first started (the start time is kept in the offsets); "rate-micro-batch" produces
// exactly rowsPerBatch rows per micro-batch whatever the time, with event times advancing by
// advanceMillisPerBatch per batch.
//
// Importing package pipeline registers both formats.
package rate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/sync/errgroup"

	"github.com/sluicedev/sluice/optspec"
	"github.com/sluicedev/sluice/sources"
)

func init() {
	sources.Register("rate", func(kv map[string]string) (sources.Source, error) {
		o := DefaultOptions()
		if err := Spec.Parse(&o, kv); err != nil {
			return nil, err
		}
		return New(o)
	})
	sources.Register("rate-micro-batch", func(kv map[string]string) (sources.Source, error) {
		o := DefaultMicroBatchOptions()
		if err := MicroBatchSpec.Parse(&o, kv); err != nil {
			return nil, err
		}
		return NewMicroBatch(o)
	})
}

// Schema is the schema of both sources: timestamp (microseconds, UTC) and value.
var Schema = arrow.NewSchema([]arrow.Field{
	{Name: "timestamp", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	{Name: "value", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// maxRowsPerArrowBatch bounds the size of one emitted Arrow batch.
const maxRowsPerArrowBatch = 1 << 16

// Options configures the "rate" source.
type Options struct {
	// RowsPerSecond is how many rows to generate per second (after ramp-up).
	RowsPerSecond int64
	// RampUpTime is how long the rate takes to grow linearly from 0 to RowsPerSecond.
	RampUpTime time.Duration
	// NumPartitions is how many partitions read a batch in parallel.
	NumPartitions int64
	// MaxRowsPerBatch bounds the rows of one micro-batch; 0 means no bound. (A sluice
	// extension, so that Trigger.AvailableNow can be seen splitting work into batches.)
	MaxRowsPerBatch int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultOptions returns the defaults of the "rate" source.
func DefaultOptions() Options { return Options{RowsPerSecond: 1, NumPartitions: 1} }

// Spec declares the "rate" source's options.
var Spec = &optspec.Spec[Options]{Component: "rate source", Options: []optspec.Option[Options]{
	optspec.Int("rowsPerSecond", "1", "Rows generated per second.", 1, math.MaxInt32, func(o *Options) *int64 { return &o.RowsPerSecond }),
	optspec.Duration("rampUpTime", "0s", "Time to ramp up from 0 to rowsPerSecond.", 0, 24*time.Hour, func(o *Options) *time.Duration { return &o.RampUpTime }),
	optspec.Int("numPartitions", "1", "Partitions that generate a batch in parallel.", 1, 1024, func(o *Options) *int64 { return &o.NumPartitions }),
	optspec.Int("maxRowsPerBatch", "0 (no limit)", "Most rows in one micro-batch.", 0, math.MaxInt64, func(o *Options) *int64 { return &o.MaxRowsPerBatch }),
}}

// Validate checks the options.
func (o Options) Validate() error {
	switch {
	case o.RowsPerSecond < 1:
		return fmt.Errorf("rate source: rowsPerSecond must be at least 1, got %d", o.RowsPerSecond)
	case o.NumPartitions < 1:
		return fmt.Errorf("rate source: numPartitions must be at least 1, got %d", o.NumPartitions)
	case o.RampUpTime < 0 || o.MaxRowsPerBatch < 0:
		return fmt.Errorf("rate source: rampUpTime and maxRowsPerBatch must not be negative")
	}
	return nil
}

// offset is the position of both sources: rows produced so far, and the time of row 0.
type offset struct {
	StartMs int64 `json:"startMs"`
	Rows    int64 `json:"rows"`
}

// decode reads an offset that encode wrote: both fields, nothing else, rows not negative.
func decode(o sources.Offset) (offset, error) {
	var raw struct {
		StartMs *int64 `json:"startMs"`
		Rows    *int64 `json:"rows"`
	}
	dec := json.NewDecoder(bytes.NewReader(o))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil || dec.More() || raw.StartMs == nil || raw.Rows == nil || *raw.Rows < 0 {
		return offset{}, fmt.Errorf(`rate: invalid offset %q: want {"startMs": <ms>, "rows": <rows, at least 0>}`, o)
	}
	return offset{StartMs: *raw.StartMs, Rows: *raw.Rows}, nil
}

func encode(o offset) sources.Offset {
	b, _ := json.Marshal(o)
	return b
}

// Source is the "rate" source.
type Source struct {
	opts      Options
	mem       memory.Allocator
	targetSet bool
	target    int64 // AvailableNow: rows available at PrepareForAvailableNow
}

// New returns a "rate" source.
func New(o Options) (*Source, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Source{opts: o}, nil
}

// Description implements sources.Source.
func (s *Source) Description() string {
	return fmt.Sprintf("RateStreamV2[rowsPerSecond=%d, rampUpTimeSeconds=%d, numPartitions=%d]", s.opts.RowsPerSecond, int64(s.opts.RampUpTime/time.Second), s.opts.NumPartitions)
}

// Schema implements sources.Source.
func (s *Source) Schema() *arrow.Schema { return Schema }

// Open implements sources.Source.
func (s *Source) Open(_ context.Context, info sources.Info) error {
	s.mem = info.Allocator
	if s.mem == nil {
		s.mem = memory.DefaultAllocator
	}
	return nil
}

// InitialOffset implements sources.Source: row 0 at the current time.
func (s *Source) InitialOffset(context.Context) (sources.Offset, error) {
	return encode(offset{StartMs: s.opts.Now().UnixMilli()}), nil
}

// rowsAt is how many rows exist elapsed after the start.
func (s *Source) rowsAt(elapsed time.Duration) int64 {
	t, ramp, rps := elapsed.Seconds(), s.opts.RampUpTime.Seconds(), float64(s.opts.RowsPerSecond)
	if t <= 0 {
		return 0
	}
	if ramp > 0 && t < ramp {
		return int64(rps * t * t / (2 * ramp))
	}
	return int64(rps * (t - ramp/2))
}

// timeOfRow is when row i became available, relative to the start (the inverse of rowsAt).
func (s *Source) timeOfRow(i int64) time.Duration {
	ramp, rps := s.opts.RampUpTime.Seconds(), float64(s.opts.RowsPerSecond)
	var t float64
	if ramp > 0 && float64(i) < rps*ramp/2 {
		t = math.Sqrt(2 * float64(i) * ramp / rps)
	} else {
		t = float64(i)/rps + ramp/2
	}
	return time.Duration(t * float64(time.Second))
}

// DefaultReadLimit implements sources.Limiter.
func (s *Source) DefaultReadLimit() sources.ReadLimit {
	return sources.ReadLimit{MaxRows: s.opts.MaxRowsPerBatch}
}

// PrepareForAvailableNow implements sources.AvailableNow: the rows that exist now are the end.
func (s *Source) PrepareForAvailableNow(context.Context) error {
	s.targetSet = true
	s.target = -1 // fixed at the next LatestOffset, which knows the start time
	return nil
}

// LatestOffset implements sources.Source.
func (s *Source) LatestOffset(_ context.Context, start sources.Offset, limit sources.ReadLimit) (sources.Offset, error) {
	st, err := decode(start)
	if err != nil {
		return nil, err
	}
	avail := s.rowsAt(s.opts.Now().Sub(time.UnixMilli(st.StartMs)))
	if s.targetSet {
		if s.target < 0 {
			s.target = avail
		}
		avail = min(avail, s.target)
	}
	end := max(avail, st.Rows)
	if limit.MaxRows > 0 {
		end = min(end, st.Rows+limit.MaxRows)
	}
	return encode(offset{StartMs: st.StartMs, Rows: end}), nil
}

// Read implements sources.Source.
func (s *Source) Read(ctx context.Context, start, end sources.Offset, emit sources.Emit) error {
	st, err := decode(start)
	if err != nil {
		return err
	}
	en, err := decode(end)
	if err != nil {
		return err
	}
	if st.StartMs != en.StartMs {
		return fmt.Errorf("rate: offsets %s and %s have different start times", start, end)
	}
	base := time.UnixMilli(st.StartMs)
	return generate(ctx, s.mem, st.Rows, en.Rows, s.opts.NumPartitions, func(i int64) int64 {
		return base.Add(s.timeOfRow(i)).UnixMicro()
	}, emit)
}

// Commit implements sources.Source.
func (s *Source) Commit(context.Context, sources.Offset) error { return nil }

// Close implements sources.Source.
func (s *Source) Close(context.Context) error { return nil }

// generate emits rows [from, to) split into parts contiguous partitions read in parallel.
func generate(ctx context.Context, mem memory.Allocator, from, to, parts int64, tsMicros func(int64) int64, emit sources.Emit) error {
	n := to - from
	if n <= 0 {
		return nil
	}
	parts = min(parts, n)
	g, ctx := errgroup.WithContext(ctx)
	for p := int64(0); p < parts; p++ {
		lo, hi := from+n*p/parts, from+n*(p+1)/parts
		g.Go(func() error {
			for lo < hi {
				if err := ctx.Err(); err != nil {
					return err
				}
				k := min(hi-lo, maxRowsPerArrowBatch)
				rec := build(mem, lo, lo+k, tsMicros)
				err := emit(rec)
				rec.Release()
				if err != nil {
					return err
				}
				lo += k
			}
			return nil
		})
	}
	return g.Wait()
}

func build(mem memory.Allocator, lo, hi int64, tsMicros func(int64) int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, Schema)
	defer b.Release()
	ts := b.Field(0).(*array.TimestampBuilder)
	vs := b.Field(1).(*array.Int64Builder)
	ts.Reserve(int(hi - lo))
	vs.Reserve(int(hi - lo))
	for i := lo; i < hi; i++ {
		ts.UnsafeAppend(arrow.Timestamp(tsMicros(i)))
		vs.UnsafeAppend(i)
	}
	return b.NewRecordBatch()
}

// MicroBatchOptions configures the "rate-micro-batch" source.
type MicroBatchOptions struct {
	// RowsPerBatch is how many rows each micro-batch gets.
	RowsPerBatch int64
	// NumPartitions is how many partitions read a batch in parallel.
	NumPartitions int64
	// StartTimestamp is the event time of the first batch, in Unix milliseconds.
	StartTimestamp int64
	// AdvanceMillisPerBatch is how far event time moves per batch.
	AdvanceMillisPerBatch int64
}

// DefaultMicroBatchOptions returns the defaults of "rate-micro-batch" (RowsPerBatch must be set).
func DefaultMicroBatchOptions() MicroBatchOptions {
	return MicroBatchOptions{NumPartitions: 1, AdvanceMillisPerBatch: 1000}
}

// MicroBatchSpec declares the "rate-micro-batch" source's options.
var MicroBatchSpec = &optspec.Spec[MicroBatchOptions]{Component: "rate-micro-batch source", Options: []optspec.Option[MicroBatchOptions]{
	func() optspec.Option[MicroBatchOptions] {
		o := optspec.Int("rowsPerBatch", "", "Rows in each micro-batch.", 1, math.MaxInt32, func(o *MicroBatchOptions) *int64 { return &o.RowsPerBatch })
		o.Required = true
		return o
	}(),
	optspec.Int("numPartitions", "1", "Partitions that generate a batch in parallel.", 1, 1024, func(o *MicroBatchOptions) *int64 { return &o.NumPartitions }),
	optspec.Int("startTimestamp", "0", "Event time of the first row, Unix milliseconds.", 0, math.MaxInt64/1000, func(o *MicroBatchOptions) *int64 { return &o.StartTimestamp }),
	optspec.Int("advanceMillisPerBatch", "1000", "Event time advance per batch, milliseconds.", 0, math.MaxInt32, func(o *MicroBatchOptions) *int64 { return &o.AdvanceMillisPerBatch }),
}}

// Validate checks the options.
func (o MicroBatchOptions) Validate() error {
	if o.RowsPerBatch < 1 || o.NumPartitions < 1 || o.AdvanceMillisPerBatch < 0 || o.StartTimestamp < 0 {
		return fmt.Errorf("rate-micro-batch source: rowsPerBatch and numPartitions must be at least 1, startTimestamp and advanceMillisPerBatch not negative")
	}
	return nil
}

// MicroBatch is the "rate-micro-batch" source.
type MicroBatch struct {
	opts         MicroBatchOptions
	mem          memory.Allocator
	availableNow bool
	target       int64
}

// NewMicroBatch returns a "rate-micro-batch" source.
func NewMicroBatch(o MicroBatchOptions) (*MicroBatch, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &MicroBatch{opts: o}, nil
}

// Description implements sources.Source.
func (s *MicroBatch) Description() string {
	return fmt.Sprintf("RatePerMicroBatchStream[rowsPerBatch=%d, numPartitions=%d, startTimestamp=%d, advanceMillisPerBatch=%d]",
		s.opts.RowsPerBatch, s.opts.NumPartitions, s.opts.StartTimestamp, s.opts.AdvanceMillisPerBatch)
}

// Schema implements sources.Source.
func (s *MicroBatch) Schema() *arrow.Schema { return Schema }

// Open implements sources.Source.
func (s *MicroBatch) Open(_ context.Context, info sources.Info) error {
	s.mem = info.Allocator
	if s.mem == nil {
		s.mem = memory.DefaultAllocator
	}
	return nil
}

// InitialOffset implements sources.Source.
func (s *MicroBatch) InitialOffset(context.Context) (sources.Offset, error) {
	return encode(offset{StartMs: s.opts.StartTimestamp}), nil
}

// PrepareForAvailableNow implements sources.AvailableNow: exactly one more batch is available.
func (s *MicroBatch) PrepareForAvailableNow(context.Context) error {
	s.availableNow, s.target = true, -1
	return nil
}

// LatestOffset implements sources.Source: one batch more than start (limits do not apply, as
// in Spark).
func (s *MicroBatch) LatestOffset(_ context.Context, start sources.Offset, _ sources.ReadLimit) (sources.Offset, error) {
	st, err := decode(start)
	if err != nil {
		return nil, err
	}
	end := st.Rows + s.opts.RowsPerBatch
	if s.availableNow {
		if s.target < 0 {
			s.target = end
		}
		end = max(st.Rows, min(end, s.target))
	}
	return encode(offset{StartMs: st.StartMs, Rows: end}), nil
}

// Read implements sources.Source.
func (s *MicroBatch) Read(ctx context.Context, start, end sources.Offset, emit sources.Emit) error {
	st, err := decode(start)
	if err != nil {
		return err
	}
	en, err := decode(end)
	if err != nil {
		return err
	}
	per, adv := s.opts.RowsPerBatch, s.opts.AdvanceMillisPerBatch
	return generate(ctx, s.mem, st.Rows, en.Rows, s.opts.NumPartitions, func(i int64) int64 {
		return (st.StartMs + (i/per)*adv) * 1000
	}, emit)
}

// Commit implements sources.Source.
func (s *MicroBatch) Commit(context.Context, sources.Offset) error { return nil }

// Close implements sources.Source.
func (s *MicroBatch) Close(context.Context) error { return nil }
