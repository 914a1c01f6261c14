package operators

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/expr"
	"github.com/sluicedev/sluice/state"
)

// aggFunc is the function of an Agg.
type aggFunc uint8

const (
	aggCount aggFunc = iota + 1
	aggSum
	aggMin
	aggMax
	aggAvg
	aggApproxCountDistinct
	aggFirst
	aggLast
)

var aggFuncNames = [...]string{
	aggCount: "count", aggSum: "sum", aggMin: "min", aggMax: "max", aggAvg: "avg",
	aggApproxCountDistinct: "approx_count_distinct", aggFirst: "first", aggLast: "last",
}

func (f aggFunc) String() string {
	if int(f) < len(aggFuncNames) && f > 0 {
		return aggFuncNames[f]
	}
	return "aggFunc(" + strconv.Itoa(int(f)) + ")"
}

// Agg is one aggregate of an aggregation (see Aggregate): a function of the values a CEL
// expression takes over the rows of a group, and the name of its output column. Count, Sum,
// Min, Max, Avg, ApproxCountDistinct, First and Last build one; As names its column. The zero
// Agg is invalid.
type Agg struct {
	// fn is the function.
	fn aggFunc
	// expr is the CEL expression over the input rows (a column name in the common case), or
	// "*" for Count("*").
	expr string
	// alias names the output column; "" means the default name, Spark's ("sum(x)").
	alias string
}

// Count counts the rows of each group: all of them for expr "*", otherwise those where the CEL
// expression expr is not null. Its column is a non-null int64, named as Spark names it:
// "count(1)" for "*" (Spark reads count(*) as count(1)) and "count(expr)" otherwise; the
// shorthand GroupBy(...).Count() names it "count".
func Count(expr string) Agg { return Agg{fn: aggCount, expr: expr} }

// Sum adds up the non-null values of the numeric expression expr: into an int64 for integers
// (a sum beyond int64 fails the batch, naming the group), a float64 for floats. It is null for
// a group with no non-null value. Its column is named "sum(expr)".
func Sum(expr string) Agg { return Agg{fn: aggSum, expr: expr} }

// Min is the least non-null value of expr in each group, of expr's type (numbers, bool,
// strings and binary bytewise, timestamps, dates, durations; NaN is greater than any other
// float, as in Spark), or null. Its column is named "min(expr)".
func Min(expr string) Agg { return Agg{fn: aggMin, expr: expr} }

// Max is the greatest non-null value of expr in each group, or null; see Min. Its column is
// named "max(expr)".
func Max(expr string) Agg { return Agg{fn: aggMax, expr: expr} }

// Avg is the mean of the non-null values of the numeric expression expr, as a float64, or
// null for a group with none. Its column is named "avg(expr)".
func Avg(expr string) Agg { return Agg{fn: aggAvg, expr: expr} }

// ApproxCountDistinct estimates the number of distinct non-null values of expr in each group
// with a HyperLogLog sketch of relative standard deviation 0.046 (Spark's default precision);
// small counts are nearly exact. Its column is a non-null int64 named
// "approx_count_distinct(expr)".
func ApproxCountDistinct(expr string) Agg { return Agg{fn: aggApproxCountDistinct, expr: expr} }

// First is the value of expr in the first row of each group, null included (Spark's first
// with ignoreNulls false). Rows are ordered by micro-batch, and within a batch by their order
// in the batch given to Process; batches processed concurrently in one micro-batch have no
// order between them. Its column is named "first(expr)".
func First(expr string) Agg { return Agg{fn: aggFirst, expr: expr} }

// Last is the value of expr in the last row of each group, null included; see First. Its
// column is named "last(expr)".
func Last(expr string) Agg { return Agg{fn: aggLast, expr: expr} }

// As returns the aggregate with its output column named name.
func (a Agg) As(name string) Agg {
	a.alias = name
	return a
}

// defaultName is the aggregate's column name without As, Spark's.
func (a Agg) defaultName() string {
	if a.fn == 0 || int(a.fn) >= len(aggFuncNames) {
		return "<invalid Agg>"
	}
	if a.fn == aggCount && strings.TrimSpace(a.expr) == "*" {
		return "count(1)"
	}
	return a.fn.String() + "(" + strings.TrimSpace(a.expr) + ")"
}

// Name returns the aggregate's output column name.
func (a Agg) Name() string {
	if a.alias != "" {
		return a.alias
	}
	return a.defaultName()
}

// String describes the aggregate for Explain: "sum(bytes)", or "sum(bytes) AS total" when
// renamed.
func (a Agg) String() string {
	if a.fn == aggCount && strings.TrimSpace(a.expr) == "*" && a.alias == "count" {
		// GroupBy(...).Count(): described as before count(*) was named count(1), so that the
		// operator's name, which checkpoints record, is unchanged.
		return "count"
	}
	if a.alias != "" && a.alias != a.defaultName() {
		return a.defaultName() + " AS " + a.alias
	}
	return a.defaultName()
}

// Aggregate groups the rows by the values of keys and computes aggs over each group (Spark's
// groupBy(keys).agg(aggs)), keeping each group's state across micro-batches in the state
// store. A key is a column name or a CEL expression, optionally followed by "AS name" as in
// Select; its output column is named by the AS, else by the column name, a struct field path's
// last field ("geo.region" is "region", as in Spark), or the expression's text. The output has the key columns, then one column per aggregate, one row per group.
// Null key values form a group of their own; keys may be empty (one group of all rows).
//
// The returned Operator is Stateful (StateKind Aggregation). Process only accumulates the
// batch's rows; Finish merges them into the store and emits, in the order of the groups' keys
// (nulls first), for output mode
//
//   - update: the groups the batch changed;
//   - complete: every group;
//   - append: the groups whose event time is at or before the watermark, which no later row
//     can change, and removes them from the store.
//
// A key column marked with WatermarkDelayKey (a timestamp column from WithWatermark, or the
// window struct of Window, whose event time is its end) is the event-time key: rows whose
// event time is at or before the batch's watermark are dropped as late, and in update mode the
// groups at or before it are removed from the store without output. A null event time is
// never late and its group never final. Append mode needs an event-time key.
//
// A row whose key or aggregate input fails to evaluate follows o.OnError: FailBatch fails the
// batch, SideOutput leaves the row out of the aggregation and sends it aside; ErrorColumn is
// refused (the output has no row to carry the error).
func Aggregate(keys []string, aggs []Agg, opts Options) Operator {
	keys, aggs = slices.Clone(keys), slices.Clone(aggs)
	var srcs, ks, as []string
	for _, k := range keys {
		src, _ := parseSelectItem(k)
		srcs = append(srcs, src)
		ks = append(ks, strings.TrimSpace(k))
	}
	for _, a := range aggs {
		if e := strings.TrimSpace(a.expr); e != "*" && e != "" {
			srcs = append(srcs, e)
		}
		as = append(as, a.String())
	}
	op := &aggregate{keys: keys, aggs: aggs, opts: opts, seed: maphash.MakeSeed()}
	op.desc = &describer{
		base: "Aggregate(keys=[" + strings.Join(ks, ", ") + "], aggs=[" + strings.Join(as, ", ") + "])",
		env:  opts.env(), srcs: srcs,
	}
	op.plans.build = op.plan
	return op
}

// aggShards is the number of hash tables a batch's groups are spread over, each with its own
// lock, so that concurrent Process calls fold rows in parallel.
const aggShards = 16

// aggMaxRows bounds the rows of the batches Finish emits.
const aggMaxRows = 1 << 16

var _ Stateful = (*aggregate)(nil)

type aggregate struct {
	keys  []string
	aggs  []Agg
	opts  Options
	desc  *describer
	plans perSchema[*aggPlan]
	seed  maphash.Seed // spreads groups over the shards; in-memory only

	// declared is the plan of the input schema given to OutputSchema (or of the first batch):
	// the output schema, and how Finish decodes the state.
	declared atomic.Pointer[aggPlan]
	// batch is the micro-batch in progress, between BeginBatch and Finish.
	batch atomic.Pointer[aggBatch]

	mu      sync.Mutex
	metrics StateMetrics
}

// aggPlan is what an aggregation derives from an input schema.
type aggPlan struct {
	keys  []aggColumn
	aggs  []aggSpec
	out   *arrow.Schema
	decs  []aggKeyDecoder // the key columns' decoders
	event *aggEventTime   // the event-time key, or nil
}

// aggColumn is a key or an aggregate's input: an input column, or an expression.
type aggColumn struct {
	col  int           // the input column, or -1
	prog *expr.Program // the expression, when col < 0
	typ  arrow.DataType
}

func (c *aggColumn) eval(ctx context.Context, in arrow.RecordBatch) (arrow.Array, []*expr.EvalError, error) {
	if c.col >= 0 {
		arr := in.Column(c.col)
		arr.Retain()
		return arr, nil, nil
	}
	return c.prog.Eval(ctx, in)
}

type aggSpec struct {
	agg   Agg
	in    *aggColumn // nil for Count("*")
	field arrow.Field
}

// aggEventTime locates a group's event time in its key.
type aggEventTime struct {
	key   int            // the key column
	child int            // the field of a window struct key holding its end, or -1 for a timestamp key
	unit  arrow.TimeUnit // the timestamp's unit
}

// aggBatch is the state of the micro-batch in progress.
type aggBatch struct {
	info    BatchInfo
	store   state.Store
	tables  [aggShards]aggTable
	dropped atomic.Int64 // rows dropped as late
	calls   atomic.Int64 // Process calls
}

// aggTable is one shard of a batch's partial aggregates: a hash table from encoded group key
// to group number, and the accumulators, indexed by group number.
type aggTable struct {
	mu    sync.Mutex
	index map[string]uint32
	keys  []string // group number → encoded key (the index's own string)
	accs  []aggAccumulator
}

func (t *aggTable) group(key []byte) uint32 {
	if g, ok := t.index[string(key)]; ok {
		return g
	}
	k := string(key)
	g := uint32(len(t.keys))
	t.index[k] = g
	t.keys = append(t.keys, k)
	return g
}

func (a *aggregate) Name() string { return a.desc.String() }

// StateKind returns Aggregation.
func (a *aggregate) StateKind() StateKind { return Aggregation }

// EventTimeKey returns the name of the output column of the key that carries the watermark.
func (a *aggregate) EventTimeKey() string {
	pl := a.declared.Load()
	if pl == nil || pl.event == nil {
		return ""
	}
	return pl.out.Field(pl.event.key).Name
}

// StateMetrics reports on the last batch Finish ended.
func (a *aggregate) StateMetrics() StateMetrics {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.metrics
}

// errAggNeedsSchema is OutputSchema's error for an unknown input schema.
var errAggNeedsSchema = errors.New("an aggregation needs a known input schema: its output columns and its state depend on the input's types; give the source a schema, or derive typed columns (FromJSON, Select, Cast) before the aggregation")

func (a *aggregate) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	if in == nil {
		return nil, errAggNeedsSchema
	}
	pl, err := a.plans.get(in)
	if err != nil {
		return nil, err
	}
	a.declared.Store(pl)
	return pl.out, nil
}

// StateSchema implements StateSchemaReporter: the output columns (keys and results) of the
// schema given to OutputSchema.
func (a *aggregate) StateSchema() string {
	if pl := a.declared.Load(); pl != nil && pl.out != nil {
		return stateSchemaOf(pl.out)
	}
	return ""
}

// aggAvailable lists a schema's columns for error messages.
func aggAvailable(in *arrow.Schema) string {
	if in.NumFields() == 0 {
		return "available columns: (none)"
	}
	cols := make([]string, in.NumFields())
	for i, f := range in.Fields() {
		cols[i] = f.Name + " " + f.Type.String()
	}
	return "available columns: " + strings.Join(cols, ", ")
}

// resolve finds the input column src names, or compiles src.
func (a *aggregate) resolve(in *arrow.Schema, src string) (aggColumn, error) {
	if idx := in.FieldIndices(src); len(idx) == 1 {
		return aggColumn{col: idx[0], typ: in.Field(idx[0]).Type}, nil
	}
	prog, err := a.opts.env().Compile(in, src)
	if err != nil {
		return aggColumn{}, err
	}
	return aggColumn{col: -1, prog: prog, typ: prog.Type()}, nil
}

func (a *aggregate) plan(in *arrow.Schema) (*aggPlan, error) {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if err := a.opts.OnError.Validate(); err != nil {
		errs = append(errs, err)
	} else if a.opts.OnError.side == nil && a.opts.OnError.column != "" {
		fail("an aggregation cannot keep the rows that fail in an error column (%s): its output has one row per group; use FailBatch or SideOutput", a.opts.OnError)
	}
	if len(a.aggs) == 0 {
		fail("an aggregation needs at least one aggregate (%s)", aggAvailable(in))
	}
	pl := &aggPlan{}
	var fields []arrow.Field
	for _, k := range a.keys {
		src, name := parseSelectItem(k)
		if src == "" {
			fail("a key is empty (%s)", aggAvailable(in))
			continue
		}
		c, err := a.resolve(in, src)
		if err != nil {
			fail("key %s: %w", src, err)
			continue
		}
		if err := aggKeyType(c.typ); err != nil {
			fail("key %s: %w", src, err)
			continue
		}
		if c.col < 0 {
			name = exprName(k, name)
		}
		f := arrow.Field{Name: name, Type: c.typ, Nullable: true}
		if c.col >= 0 {
			src := in.Field(c.col)
			f.Nullable, f.Metadata = src.Nullable, src.Metadata
			if _, ok := watermarkDelay(src); ok && pl.event == nil {
				et, err := aggEventTimeOf(c.typ)
				if err != nil {
					fail("key %s carries the watermark (%s) but %w", src.Name, WatermarkDelayKey, err)
					continue
				}
				et.key = len(pl.keys)
				pl.event = et
			}
		}
		dec, err := newAggKeyDecoder(c.typ)
		if err != nil {
			fail("key %s: %w", src, err)
			continue
		}
		pl.keys = append(pl.keys, c)
		pl.decs = append(pl.decs, dec)
		fields = append(fields, f)
	}
	for _, ag := range a.aggs {
		s, err := a.planAgg(in, ag)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pl.aggs = append(pl.aggs, s)
		fields = append(fields, s.field)
	}
	seen := map[string]bool{}
	for _, f := range fields {
		if seen[f.Name] {
			fail("the output has two columns named %q; rename one with AS (keys) or As (aggregates)", f.Name)
		}
		seen[f.Name] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	pl.out = arrow.NewSchema(fields, nil)
	return pl, nil
}

// aggEventTimeOf locates the event time in a key of type dt.
func aggEventTimeOf(dt arrow.DataType) (*aggEventTime, error) {
	switch t := dt.(type) {
	case *arrow.TimestampType:
		return &aggEventTime{child: -1, unit: t.Unit}, nil
	case *arrow.StructType:
		if i, ok := t.FieldIdx("end"); ok {
			if ts, ok := t.Field(i).Type.(*arrow.TimestampType); ok {
				return &aggEventTime{child: i, unit: ts.Unit}, nil
			}
		}
	}
	return nil, fmt.Errorf("is of type %s; want a timestamp, or a window struct with a timestamp field end", dt)
}

func (a *aggregate) planAgg(in *arrow.Schema, ag Agg) (aggSpec, error) {
	s := aggSpec{agg: ag}
	src := strings.TrimSpace(ag.expr)
	if ag.fn == 0 || int(ag.fn) >= len(aggFuncNames) {
		return s, errors.New("an Agg must be made with Count, Sum, Min, Max, Avg, ApproxCountDistinct, First or Last")
	}
	switch {
	case src == "":
		return s, fmt.Errorf("%s: the expression is empty (%s)", ag, aggAvailable(in))
	case src == "*" && ag.fn == aggCount:
		s.field = arrow.Field{Name: ag.Name(), Type: arrow.PrimitiveTypes.Int64}
		return s, nil
	case src == "*":
		return s, fmt.Errorf("%s: only count takes \"*\" (%s)", ag, aggAvailable(in))
	}
	c, err := a.resolve(in, src)
	if err != nil {
		return s, fmt.Errorf("%s: %w", ag, err)
	}
	s.in = &c
	var out arrow.DataType
	nullable := true
	switch ag.fn {
	case aggCount:
		out, nullable = arrow.PrimitiveTypes.Int64, false
	case aggApproxCountDistinct:
		if aggCategoryOf(c.typ) == aggCatNone {
			return s, fmt.Errorf("%s: %s is of type %s; approx_count_distinct takes numbers, bool, strings, binary, timestamps, dates and durations (%s)", ag, src, c.typ, aggAvailable(in))
		}
		out, nullable = arrow.PrimitiveTypes.Int64, false
	case aggSum, aggAvg:
		if !aggNumeric(c.typ) {
			return s, fmt.Errorf("%s: %s is of type %s; %s takes numbers (%s)", ag, src, c.typ, ag.fn, aggAvailable(in))
		}
		switch {
		case ag.fn == aggAvg || aggCategoryOf(c.typ) == aggCatFloat:
			out = arrow.PrimitiveTypes.Float64
		default:
			out = arrow.PrimitiveTypes.Int64
		}
	default: // min, max, first, last
		if aggCategoryOf(c.typ) == aggCatNone {
			return s, fmt.Errorf("%s: %s is of type %s; %s takes numbers, bool, strings, binary, timestamps, dates and durations (%s)", ag, src, c.typ, ag.fn, aggAvailable(in))
		}
		out = c.typ
	}
	s.field = arrow.Field{Name: ag.Name(), Type: out, Nullable: nullable}
	return s, nil
}

// outputPlan returns the plan whose output the operator emits, given the plan of a batch's
// schema: the declared plan, whose output the batch's must equal.
func (a *aggregate) outputPlan(pl *aggPlan) (*aggPlan, error) {
	d := a.declared.Load()
	if d == nil {
		if a.declared.CompareAndSwap(nil, pl) {
			return pl, nil
		}
		d = a.declared.Load()
	}
	if d != pl && !d.out.Equal(pl.out) {
		return nil, fmt.Errorf("aggregate: a batch gives output columns %s; the query was planned for %s", pl.out, d.out)
	}
	return d, nil
}

// BeginBatch starts a micro-batch with the state in st.
func (a *aggregate) BeginBatch(_ context.Context, info BatchInfo, st state.Store) error {
	if st == nil {
		return errors.New("aggregate: BeginBatch without a state store")
	}
	switch info.Mode {
	case ModeUpdate, ModeComplete:
	case ModeAppend:
		if pl := a.declared.Load(); pl != nil && pl.event == nil {
			return errors.New("aggregate: append output mode needs an event-time key: group by a column marked by WithWatermark (or a window of it), or use update or complete mode")
		}
	default:
		return fmt.Errorf("aggregate: unknown output mode %q (want %s, %s or %s)", info.Mode, ModeAppend, ModeUpdate, ModeComplete)
	}
	b := &aggBatch{info: info, store: st}
	a.batch.Store(b)
	return nil
}

// Process folds the rows of in into the batch's partial aggregates; it emits nothing.
func (a *aggregate) Process(ctx context.Context, in arrow.RecordBatch, _ Emit) error {
	b := a.batch.Load()
	if b == nil {
		return errors.New("aggregate: Process outside a batch (without BeginBatch)")
	}
	pl, err := a.plans.get(in.Schema())
	if err != nil {
		return err
	}
	decl, err := a.outputPlan(pl)
	if err != nil {
		return err
	}
	n := int(in.NumRows())
	if n == 0 {
		return nil
	}
	nk := len(pl.keys)
	cols := make([]arrow.Array, nk+len(pl.aggs))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	var fs []failure
	for i := range cols {
		var c *aggColumn
		if i < nk {
			c = &pl.keys[i]
		} else {
			c = pl.aggs[i-nk].in
		}
		if c == nil {
			continue // Count("*")
		}
		arr, errs, err := c.eval(ctx, in)
		if err != nil {
			return err
		}
		cols[i] = arr
		fs = append(fs, evalFailures(errs)...)
	}
	var skip []bool
	if len(fs) > 0 {
		sortFailures(fs)
		if a.opts.OnError.side == nil {
			return batchError(fs)
		}
		if err := sideOutput(ctx, a.opts.OnError, in, fs); err != nil {
			return err
		}
		skip = make([]bool, n)
		for _, r := range failedRows(fs) {
			skip[r] = true
		}
	}
	// Complete mode keeps every group, so a watermark drops nothing there (as in Spark).
	if et := pl.event; et != nil && b.info.HasWatermark && b.info.Mode != ModeComplete {
		if skip == nil {
			skip = make([]bool, n)
		}
		b.dropped.Add(aggMarkLate(cols[et.key], et, b.info.WatermarkMs, skip))
	}

	// Encode the keys, and spread the rows over the shards by key hash, keeping their order.
	encs := make([]aggKeyEncoder, nk)
	for i := range encs {
		if encs[i], err = newAggKeyEncoder(cols[i]); err != nil {
			return err
		}
	}
	keys := make([]byte, 0, n*(1+9*nk))
	offs := make([]int, n+1)
	shardOf := make([]uint8, n)
	var start [aggShards + 1]int
	for r := range n {
		if skip == nil || !skip[r] {
			for _, enc := range encs {
				keys = enc(keys, r)
			}
			s := uint8(maphash.Bytes(a.seed, keys[offs[r]:]) % aggShards)
			shardOf[r] = s
			start[s+1]++
		}
		offs[r+1] = len(keys)
	}
	for s := range aggShards {
		start[s+1] += start[s]
	}
	rows := make([]int32, start[aggShards])
	next := start
	for r := range n {
		if skip == nil || !skip[r] {
			s := shardOf[r]
			rows[next[s]] = int32(r)
			next[s]++
		}
	}
	vals := make([]*aggValues, len(pl.aggs))
	for j := range vals {
		if cols[nk+j] != nil {
			vals[j] = newAggValues(cols[nk+j])
		}
	}
	gids := make([]uint32, len(rows))
	// Concurrent calls start at different shards, so as not to wait for each other's locks.
	first := int(b.calls.Add(1))
	for i := range aggShards {
		s := (first + i) % aggShards
		lo, hi := start[s], start[s+1]
		if lo == hi {
			continue
		}
		if err := b.tables[s].fold(decl, rows[lo:hi], gids[lo:hi], keys, offs, vals); err != nil {
			return err
		}
	}
	return nil
}

// fold folds the rows into the table's groups.
func (t *aggTable) fold(pl *aggPlan, rows []int32, gids []uint32, keys []byte, offs []int, vals []*aggValues) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.accs == nil {
		t.index = map[string]uint32{}
		t.accs = newAggAccumulators(pl)
	}
	for k, r := range rows {
		gids[k] = t.group(keys[offs[r]:offs[r+1]])
	}
	for _, acc := range t.accs {
		acc.grow(len(t.keys))
	}
	for j, acc := range t.accs {
		if err := acc.update(gids, rows, vals[j]); err != nil {
			var ge *aggGroupError
			if errors.As(err, &ge) {
				return fmt.Errorf("aggregate: %s in the group %s: %w", pl.aggs[j].agg, formatAggKey(pl, aggBytes(t.keys[ge.group])), ge.err)
			}
			return err
		}
	}
	return nil
}

// aggMarkLate sets late[r] for the rows not yet marked whose event time is at or before the
// watermark, and returns how many it marked.
func aggMarkLate(arr arrow.Array, et *aggEventTime, wmMs int64, late []bool) int64 {
	ts := arr
	if et.child >= 0 {
		ts = arr.(*array.Struct).Field(et.child)
	}
	vals := ts.(*array.Timestamp).Values()
	nulls := arr.NullN() > 0 || ts.NullN() > 0
	var n int64
	for r, v := range vals {
		if late[r] || (nulls && (arr.IsNull(r) || ts.IsNull(r))) {
			continue
		}
		if aggEventLate(int64(v), et.unit, wmMs) {
			late[r] = true
			n++
		}
	}
	return n
}

// aggEventLate reports whether the timestamp v, in unit, is at or before the watermark wmMs.
func aggEventLate(v int64, unit arrow.TimeUnit, wmMs int64) bool {
	switch unit {
	case arrow.Second:
		q := wmMs / 1000
		if wmMs%1000 < 0 {
			q--
		}
		return v <= q
	case arrow.Millisecond:
		return v <= wmMs
	case arrow.Microsecond:
		return v <= aggSatMul(wmMs, 1000)
	default:
		return v <= aggSatMul(wmMs, 1_000_000)
	}
}

func aggSatMul(x, f int64) int64 {
	switch {
	case x > math.MaxInt64/f:
		return math.MaxInt64
	case x < math.MinInt64/f:
		return math.MinInt64
	}
	return x * f
}

// formatAggKey renders an encoded key for error messages: "word=\"fox\", n=3".
func formatAggKey(pl *aggPlan, key []byte) string {
	if len(pl.keys) == 0 {
		return "(all rows)"
	}
	mem := memory.NewGoAllocator()
	parts := make([]string, len(pl.keys))
	data := key
	for k, dec := range pl.decs {
		f := pl.out.Field(k)
		b := array.NewBuilder(mem, f.Type)
		var err error
		data, err = dec(b, data)
		if err != nil {
			b.Release()
			return fmt.Sprintf("%x", key)
		}
		arr := b.NewArray()
		b.Release()
		v := arrowbatch.FormatValue(arr, 0)
		switch {
		case arr.IsNull(0):
			v = "null"
		case f.Type.ID() == arrow.STRING || f.Type.ID() == arrow.LARGE_STRING:
			v = strconv.Quote(v)
		}
		arr.Release()
		parts[k] = f.Name + "=" + v
	}
	return strings.Join(parts, ", ")
}

// aggRef is a group of a batch's partial aggregates.
type aggRef struct {
	key   string
	table *aggTable
	g     uint32
}

// Finish merges the batch's partial aggregates into the store and emits by output mode.
func (a *aggregate) Finish(ctx context.Context, emit Emit) error {
	b := a.batch.Load()
	if b == nil {
		return errors.New("aggregate: Finish without BeginBatch")
	}
	defer a.batch.CompareAndSwap(b, nil)
	pl := a.declared.Load()
	if pl == nil {
		return errors.New("aggregate: Finish before the input schema is known (OutputSchema was not called)")
	}
	st := b.store
	t0 := time.Now()

	// The groups the batch touched, in key order.
	n := 0
	for s := range b.tables {
		n += len(b.tables[s].keys)
	}
	refs := make([]aggRef, 0, n)
	for s := range b.tables {
		t := &b.tables[s]
		for g, k := range t.keys {
			refs = append(refs, aggRef{key: k, table: t, g: uint32(g)})
		}
	}
	slices.SortFunc(refs, func(x, y aggRef) int { return strings.Compare(x.key, y.key) })

	// Merge them with their stored state, and store them.
	var buf []byte
	for i, r := range refs {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		key := aggBytes(r.key)
		if old, ok := st.Get(key); ok {
			if err := mergeAggState(pl, r.table.accs, r.g, old); err != nil {
				return fmt.Errorf("aggregate: the group %s: %w", formatAggKey(pl, key), err)
			}
		}
		var err error
		if buf, err = encodeAggState(buf[:0], pl, r.table.accs, r.g); err != nil {
			return fmt.Errorf("aggregate: the group %s: %w", formatAggKey(pl, key), err)
		}
		st.Put(key, buf)
	}

	updates := time.Since(t0)
	var removals time.Duration
	var removed int64
	var err error
	switch et := pl.event; b.info.Mode {
	case ModeUpdate:
		if et != nil && b.info.HasWatermark {
			t1 := time.Now()
			var old []aggEntry
			if old, err = collectAggEntries(st, func(key []byte) (bool, error) { return aggKeyFinal(key, et, b.info.WatermarkMs) }); err != nil {
				return err
			}
			for _, e := range old {
				st.Delete(e.key)
			}
			removed = int64(len(old))
			removals = time.Since(t1)
		}
		err = emitAggGroups(ctx, pl, len(refs), func(i int) ([]byte, []aggAccumulator, uint32) {
			return aggBytes(refs[i].key), refs[i].table.accs, refs[i].g
		}, emit)
	case ModeComplete:
		var all []aggEntry
		if all, err = collectAggEntries(st, func([]byte) (bool, error) { return true, nil }); err != nil {
			return err
		}
		err = emitAggEntries(ctx, pl, all, emit)
	case ModeAppend:
		t1 := time.Now()
		var final []aggEntry
		if et != nil && b.info.HasWatermark {
			if final, err = collectAggEntries(st, func(key []byte) (bool, error) { return aggKeyFinal(key, et, b.info.WatermarkMs) }); err != nil {
				return err
			}
		}
		for _, e := range final {
			st.Delete(e.key)
		}
		removed = int64(len(final))
		removals = time.Since(t1)
		err = emitAggEntries(ctx, pl, final, emit)
	}
	if err != nil {
		return err
	}
	m := st.Metrics()
	a.mu.Lock()
	a.metrics = StateMetrics{
		OperatorName:              "stateStoreSave",
		NumRowsTotal:              m.NumKeys,
		NumRowsUpdated:            int64(len(refs)),
		NumRowsRemoved:            removed,
		NumRowsDroppedByWatermark: b.dropped.Load(),
		MemoryUsedBytes:           m.MemoryUsedBytes,
		AllUpdatesTimeMs:          updates.Milliseconds(),
		AllRemovalsTimeMs:         removals.Milliseconds(),
	}
	a.mu.Unlock()
	return nil
}

// aggKeyFinal reports whether the group of an encoded key has an event time at or before the
// watermark.
func aggKeyFinal(key []byte, et *aggEventTime, wmMs int64) (bool, error) {
	v, ok, err := aggEventTimeOfKey(key, et)
	if err != nil {
		return false, fmt.Errorf("aggregate: a state key: %w", err)
	}
	return ok && aggEventLate(v, et.unit, wmMs), nil
}

// aggEntry is a copy of an entry of the store.
type aggEntry struct{ key, val []byte }

// collectAggEntries copies the store's entries whose key keep accepts, sorted by key.
func collectAggEntries(st state.Store, keep func(key []byte) (bool, error)) ([]aggEntry, error) {
	var out []aggEntry
	var arena []byte
	copyOf := func(b []byte) []byte {
		if len(b) > cap(arena)-len(arena) {
			arena = make([]byte, 0, max(1<<20, len(b)))
		}
		n := len(arena)
		arena = append(arena, b...)
		return arena[n:len(arena):len(arena)]
	}
	var kerr error
	err := st.Range(func(k, v []byte) bool {
		ok, err := keep(k)
		if err != nil {
			kerr = err
			return false
		}
		if ok {
			out = append(out, aggEntry{key: copyOf(k), val: copyOf(v)})
		}
		return true
	})
	if err = errors.Join(err, kerr); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(x, y aggEntry) int { return bytes.Compare(x.key, y.key) })
	return out, nil
}

// emitAggEntries emits the groups of stored entries, decoding their state.
func emitAggEntries(ctx context.Context, pl *aggPlan, entries []aggEntry, emit Emit) error {
	for lo := 0; lo < len(entries); lo += aggMaxRows {
		chunk := entries[lo:min(len(entries), lo+aggMaxRows)]
		accs := newAggAccumulators(pl)
		for _, acc := range accs {
			acc.grow(len(chunk))
		}
		for i, e := range chunk {
			if err := mergeAggState(pl, accs, uint32(i), e.val); err != nil {
				return fmt.Errorf("aggregate: the group %s: %w", formatAggKey(pl, e.key), err)
			}
		}
		err := emitAggGroups(ctx, pl, len(chunk), func(i int) ([]byte, []aggAccumulator, uint32) {
			return chunk[i].key, accs, uint32(i)
		}, emit)
		if err != nil {
			return err
		}
	}
	return nil
}

// emitAggGroups emits n groups in batches of at most aggMaxRows rows; row returns group i's
// encoded key and accumulators.
func emitAggGroups(ctx context.Context, pl *aggPlan, n int, row func(i int) ([]byte, []aggAccumulator, uint32), emit Emit) error {
	mem := Allocator(ctx)
	nk := len(pl.keys)
	for lo := 0; lo < n; lo += aggMaxRows {
		hi := min(n, lo+aggMaxRows)
		rb := array.NewRecordBuilder(mem, pl.out)
		rb.Reserve(hi - lo)
		for i := lo; i < hi; i++ {
			key, accs, g := row(i)
			data := key
			for k, dec := range pl.decs {
				var err error
				if data, err = dec(rb.Field(k), data); err != nil {
					rb.Release()
					return fmt.Errorf("aggregate: a state key: %w", err)
				}
			}
			if len(data) != 0 {
				rb.Release()
				return fmt.Errorf("aggregate: a state key: %w: %d bytes after the key columns", errAggBadKey, len(data))
			}
			for j, acc := range accs {
				acc.result(rb.Field(nk+j), g)
			}
		}
		rec := rb.NewRecordBatch()
		rb.Release()
		err := emit(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}
