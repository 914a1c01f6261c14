package operators

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/expr"
)

// Filter keeps the rows for which the CEL expression condition is true (Spark's filter and
// where). A null condition drops the row; a condition that fails follows o.OnError. Under
// ErrorColumn, a row whose error column is not null (it failed in an earlier transform) is kept
// whatever its condition: a row that carries an error is never dropped by a later transform,
// so it reaches the sink. The condition is compiled against the input schema in OutputSchema,
// or on the first batch of each schema when the input schema is known only at run time.
func Filter(condition string, o Options) Operator {
	f := &filter{cond: condition, opts: o}
	f.desc = &describer{base: "Filter(" + condition + ")", env: o.env(), srcs: []string{condition}}
	f.plans.build = f.plan
	return f
}

type filter struct {
	cond  string
	opts  Options
	desc  *describer
	plans perSchema[*filterPlan]
}

type filterPlan struct {
	prog *expr.Program
	out  *arrow.Schema
}

func (f *filter) Name() string { return f.desc.String() }

func (f *filter) plan(in *arrow.Schema) (*filterPlan, error) {
	prog, err := f.opts.env().Compile(in, f.cond)
	if err != nil {
		return nil, err
	}
	if !arrow.TypeEqual(prog.Type(), arrow.FixedWidthTypes.Boolean) {
		return nil, fmt.Errorf("the condition %q is of type %s; want bool", f.cond, prog.Type())
	}
	out, err := withErrorSchema(in, f.opts.OnError)
	if err != nil {
		return nil, err
	}
	return &filterPlan{prog: prog, out: out}, nil
}

// OutputSchema returns the input schema (with the policy's error column), even when the
// condition does not compile, so that the operators after a bad Filter are checked too.
func (f *filter) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	if in == nil {
		_, err := withErrorSchema(arrow.NewSchema(nil, nil), f.opts.OnError)
		return nil, err
	}
	p, err := f.plans.get(in)
	if err != nil {
		out, serr := withErrorSchema(in, f.opts.OnError)
		if serr != nil {
			return nil, err
		}
		return out, err
	}
	return p.out, nil
}

func (f *filter) Process(ctx context.Context, in arrow.RecordBatch, emit Emit) error {
	p, err := f.plans.get(in.Schema())
	if err != nil {
		return err
	}
	vals, errs, err := f.opts.eval(ctx, p.prog, in)
	if err != nil {
		return err
	}
	defer vals.Release()
	cond := vals.(*array.Boolean)
	fs := evalFailures(errs)
	// The rows whose condition is true: set in the values and in the validity bitmaps.
	n := cond.Len()
	d := cond.Data()
	bits, off := d.Buffers()[1].Bytes(), d.Offset()
	var valid []byte
	if cond.NullN() > 0 {
		valid = d.Buffers()[0].Bytes()
	}
	// A row that already carries an error in the policy's error column is kept whatever its
	// condition (which is often null because of that error).
	carried := carriedErrors(in, f.opts.OnError.errorColumn())
	rows := make([]int, 0, n)
	for i := range n {
		if bitutil.BitIsSet(bits, off+i) && (valid == nil || bitutil.BitIsSet(valid, off+i)) || carried != nil && carried.IsValid(i) {
			rows = append(rows, i)
		}
	}
	// Without failures, and when the output schema is the input's (no error column to add):
	// pass the input through, drop it, or take the rows kept.
	if len(fs) == 0 && (p.out == in.Schema() || p.out.Equal(in.Schema())) {
		switch len(rows) {
		case 0:
			return nil
		case n:
			return emit(in)
		}
		kept, err := arrowbatch.TakeRows(Allocator(ctx), in, rows)
		if err != nil {
			return err
		}
		defer kept.Release()
		return emit(kept)
	}
	keep := make([]bool, n)
	for _, r := range rows {
		keep[r] = true
	}
	return finish(ctx, f.opts.OnError, in, in, p.out, fs, keep, emit)
}
