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
// kept once, with a null element.
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
	failed := map[int]bool{}
	for _, f := range fs {
		failed[f.row] = true
	}
	keepFailed := pol.errorColumn() != ""

	// For each output row: the input row it repeats, and the element (-1: a null one).
	mem := Allocator(ctx)
	var rows []int
	var elems []int64
	var outFails []failure
	for i := range lists.Len() {
		if failed[i] {
			if keepFailed {
				for _, f := range fs {
					if f.row == i {
						outFails = append(outFails, failure{row: len(rows), err: f.err})
					}
				}
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
	taken, err := takeElements(ctx, lists.ListValues(), elems)
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
	if name := pol.errorColumn(); name != "" {
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
