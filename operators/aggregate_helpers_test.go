package operators_test

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/operators"
	"github.com/sluicedev/sluice/state"
)

// aggMapStore is a state.Store in Go maps, with the uncommitted changes kept apart so that
// Rollback works: the aggregation tests use it where the store's files are not the point.
type aggMapStore struct {
	version   int64
	committed map[string][]byte
	changes   map[string][]byte // a nil value: deleted
	updated   int64
	removed   int64
}

var _ state.Store = (*aggMapStore)(nil)

func newAggMapStore() *aggMapStore {
	return &aggMapStore{committed: map[string][]byte{}, changes: map[string][]byte{}}
}

func (s *aggMapStore) Version() int64 { return s.version }

func (s *aggMapStore) Get(key []byte) ([]byte, bool) {
	if v, ok := s.changes[string(key)]; ok {
		return v, v != nil
	}
	v, ok := s.committed[string(key)]
	return v, ok
}

func (s *aggMapStore) Put(key, value []byte) {
	s.changes[string(key)] = append([]byte{}, value...)
	s.updated++
}

func (s *aggMapStore) Delete(key []byte) {
	s.changes[string(key)] = nil
	s.removed++
}

func (s *aggMapStore) Range(fn func(key, value []byte) bool) error {
	for k, v := range s.committed {
		if _, changed := s.changes[k]; changed {
			continue
		}
		if !fn([]byte(k), v) {
			return nil
		}
	}
	for k, v := range s.changes {
		if v != nil && !fn([]byte(k), v) {
			return nil
		}
	}
	return nil
}

func (s *aggMapStore) Commit(context.Context) error {
	for k, v := range s.changes {
		if v == nil {
			delete(s.committed, k)
		} else {
			s.committed[k] = v
		}
	}
	s.Rollback()
	s.version++
	return nil
}

func (s *aggMapStore) Rollback() {
	s.changes = map[string][]byte{}
	s.updated, s.removed = 0, 0
}

// snapshot returns the state with the uncommitted changes.
func (s *aggMapStore) snapshot() map[string]string {
	out := map[string]string{}
	_ = s.Range(func(k, v []byte) bool {
		out[string(k)] = string(v)
		return true
	})
	return out
}

func (s *aggMapStore) Metrics() state.Metrics {
	m := state.Metrics{NumUpdated: s.updated, NumRemoved: s.removed}
	for k, v := range s.snapshot() {
		m.NumKeys++
		m.MemoryUsedBytes += int64(len(k) + len(v))
	}
	return m
}

func (s *aggMapStore) Close() error { return nil }

// clone returns a copy of the store.
func (s *aggMapStore) clone() *aggMapStore {
	c := newAggMapStore()
	c.version = s.version
	c.committed = maps.Clone(s.committed)
	c.changes = maps.Clone(s.changes)
	return c
}

// aggFixture runs a stateful operator over micro-batches, checking what it emits.
type aggFixture struct {
	t        testing.TB
	mem      memory.Allocator
	op       operators.Stateful
	declared *arrow.Schema
	discard  bool // whether batch drops the rows emitted instead of rendering them
}

func newAggFixture(t testing.TB, mem memory.Allocator, op operators.Operator, in *arrow.Schema) *aggFixture {
	t.Helper()
	sop, ok := op.(operators.Stateful)
	if !ok {
		t.Fatalf("%s is not Stateful", op.Name())
	}
	if sop.StateKind() != operators.Aggregation {
		t.Fatalf("StateKind = %v; want Aggregation", sop.StateKind())
	}
	out, err := op.OutputSchema(in)
	if err != nil {
		t.Fatal(err)
	}
	return &aggFixture{t: t, mem: mem, op: sop, declared: out}
}

// batch runs one micro-batch over the inputs, each given to one Process call (all at once
// when concurrent), and returns the rows emitted.
func (f *aggFixture) batch(info operators.BatchInfo, st state.Store, concurrent bool, ins ...arrow.RecordBatch) ([][]any, error) {
	f.t.Helper()
	ctx := operators.WithAllocator(context.Background(), f.mem)
	if err := f.op.BeginBatch(ctx, info, st); err != nil {
		return nil, err
	}
	noEmit := func(arrow.RecordBatch) error {
		return fmt.Errorf("%s emitted in Process", f.op.Name())
	}
	if concurrent {
		errs := make([]error, len(ins))
		var wg sync.WaitGroup
		for i, in := range ins {
			wg.Go(func() { errs[i] = f.op.Process(ctx, in, noEmit) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
	} else {
		for _, in := range ins {
			if err := f.op.Process(ctx, in, noEmit); err != nil {
				return nil, err
			}
		}
	}
	var rows [][]any
	err := f.op.Finish(ctx, func(b arrow.RecordBatch) error {
		if !b.Schema().Equal(f.declared) {
			f.t.Errorf("emitted schema %s; OutputSchema said %s", b.Schema(), f.declared)
		}
		if b.NumRows() == 0 || b.NumRows() > 1<<16 {
			f.t.Errorf("emitted a batch of %d rows", b.NumRows())
		}
		if !f.discard {
			rows = append(rows, aggRows(b)...)
		}
		return nil
	})
	return rows, err
}

// mustBatch is batch, failing the test on an error.
func (f *aggFixture) mustBatch(info operators.BatchInfo, st state.Store, ins ...arrow.RecordBatch) [][]any {
	f.t.Helper()
	rows, err := f.batch(info, st, false, ins...)
	if err != nil {
		f.t.Fatal(err)
	}
	return rows
}

// aggRows renders a batch's rows with aggCell.
func aggRows(b arrow.RecordBatch) [][]any {
	rows := make([][]any, b.NumRows())
	for i := range rows {
		row := make([]any, b.NumCols())
		for c := range row {
			row[c] = aggCell(b.Column(c), i)
		}
		rows[i] = row
	}
	return rows
}

// aggCell renders a value as the tests write them: int64 for signed integers, dates,
// timestamps and durations; uint64; float64; bool; string for strings and binary; []any for
// structs; nil for null.
func aggCell(arr arrow.Array, i int) any {
	if arr.IsNull(i) {
		return nil
	}
	switch a := arr.(type) {
	case *array.Boolean:
		return a.Value(i)
	case *array.Int8:
		return int64(a.Value(i))
	case *array.Int16:
		return int64(a.Value(i))
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int64:
		return a.Value(i)
	case *array.Uint8:
		return uint64(a.Value(i))
	case *array.Uint16:
		return uint64(a.Value(i))
	case *array.Uint32:
		return uint64(a.Value(i))
	case *array.Uint64:
		return a.Value(i)
	case *array.Float32:
		return float64(a.Value(i))
	case *array.Float64:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.Binary:
		return string(a.Value(i))
	case *array.LargeBinary:
		return string(a.Value(i))
	case *array.Timestamp:
		return int64(a.Value(i))
	case *array.Date32:
		return int64(a.Value(i))
	case *array.Date64:
		return int64(a.Value(i))
	case *array.Duration:
		return int64(a.Value(i))
	case *array.Struct:
		out := make([]any, a.NumField())
		for f := range out {
			out[f] = aggCell(a.Field(f), i)
		}
		return out
	}
	panic(fmt.Sprintf("aggCell: %T", arr))
}

// aggAppend appends a value written as aggCell renders it.
func aggAppend(b array.Builder, v any) {
	if v == nil {
		b.AppendNull()
		return
	}
	switch b := b.(type) {
	case *array.BooleanBuilder:
		b.Append(v.(bool))
	case *array.Int8Builder:
		b.Append(int8(v.(int64)))
	case *array.Int16Builder:
		b.Append(int16(v.(int64)))
	case *array.Int32Builder:
		b.Append(int32(v.(int64)))
	case *array.Int64Builder:
		b.Append(v.(int64))
	case *array.Uint8Builder:
		b.Append(uint8(v.(uint64)))
	case *array.Uint16Builder:
		b.Append(uint16(v.(uint64)))
	case *array.Uint32Builder:
		b.Append(uint32(v.(uint64)))
	case *array.Uint64Builder:
		b.Append(v.(uint64))
	case *array.Float32Builder:
		b.Append(float32(v.(float64)))
	case *array.Float64Builder:
		b.Append(v.(float64))
	case *array.StringBuilder:
		b.Append(v.(string))
	case *array.LargeStringBuilder:
		b.Append(v.(string))
	case *array.BinaryBuilder:
		b.Append([]byte(v.(string)))
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(v.(int64)))
	case *array.Date32Builder:
		b.Append(arrow.Date32(v.(int64)))
	case *array.Date64Builder:
		b.Append(arrow.Date64(v.(int64)))
	case *array.DurationBuilder:
		b.Append(arrow.Duration(v.(int64)))
	case *array.StructBuilder:
		b.Append(true)
		for f, fv := range v.([]any) {
			aggAppend(b.FieldBuilder(f), fv)
		}
	default:
		panic(fmt.Sprintf("aggAppend: %T", b))
	}
}

// aggRecord builds a batch of schema from its columns' values.
func aggRecord(mem memory.Allocator, schema *arrow.Schema, cols ...[]any) arrow.RecordBatch {
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	for c, vals := range cols {
		for _, v := range vals {
			aggAppend(rb.Field(c), v)
		}
	}
	return rb.NewRecordBatch()
}

// aggCompare orders values rendered by aggCell as the aggregation orders them: nulls first,
// NaN after every other float, false before true, strings bytewise, structs field by field.
func aggCompare(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch a := a.(type) {
	case int64:
		return aggCmpOrdered(a, b.(int64))
	case uint64:
		return aggCmpOrdered(a, b.(uint64))
	case float64:
		b := b.(float64)
		an, bn := math.IsNaN(a), math.IsNaN(b)
		switch {
		case an && bn:
			return 0
		case an:
			return 1
		case bn:
			return -1
		}
		return aggCmpOrdered(a, b)
	case bool:
		bb := b.(bool)
		switch {
		case a == bb:
			return 0
		case !a:
			return -1
		}
		return 1
	case string:
		return aggCmpOrdered(a, b.(string))
	case []any:
		bs := b.([]any)
		for i := range a {
			if c := aggCompare(a[i], bs[i]); c != 0 {
				return c
			}
		}
		return 0
	}
	panic(fmt.Sprintf("aggCompare: %T", a))
}

func aggCmpOrdered[T int64 | uint64 | float64 | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// aggSortRows sorts rows by their first nk cells.
func aggSortRows(rows [][]any, nk int) {
	slices.SortStableFunc(rows, func(x, y []any) int {
		for k := range nk {
			if c := aggCompare(x[k], y[k]); c != 0 {
				return c
			}
		}
		return 0
	})
}

// aggFloats compares float64 cells with a relative tolerance, NaN equal to NaN.
var aggFloats = cmp.Comparer(func(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	if a == b {
		return true
	}
	return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
})

// aggCheckApprox checks the approx_count_distinct cells of column col against the exact
// counts in want, within 3 standard deviations, and then copies want's into got so that the
// rows can be diffed.
func aggCheckApprox(t *testing.T, got, want [][]any, col int) {
	t.Helper()
	if len(got) != len(want) {
		return
	}
	for i := range got {
		g, ok1 := got[i][col].(int64)
		w, ok2 := want[i][col].(int64)
		if !ok1 || !ok2 {
			t.Errorf("row %d: approx_count_distinct %v; want %v", i, got[i][col], want[i][col])
			continue
		}
		if math.Abs(float64(g-w)) > math.Max(1, 0.15*float64(w)) {
			t.Errorf("row %d: approx_count_distinct %d; exact %d", i, g, w)
		}
		got[i][col] = want[i][col]
	}
}

// aggMeta marks a field as the event-time column with a delay.
func aggMeta(delayMs string) arrow.Metadata {
	return arrow.NewMetadata([]string{operators.WatermarkDelayKey}, []string{delayMs})
}
