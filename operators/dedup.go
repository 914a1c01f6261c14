package operators

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/state"
)

// DropDuplicates passes on the first row of each distinct combination of the columns cols
// (all columns when cols is empty) and drops the rows that repeat one already seen, in this
// batch or in an earlier one (Spark's dropDuplicates on a stream). It is Stateful, of kind
// Deduplication: the keys seen are kept in the operator's state.Store.
//
// Within a batch, rows keep their order and the first row of a key is the one passed on.
// Batches processed concurrently see each other's keys: one of them passes the row on.
//
// When the input has an event-time column (one marked by WithWatermark, see
// EventTimeColumn; a marked column among cols is preferred) and the batch has a watermark, a
// row whose event time is at or before the watermark is dropped as late (counted in
// StateMetrics.NumRowsDroppedByWatermark), duplicate or not, as Spark's dropDuplicates does.
// When the event-time column is among cols (the Spark idiom), each key is stored with its
// event time and Finish removes the keys at or before the watermark, so the state stays
// bounded by the rows of the last "delay" of event time; a duplicate arriving after that is
// late too, and dropped. When it is not among cols, keys are never removed: every distinct key
// is kept, and a later row with a key already seen is dropped however new its event time (as
// in Spark, where only dropDuplicatesWithinWatermark forgets such keys).
// A window column (from Window) counts by window.end. A row whose event time is null is never
// late and its key is never removed. Without an event-time column or a watermark the state
// grows forever, as in Spark: every distinct key ever seen is kept.
//
// o is accepted for uniformity with the other operators; no row can fail, so its error policy
// never applies.
func DropDuplicates(cols []string, o Options) Operator {
	d := &dedupOp{cols: cols, opts: o}
	d.plans.build = d.plan
	return d
}

// dedupOpName is Spark's name for the operator in StateOperatorProgress.
const dedupOpName = "dedupe"

// dedupNullTag encodes a null value in a key; a non-null value starts with its type's ID,
// which is never arrow.NULL (0).
const dedupNullTag = 0

type dedupOp struct {
	cols   []string
	opts   Options
	plans  perSchema[*dedupPlan]
	evtKey atomic.Pointer[string]
	// stateSchema describes the key columns (see StateSchemaReporter).
	stateSchema atomic.Pointer[string]

	mu      sync.Mutex // guards the fields below, and the store (which is not concurrency-safe)
	st      state.Store
	info    BatchInfo
	updated int64 // keys put this batch
	// updateTime is the time spent looking up and putting keys this batch
	updateTime time.Duration
	late       int64 // rows dropped by the watermark this batch
	dups       int64 // rows dropped as duplicates this batch
	metrics    StateMetrics
}

type dedupPlan struct {
	keys     []int
	evt      int  // the event-time column, or -1
	evtIsKey bool // evt is one of keys: keys are stored with their event time, and removed
	evtField int  // the timestamp field of a struct event-time column (window.end), or -1
	unit     arrow.TimeUnit
}

var _ Stateful = (*dedupOp)(nil)

// Name returns "DropDuplicates(col, ...)", or "DropDuplicates(*)" for all columns.
func (d *dedupOp) Name() string {
	if len(d.cols) == 0 {
		return "DropDuplicates(*)"
	}
	return "DropDuplicates(" + strings.Join(d.cols, ", ") + ")"
}

func (d *dedupOp) plan(in *arrow.Schema) (*dedupPlan, error) {
	p := &dedupPlan{evt: -1, evtField: -1}
	var errs []error
	if len(d.cols) == 0 {
		for i := range in.NumFields() {
			p.keys = append(p.keys, i)
		}
	}
	for _, c := range d.cols {
		idx, err := columnIndex(in, c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.keys = append(p.keys, idx)
	}
	for _, k := range p.keys {
		if err := dedupCheckType(in.Field(k).Type); err != nil {
			errs = append(errs, fmt.Errorf("column %q: %w", in.Field(k).Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("DropDuplicates: %w", err)
	}
	for _, k := range p.keys {
		if _, ok := watermarkDelay(in.Field(k)); ok {
			p.evt, p.evtIsKey = k, true
			break
		}
	}
	if p.evt < 0 {
		p.evt, _ = EventTimeColumn(in)
	}
	name := ""
	if p.evt >= 0 {
		f := in.Field(p.evt)
		name = f.Name
		switch t := f.Type.(type) {
		case *arrow.TimestampType:
			p.unit = t.Unit
		case *arrow.StructType:
			if i, ok := t.FieldIdx("end"); ok {
				if ts, ok := t.Field(i).Type.(*arrow.TimestampType); ok {
					p.evtField, p.unit = i, ts.Unit
				}
			}
		}
		if p.evtField < 0 && f.Type.ID() != arrow.TIMESTAMP {
			return nil, fmt.Errorf("DropDuplicates: the event-time column %q is of type %s; want a timestamp or a window", name, f.Type)
		}
	}
	d.evtKey.Store(&name)
	return p, nil
}

// OutputSchema checks the key columns and returns in.
func (d *dedupOp) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	if in == nil {
		return nil, nil
	}
	p, err := d.plans.get(in)
	if err != nil {
		return nil, err
	}
	keys := make([]arrow.Field, len(p.keys))
	for i, k := range p.keys {
		keys[i] = in.Field(k)
	}
	desc := stateSchemaOf(arrow.NewSchema(keys, nil))
	d.stateSchema.Store(&desc)
	return in, nil
}

// StateSchema implements StateSchemaReporter: the key columns of the schema given to
// OutputSchema.
func (d *dedupOp) StateSchema() string {
	if s := d.stateSchema.Load(); s != nil {
		return *s
	}
	return ""
}

// StateKind returns Deduplication.
func (d *dedupOp) StateKind() StateKind { return Deduplication }

// EventTimeKey returns the name of the event-time column, or "".
func (d *dedupOp) EventTimeKey() string {
	if p := d.evtKey.Load(); p != nil {
		return *p
	}
	return ""
}

// BeginBatch starts a batch.
func (d *dedupOp) BeginBatch(_ context.Context, info BatchInfo, st state.Store) error {
	if st == nil {
		return errors.New("DropDuplicates: BeginBatch without a store")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st, d.info = st, info
	d.updated, d.late, d.dups, d.updateTime = 0, 0, 0, 0
	return nil
}

// Process emits the rows of in that are neither late nor duplicates, and puts their keys in
// the store.
func (d *dedupOp) Process(ctx context.Context, in arrow.RecordBatch, emit Emit) error {
	p, err := d.plans.get(in.Schema())
	if err != nil {
		return err
	}
	n := int(in.NumRows())
	if n == 0 {
		return nil
	}
	d.mu.Lock()
	info, started := d.info, d.st != nil
	d.mu.Unlock()
	if !started {
		return errors.New("DropDuplicates: Process before BeginBatch")
	}

	var times []int64 // ms, rounded up; evtNull for a null time
	if p.evt >= 0 {
		if times, err = p.eventTimes(in); err != nil {
			return err
		}
	}
	encs := make([]dedupEncoder, len(p.keys))
	for j, k := range p.keys {
		if encs[j], err = newDedupEncoder(in.Column(k)); err != nil {
			return fmt.Errorf("DropDuplicates: column %q: %w", in.Schema().Field(k).Name, err)
		}
	}
	// Encode the keys outside the lock; ends[i] is the end of row i's key, -1 for a late row.
	var keys []byte
	ends := make([]int, n)
	var late int64
	for i := range n {
		if times != nil && info.HasWatermark && times[i] != evtNull && times[i] <= info.WatermarkMs {
			ends[i] = -1
			late++
			continue
		}
		for _, e := range encs {
			keys = e(keys, i)
		}
		ends[i] = len(keys)
	}

	keep := make([]int, 0, n)
	var val [8]byte
	d.mu.Lock()
	if d.st == nil {
		d.mu.Unlock()
		return errors.New("DropDuplicates: Process before BeginBatch")
	}
	t0 := time.Now()
	var dups int64
	start := 0
	for i, end := range ends {
		if end < 0 {
			continue
		}
		k := keys[start:end]
		start = end
		if _, ok := d.st.Get(k); ok {
			dups++
			continue
		}
		v := val[:0]
		if p.evtIsKey && times[i] != evtNull {
			v = binary.BigEndian.AppendUint64(v, uint64(times[i]))
		}
		d.st.Put(k, v)
		keep = append(keep, i)
	}
	d.updated += int64(len(keep))
	d.late += late
	d.dups += dups
	d.updateTime += time.Since(t0)
	d.mu.Unlock()

	switch len(keep) {
	case 0:
		return nil
	case n:
		return emit(in)
	}
	out, err := arrowbatch.TakeRows(Allocator(ctx), in, keep)
	if err != nil {
		return fmt.Errorf("DropDuplicates: %w", err)
	}
	defer out.Release()
	return emit(out)
}

// evtNull stands for a null event time in dedupPlan.eventTimes' result. (It is also the
// Unix millisecond time of the year -292 million, which no event has.)
const evtNull = math.MinInt64

// eventTimes returns the event time of each row in Unix milliseconds, rounded up (so that a
// row is late exactly when its time is at or before the watermark), or evtNull.
func (p *dedupPlan) eventTimes(in arrow.RecordBatch) ([]int64, error) {
	col := in.Column(p.evt)
	var parent arrow.Array
	if p.evtField >= 0 {
		s, ok := col.(*array.Struct)
		if !ok {
			return nil, fmt.Errorf("DropDuplicates: event-time column %q is a %T", in.Schema().Field(p.evt).Name, col)
		}
		parent, col = s, s.Field(p.evtField)
	}
	ts, ok := col.(*array.Timestamp)
	if !ok {
		return nil, fmt.Errorf("DropDuplicates: event-time column %q is a %T", in.Schema().Field(p.evt).Name, col)
	}
	out := make([]int64, ts.Len())
	for i, v := range ts.TimestampValues() {
		if ts.IsNull(i) || (parent != nil && parent.IsNull(i)) {
			out[i] = evtNull
			continue
		}
		out[i] = evtMsCeil(int64(v), p.unit)
		if out[i] == evtNull {
			out[i]++
		}
	}
	return out, nil
}

// Finish removes the keys whose event time is at or before the watermark (only keys stored
// with one: when the event-time column is among the keys); it emits nothing.
func (d *dedupOp) Finish(ctx context.Context, _ Emit) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st == nil {
		return errors.New("DropDuplicates: Finish before BeginBatch")
	}
	var removed int64
	t0 := time.Now()
	if d.info.HasWatermark && d.EventTimeKey() != "" {
		wm := d.info.WatermarkMs
		var expired [][]byte
		var ctxErr error
		seen := 0
		err := d.st.Range(func(k, v []byte) bool {
			if seen++; seen%4096 == 0 {
				if ctxErr = ctx.Err(); ctxErr != nil {
					return false
				}
			}
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) <= wm {
				expired = append(expired, bytes.Clone(k))
			}
			return true
		})
		if err == nil {
			err = ctxErr
		}
		if err != nil {
			return fmt.Errorf("DropDuplicates: remove expired keys: %w", err)
		}
		for _, k := range expired {
			d.st.Delete(k)
		}
		removed = int64(len(expired))
	}
	m := d.st.Metrics()
	d.metrics = StateMetrics{
		OperatorName:              dedupOpName,
		NumRowsTotal:              m.NumKeys,
		NumRowsUpdated:            d.updated,
		NumRowsRemoved:            removed,
		NumRowsDroppedByWatermark: d.late,
		MemoryUsedBytes:           m.MemoryUsedBytes,
		AllUpdatesTimeMs:          d.updateTime.Milliseconds(),
		AllRemovalsTimeMs:         time.Since(t0).Milliseconds(),
		Custom:                    map[string]int64{"numDroppedDuplicateRows": d.dups},
	}
	return nil
}

// StateMetrics reports on the last batch: keys put and removed, rows dropped as late, and in
// Custom["numDroppedDuplicateRows"] the rows dropped as duplicates (Spark's custom metric).
func (d *dedupOp) StateMetrics() StateMetrics {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.metrics
	m.Custom = maps.Clone(m.Custom)
	return m
}

// dedupEncoder appends the encoding of row i of an array to dst.
//
// A key is the concatenation of its columns' encodings. A null value is the byte 0. A
// non-null value starts with its type's tag: the arrow.Type ID (never 0), followed for
// timestamp, time and duration types by the unit and for decimals by the precision and scale
// (uvarints). Then comes the value: fixed-width values as their bytes in Arrow's (little-
// endian) layout, floats normalised first (-0 as 0, every NaN as one NaN, as Spark does);
// booleans as one byte; strings and binaries as a uvarint length and the bytes; a struct as
// its fields' encodings; a list or map as a uvarint count and its elements' encodings; a
// dictionary-encoded value as the value. Each encoding is self-delimiting, so distinct keys
// encode to distinct bytes.
type dedupEncoder func(dst []byte, i int) []byte

// newDedupEncoder returns the encoder of arr's values.
func newDedupEncoder(arr arrow.Array) (dedupEncoder, error) {
	enc, err := dedupValueEncoder(arr)
	if err != nil || arr.NullN() == 0 {
		return enc, err
	}
	return func(dst []byte, i int) []byte {
		if arr.IsNull(i) {
			return append(dst, dedupNullTag)
		}
		return enc(dst, i)
	}, nil
}

// dedupValueEncoder returns the encoder of arr's non-null values.
func dedupValueEncoder(arr arrow.Array) (dedupEncoder, error) {
	tag := dedupTag(arr.DataType())
	switch a := arr.(type) {
	case *array.Null:
		return func(dst []byte, _ int) []byte { return append(dst, dedupNullTag) }, nil
	case *array.Boolean:
		return func(dst []byte, i int) []byte {
			dst = append(dst, tag...)
			if a.Value(i) {
				return append(dst, 1)
			}
			return append(dst, 0)
		}, nil
	case *array.Float32:
		return func(dst []byte, i int) []byte {
			v := a.Value(i)
			b := math.Float32bits(v)
			switch {
			case v != v:
				b = 0x7fc00000
			case v == 0:
				b = 0
			}
			return binary.LittleEndian.AppendUint32(append(dst, tag...), b)
		}, nil
	case *array.Float64:
		return func(dst []byte, i int) []byte {
			v := a.Value(i)
			b := math.Float64bits(v)
			switch {
			case v != v:
				b = 0x7ff8000000000000
			case v == 0:
				b = 0
			}
			return binary.LittleEndian.AppendUint64(append(dst, tag...), b)
		}, nil
	case *array.String:
		return func(dst []byte, i int) []byte { return dedupAppendString(append(dst, tag...), a.Value(i)) }, nil
	case *array.LargeString:
		return func(dst []byte, i int) []byte { return dedupAppendString(append(dst, tag...), a.Value(i)) }, nil
	case *array.StringView:
		return func(dst []byte, i int) []byte { return dedupAppendString(append(dst, tag...), a.Value(i)) }, nil
	case *array.Binary:
		return func(dst []byte, i int) []byte { return dedupAppendBytes(append(dst, tag...), a.Value(i)) }, nil
	case *array.LargeBinary:
		return func(dst []byte, i int) []byte { return dedupAppendBytes(append(dst, tag...), a.Value(i)) }, nil
	case *array.BinaryView:
		return func(dst []byte, i int) []byte { return dedupAppendBytes(append(dst, tag...), a.Value(i)) }, nil
	case *array.FixedSizeBinary:
		return func(dst []byte, i int) []byte { return dedupAppendBytes(append(dst, tag...), a.Value(i)) }, nil
	case *array.Struct:
		fields := make([]dedupEncoder, a.NumField())
		for j := range fields {
			var err error
			if fields[j], err = newDedupEncoder(a.Field(j)); err != nil {
				return nil, err
			}
		}
		return func(dst []byte, i int) []byte {
			dst = append(dst, tag...)
			for _, f := range fields {
				dst = f(dst, i)
			}
			return dst
		}, nil
	case *array.Dictionary:
		vals, err := newDedupEncoder(a.Dictionary())
		if err != nil {
			return nil, err
		}
		return func(dst []byte, i int) []byte { return vals(dst, a.GetValueIndex(i)) }, nil
	case array.ListLike:
		elems, err := newDedupEncoder(a.ListValues())
		if err != nil {
			return nil, err
		}
		return func(dst []byte, i int) []byte {
			start, end := a.ValueOffsets(i)
			dst = binary.AppendUvarint(append(dst, tag...), uint64(end-start))
			for j := start; j < end; j++ {
				dst = elems(dst, int(j))
			}
			return dst
		}, nil
	}
	if w := dedupFixedWidth(arr.DataType()); w > 0 {
		d := arr.Data()
		var raw []byte
		if bufs := d.Buffers(); len(bufs) > 1 && bufs[1] != nil {
			raw = bufs[1].Bytes()[d.Offset()*w:]
		}
		return func(dst []byte, i int) []byte { return append(append(dst, tag...), raw[i*w:(i+1)*w]...) }, nil
	}
	return nil, fmt.Errorf("type %s cannot be a deduplication key", arr.DataType())
}

// dedupCheckType reports whether values of type dt can be encoded in a key.
func dedupCheckType(dt arrow.DataType) error {
	switch t := dt.(type) {
	case *arrow.StructType:
		for _, f := range t.Fields() {
			if err := dedupCheckType(f.Type); err != nil {
				return err
			}
		}
		return nil
	case *arrow.DictionaryType:
		return dedupCheckType(t.ValueType)
	case arrow.ListLikeType:
		return dedupCheckType(t.Elem())
	}
	switch dt.ID() {
	case arrow.NULL, arrow.BOOL, arrow.FLOAT32, arrow.FLOAT64, arrow.STRING, arrow.LARGE_STRING,
		arrow.STRING_VIEW, arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW, arrow.FIXED_SIZE_BINARY:
		return nil
	}
	if dedupFixedWidth(dt) > 0 {
		return nil
	}
	return fmt.Errorf("type %s cannot be a deduplication key", dt)
}

// dedupFixedWidth returns the byte width of the values of a fixed-width type stored in one
// data buffer (integers, dates, times, timestamps, durations, decimals, intervals), or 0.
func dedupFixedWidth(dt arrow.DataType) int {
	switch dt.ID() {
	case arrow.BOOL, arrow.DICTIONARY, arrow.FIXED_SIZE_BINARY, arrow.EXTENSION:
		return 0
	}
	fw, ok := dt.(arrow.FixedWidthDataType)
	if !ok || fw.BitWidth() <= 0 || fw.BitWidth()%8 != 0 {
		return 0
	}
	return fw.BitWidth() / 8
}

// dedupTag returns the bytes that start a non-null value of type dt in a key.
func dedupTag(dt arrow.DataType) []byte {
	tag := []byte{byte(dt.ID())}
	switch t := dt.(type) {
	case *arrow.TimestampType:
		tag = append(tag, byte(t.Unit))
	case *arrow.Time32Type:
		tag = append(tag, byte(t.Unit))
	case *arrow.Time64Type:
		tag = append(tag, byte(t.Unit))
	case *arrow.DurationType:
		tag = append(tag, byte(t.Unit))
	case arrow.DecimalType:
		tag = binary.AppendUvarint(tag, uint64(t.GetPrecision()))
		tag = binary.AppendVarint(tag, int64(t.GetScale()))
	}
	return tag
}

func dedupAppendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

func dedupAppendBytes(dst []byte, b []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}
