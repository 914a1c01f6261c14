package operators

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/expr"
)

// Explode emits one row per element of the list the CEL expression listExpr computes for each
// input row (Spark's explode): the input row's columns, with the element in the column name
// (replacing a column of that name, or added at the end). Rows whose list is null or empty
// produce nothing. A row for which listExpr fails follows o.OnError; under ErrorColumn it is
// kept once, with a null element, and so is a row whose list is null or empty but which
// already carries an error in the policy's error column: a row that carries an error is never
// dropped by a later transform, so it reaches the sink.
//
// The output rows keep the order of the input rows and of their elements. They are emitted in
// several batches when there are many (64Ki rows at most per batch) or when the repeated
// values are large (64 MiB of strings, binaries or lists at most per column, unless a single
// row holds more), so that a long list of a row with long values does not build one huge batch.
//
//	Explode("word", `line.split(" ")`) // one row per word of each line
func Explode(name, listExpr string, o Options) Operator {
	e := &explode{name: name, src: listExpr, opts: o}
	e.desc = &describer{base: "Explode(" + name + " = " + listExpr + ")", env: o.env(), srcs: []string{listExpr}}
	e.plans.build = e.plan
	return e
}

type explode struct {
	name  string
	src   string
	opts  Options
	desc  *describer
	plans perSchema[*explodePlan]
}

type explodePlan struct {
	prog  *expr.Program
	items []projItem // the output's columns; the element's has col -1
	base  *arrow.Schema
	out   *arrow.Schema // base, with the error column when the policy adds one
}

func (e *explode) Name() string { return e.desc.String() }

func (e *explode) plan(in *arrow.Schema) (*explodePlan, error) {
	if e.name == "" {
		return nil, errors.New("the column name is empty")
	}
	if err := sideOutputClash(in, e.opts.OnError); err != nil {
		return nil, err
	}
	prog, err := e.opts.env().Compile(in, e.src)
	if err != nil {
		return nil, err
	}
	var elem arrow.DataType
	switch t := prog.Type().(type) {
	case *arrow.ListType:
		elem = t.Elem()
	case *arrow.LargeListType:
		elem = t.Elem()
	case *arrow.FixedSizeListType:
		elem = t.Elem()
	default:
		return nil, fmt.Errorf("%q is of type %s; Explode needs a list", e.src, prog.Type())
	}
	it := projItem{field: arrow.Field{Name: e.name, Type: elem, Nullable: true}, col: -1}
	items := replaceOrAppend(in, it)
	fields := make([]arrow.Field, len(items))
	for i, x := range items {
		fields[i] = x.field
	}
	md := in.Metadata()
	base := arrow.NewSchema(fields, &md)
	out, err := withErrorSchema(base, e.opts.OnError)
	if err != nil {
		return nil, err
	}
	return &explodePlan{prog: prog, items: items, base: base, out: out}, nil
}

func (e *explode) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	if in == nil {
		_, err := withErrorSchema(arrow.NewSchema(nil, nil), e.opts.OnError)
		return nil, err
	}
	p, err := e.plans.get(in)
	if err != nil {
		return nil, err
	}
	return p.out, nil
}

// The output of Explode and of sliding Windows is emitted in chunks, so that a row repeated
// many times with long values does not build one huge batch (each output row repeats the input
// row's values): a chunk has at most chunkMaxRows rows and at most chunkMaxBytes of
// variable-length data (strings, binaries, lists) in each column (Window: in all of them),
// unless a single row exceeds it. Variables for the tests.
var (
	chunkMaxRows  = 64 * 1024
	chunkMaxBytes = int64(64 << 20)
)

func (e *explode) Process(ctx context.Context, in arrow.RecordBatch, emit Emit) error {
	p, err := e.plans.get(in.Schema())
	if err != nil {
		return err
	}
	vals, errs, err := e.opts.eval(ctx, p.prog, in)
	if err != nil {
		return err
	}
	defer vals.Release()
	lists := vals.(array.ListLike)
	fs := evalFailures(errs)
	pol := e.opts.OnError
	if len(fs) > 0 && pol.side == nil && pol.column == "" {
		return batchError(fs)
	}
	if pol.side != nil && len(fs) > 0 {
		if err := sideOutput(ctx, pol, in, fs); err != nil {
			return err
		}
	}
	failed := map[int][]failure{}
	for _, f := range fs {
		failed[f.row] = append(failed[f.row], f)
	}
	errCol := pol.errorColumn()
	carried := carriedErrors(in, errCol) // rows that already carry an error: never dropped

	// For each output row: the input row it repeats, and the element (-1: a null one).
	var rows []int
	var elems []int64
	for i := range lists.Len() {
		if failed[i] != nil || (carried != nil && carried.IsValid(i) && (lists.IsNull(i) || listLen(lists, i) == 0)) {
			// Under ErrorColumn (the only policy that keeps failures): once, with a null element.
			if errCol != "" {
				rows = append(rows, i)
				elems = append(elems, -1)
			}
			continue
		}
		if lists.IsNull(i) {
			continue
		}
		start, end := lists.ValueOffsets(i)
		for j := start; j < end; j++ {
			rows = append(rows, i)
			elems = append(elems, j)
		}
	}
	if len(rows) == 0 {
		return nil
	}

	// The variable-length bytes of each input row in each column, and of each element.
	values := lists.ListValues()
	var rowSizes [][]int64 // by p.items index; nil for fixed-width columns
	for _, it := range p.items {
		var sz []int64
		if it.col >= 0 && varLength(in.Column(it.col).DataType()) {
			c := in.Column(it.col)
			sz = make([]int64, c.Len())
			for i := range sz {
				sz[i] = valueBytes(c, i)
			}
		}
		rowSizes = append(rowSizes, sz)
	}
	elemVar := varLength(values.DataType())
	var errSizes []int64
	if carried != nil {
		errSizes = make([]int64, carried.Len())
		for i := range errSizes {
			errSizes[i] = valueBytes(carried, i)
		}
	}
	used := make([]int64, len(p.items)+1) // the last: the error column
	for lo := 0; lo < len(rows); {
		clear(used)
		hi := lo
		for hi < len(rows) && hi-lo < chunkMaxRows {
			r := rows[hi]
			fits := true
			for k, it := range p.items {
				var n int64
				switch {
				case it.col < 0 && elemVar && elems[hi] >= 0:
					n = valueBytes(values, int(elems[hi]))
				case rowSizes[k] != nil:
					n = rowSizes[k][r]
				}
				if n > 0 && used[k]+n > chunkMaxBytes && hi > lo {
					fits = false
				}
				used[k] += n
			}
			if errSizes != nil {
				n := errSizes[r]
				for _, f := range failed[r] {
					n += int64(len(f.message())) + 2
				}
				if n > 0 && used[len(p.items)]+n > chunkMaxBytes && hi > lo {
					fits = false
				}
				used[len(p.items)] += n
			}
			if !fits {
				break
			}
			hi++
		}
		if err := e.emitChunk(ctx, p, in, values, rows[lo:hi], elems[lo:hi], failed, emit); err != nil {
			return err
		}
		lo = hi
	}
	return nil
}

// emitChunk emits the output rows repeating input rows rows with elements elems (-1: null).
func (e *explode) emitChunk(ctx context.Context, p *explodePlan, in arrow.RecordBatch, values arrow.Array, rows []int, elems []int64, failed map[int][]failure, emit Emit) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	taken, err := takeElements(ctx, values, elems)
	if err != nil {
		return fmt.Errorf("explode: %w", err)
	}
	defer taken.Release()

	cols := make([]arrow.Array, 0, len(p.items))
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	mem := Allocator(ctx)
	for _, it := range p.items {
		if it.col < 0 {
			taken.Retain()
			cols = append(cols, taken)
			continue
		}
		c, err := arrowbatch.Take(mem, in.Column(it.col), rows)
		if err != nil {
			return fmt.Errorf("explode: %w", err)
		}
		cols = append(cols, c)
	}
	out := array.NewRecordBatch(p.base, cols, int64(len(rows)))
	defer out.Release()
	if name := e.opts.OnError.errorColumn(); name != "" {
		var outFails []failure
		for k, r := range rows {
			if elems[k] < 0 {
				for _, f := range failed[r] {
					outFails = append(outFails, failure{row: k, err: f.err})
				}
			}
		}
		// An error column of the input was repeated like any other column; the new messages
		// are merged into it.
		withErr, err := addErrorColumn(ctx, out, out, p.out, name, outFails)
		if err != nil {
			return err
		}
		defer withErr.Release()
		return emit(withErr)
	}
	return emit(out)
}

// carriedErrors returns the error column name of in, when it has one of type string, or nil.
func carriedErrors(in arrow.RecordBatch, name string) *array.String {
	if name == "" {
		return nil
	}
	idx := in.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil
	}
	c, _ := in.Column(idx[0]).(*array.String)
	if c == nil || c.NullN() == c.Len() {
		return nil
	}
	return c
}

func listLen(l array.ListLike, i int) int64 {
	start, end := l.ValueOffsets(i)
	return end - start
}

// varLength reports whether values of type t have variable-length data: strings, binaries,
// lists and the structs holding them.
func varLength(t arrow.DataType) bool {
	switch t := t.(type) {
	case arrow.BinaryDataType:
		return true
	case arrow.ListLikeType:
		return true
	case *arrow.StructType:
		for _, f := range t.Fields() {
			if varLength(f.Type) {
				return true
			}
		}
	}
	return false
}

// valueBytes estimates the bytes of the value at row i of a: the data of strings and binaries,
// and for lists and structs that of their children (8 bytes for each fixed-width child value).
func valueBytes(a arrow.Array, i int) int64 {
	if a.IsNull(i) {
		return 0
	}
	switch a := a.(type) {
	case interface{ ValueLen(int) int }:
		return int64(a.ValueLen(i))
	case array.ListLike:
		start, end := a.ValueOffsets(i)
		vals := a.ListValues()
		if !varLength(vals.DataType()) {
			return 8 * (end - start)
		}
		var n int64
		for j := start; j < end; j++ {
			n += valueBytes(vals, int(j))
		}
		return n
	case *array.Struct:
		var n int64
		for k := range a.NumField() {
			n += valueBytes(a.Field(k), i)
		}
		return n
	}
	return 8
}

// takeElements returns the list elements at idx (-1: null): a zero-copy slice when they are
// consecutive, as they are when no list is null.
func takeElements(ctx context.Context, values arrow.Array, idx []int64) (arrow.Array, error) {
	consecutive := idx[0] >= 0
	for i := 1; i < len(idx) && consecutive; i++ {
		consecutive = idx[i] == idx[i-1]+1
	}
	if consecutive {
		return array.NewSlice(values, idx[0], idx[len(idx)-1]+1), nil
	}
	b := array.NewInt64Builder(Allocator(ctx))
	defer b.Release()
	for _, j := range idx {
		if j < 0 {
			b.AppendNull()
		} else {
			b.Append(j)
		}
	}
	indices := b.NewArray()
	defer indices.Release()
	return compute.TakeArray(compute.WithAllocator(ctx, Allocator(ctx)), values, indices)
}
