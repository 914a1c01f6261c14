package expr

import (
	"context"
	"errors"
	"fmt"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Program is a compiled expression: immutable, and safe for concurrent use.
type Program struct {
	src        string
	se         *schemaEnv
	checked    *ast.AST
	celType    *types.Type
	resultType arrow.DataType
	whole      cel.Program // the whole expression, for per-row evaluation
	root       node        // the column-wise plan
	fallbacks  []string    // sub-expressions the plan evaluates per row
	cols       []int       // columns read, ascending
	funcs      []string    // registered functions called
}

// Source returns the expression's source.
func (p *Program) Source() string { return p.src }

// Schema returns the schema the program was compiled for; Eval takes batches of it.
func (p *Program) Schema() *arrow.Schema { return p.se.schema }

// Type returns the Arrow type of the values Eval returns.
func (p *Program) Type() arrow.DataType { return p.resultType }

// Columns returns the names of the columns the expression reads, in schema order.
func (p *Program) Columns() []string {
	out := make([]string, len(p.cols))
	for i, c := range p.cols {
		out[i] = p.se.schema.Field(c).Name
	}
	return out
}

// Functions returns the names of the registered functions (see Func) the expression calls.
func (p *Program) Functions() []string { return append([]string(nil), p.funcs...) }

// RowWise returns the parts of the expression that are evaluated row by row by cel-go, in the
// order the plan meets them; it is empty when the whole expression is evaluated column-wise.
func (p *Program) RowWise() []string { return append([]string(nil), p.fallbacks...) }

// Plan describes how Eval evaluates the expression: the tree of column-wise operations, with
// "row(...)" around the parts evaluated row by row.
func (p *Program) Plan() string { return p.root.String() }

// Eval evaluates the program over every row of batch, column-wise where the plan allows (see
// Plan). It returns one value per row, as an array of Type() that the caller releases, and the
// rows that failed, in row order (their values are null). The error is for failures that are
// not a row's: a batch of another schema, a cancelled ctx. Arrays are allocated with
// operators' allocator convention: the allocator in ctx if any (see WithAllocator), else
// memory.DefaultAllocator. batch is borrowed.
func (p *Program) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, []*EvalError, error) {
	c, err := p.newEvalCtx(ctx, batch)
	if err != nil {
		return nil, nil, err
	}
	v, err := p.root.eval(c)
	if err != nil {
		return nil, nil, err
	}
	defer v.release()
	arr, errs, err := c.materialize(v, p.resultType)
	if err != nil {
		return nil, nil, err
	}
	return arr, p.evalErrors(errs), nil
}

// EvalRowWise evaluates the program like Eval, but every row with cel-go's interpreter. The
// results are identical; it exists to check that, and to measure the difference.
func (p *Program) EvalRowWise(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, []*EvalError, error) {
	c, err := p.newEvalCtx(ctx, batch)
	if err != nil {
		return nil, nil, err
	}
	v, err := c.evalRows(p.whole, p.resultType, p.checked.Expr().ID())
	if err != nil {
		return nil, nil, err
	}
	defer v.release()
	arr, errs, err := c.materialize(v, p.resultType)
	if err != nil {
		return nil, nil, err
	}
	return arr, p.evalErrors(errs), nil
}

func (p *Program) newEvalCtx(ctx context.Context, batch arrow.RecordBatch) (*evalCtx, error) {
	if batch == nil {
		return nil, errors.New("expr: Eval of a nil batch")
	}
	if s := batch.Schema(); s != p.se.schema && !sameColumns(s, p.se.schema) {
		return nil, fmt.Errorf("expr: %q was compiled for schema %s; the batch has %s", p.src, p.se.schema, s)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &evalCtx{ctx: ctx, mem: allocator(ctx), batch: batch, n: int(batch.NumRows()), p: p}, nil
}

// evalErrors converts row failures into EvalErrors with their positions.
func (p *Program) evalErrors(errs []rowErr) []*EvalError {
	if len(errs) == 0 {
		return nil
	}
	info := p.checked.SourceInfo()
	out := make([]*EvalError, len(errs))
	for i, e := range errs {
		ee := &EvalError{Expr: p.src, Row: e.row, Err: e.err}
		if e.node != 0 {
			if loc := info.GetStartLocation(e.node); loc.Line() > 0 {
				ee.Line, ee.Column = loc.Line(), loc.Column()+1
			}
		}
		out[i] = ee
	}
	return out
}

// evalCtx is the state of one evaluation over one batch. It is used by one goroutine.
type evalCtx struct {
	ctx   context.Context
	mem   memory.Allocator
	batch arrow.RecordBatch
	n     int
	p     *Program
	act   *rowActivation
}

// activation returns the activation reading the batch's columns, built on first use.
func (c *evalCtx) activation() (*rowActivation, error) {
	if c.act != nil {
		return c.act, nil
	}
	a := &rowActivation{vars: c.p.se.vars, readers: make([]reader, c.batch.NumCols())}
	for _, idx := range c.p.cols {
		r, err := newReader(c.batch.Column(idx), c.p.se.schema.Field(idx).Name, c.p.se.prov)
		if err != nil {
			return nil, err
		}
		a.readers[idx] = r
	}
	c.act = a
	return a, nil
}

// checkEvery is how many rows per-row loops evaluate between checks of ctx.
const checkEvery = 1024

// evalRows evaluates prg for every row into an array of type dt. node is the expression's
// id, used to locate conversion failures.
func (c *evalCtx) evalRows(prg cel.Program, dt arrow.DataType, node int64) (vec, error) {
	act, err := c.activation()
	if err != nil {
		return vec{}, err
	}
	b := array.NewBuilder(c.mem, dt)
	defer b.Release()
	b.Reserve(c.n)
	var errs []rowErr
	check := hasTimestamp(dt)
	for i := range c.n {
		if i%checkEvery == 0 {
			if err := c.ctx.Err(); err != nil {
				return vec{}, err
			}
		}
		act.row = i
		val, _, err := prg.Eval(act)
		if err == nil && check {
			if rerr := rangeErr(val, dt); rerr != nil {
				errs = append(errs, rowErr{row: i, err: rerr, node: node})
				b.AppendNull()
				continue
			}
		}
		if err != nil {
			var ce *types.Err
			if errors.As(err, &ce) {
				errs = append(errs, rowErr{row: i, err: ce.Unwrap(), node: ce.NodeID()})
			} else {
				errs = append(errs, rowErr{row: i, err: err, node: node})
			}
			b.AppendNull()
			continue
		}
		if err := appendValue(b, val); err != nil {
			return vec{}, fmt.Errorf("expr: %q: row %d: %w", c.p.src, i, err)
		}
	}
	return vec{arr: b.NewArray(), errs: errs}, nil
}

// rowActivation gives cel-go the values of one row, read from the batch's columns when the
// expression asks for them: no map is built per row.
type rowActivation struct {
	vars    map[string]int
	readers []reader
	row     int
}

// ResolveName implements interpreter.Activation.
func (a *rowActivation) ResolveName(name string) (any, bool) {
	idx, ok := a.vars[name]
	if !ok || a.readers[idx] == nil {
		return nil, false
	}
	return a.readers[idx](a.row), true
}

// Parent implements interpreter.Activation.
func (a *rowActivation) Parent() interpreter.Activation { return nil }

// sameColumns reports whether a and b have the same columns: names, types and nullability.
// Metadata is not compared: it does not change evaluation, and programs are cached by
// Schema.Fingerprint, which leaves it out (WithWatermark, for one, records its delay there).
func sameColumns(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.NumFields() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name || fa.Nullable != fb.Nullable || !arrow.TypeEqual(fa.Type, fb.Type) {
			return false
		}
	}
	return true
}
