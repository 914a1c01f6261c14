package operators

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/expr"
)

// Options configure the operators that evaluate expressions or Go functions on rows: Filter,
// Select, WithColumn, Cast, Explode, FromJSON and Map.
type Options struct {
	// Env compiles the operator's expressions and holds the functions they may call. Nil means
	// expr.Default.
	Env *expr.Env
	// OnError says what happens to a row the operator fails to process. The zero value is
	// FailBatch.
	OnError ErrorPolicy
	// RowWise makes Filter, Select, WithColumn and Explode evaluate their expressions row by
	// row with cel-go's interpreter (expr.Program.EvalRowWise) instead of column-wise where the
	// plan allows (Eval). The results are identical and slower; it exists to measure the
	// difference (the end-to-end benchmarks in bench/cmd/sluicebench) and to check the
	// column-wise plans. The pipeline package's transforms never set it.
	RowWise bool
}

func (o Options) env() *expr.Env {
	if o.Env == nil {
		return expr.Default
	}
	return o.Env
}

// eval evaluates prog over in: column-wise (expr.Program.Eval), or row by row when o.RowWise.
func (o Options) eval(ctx context.Context, prog *expr.Program, in arrow.RecordBatch) (arrow.Array, []*expr.EvalError, error) {
	if o.RowWise {
		return prog.EvalRowWise(ctx, in)
	}
	return prog.Eval(ctx, in)
}

// ErrorPolicy says what an operator does with a row it fails to process: an expression that
// fails at run time (a division by zero, a bad cast), a malformed JSON document, an error
// returned (or a panic raised) by a Go function. The zero value is FailBatch.
type ErrorPolicy struct {
	column string
	side   func(ctx context.Context, failed arrow.RecordBatch) error
	err    error  // a policy built with bad arguments, reported by OutputSchema
	label  string // String of a policy built with bad arguments
}

// SideOutputErrorColumn names the column that carries the error message in the batches given
// to a SideOutput function.
const SideOutputErrorColumn = "_error"

// FailBatch fails the batch: Process returns a *RowError naming the first row that failed.
// It is the default.
func FailBatch() ErrorPolicy { return ErrorPolicy{} }

// ErrorColumn keeps the rows that failed and records why in the nullable string column name:
// the message for a failed row, null for the others. The value that could not be computed is
// null. Every operator that can fail adds the column to its output, or appends its messages to
// the column when its input already has it ("first; second"), so the errors follow the rows
// down the plan; a Filter keeps the rows whose condition failed. A row that carries an error
// (its column is not null) is never dropped by a later transform, so it reaches the sink: a
// Filter under ErrorColumn keeps it whatever its condition, and an Explode emits it once, with
// a null element, when its list is null or empty.
func ErrorColumn(name string) ErrorPolicy {
	if name == "" {
		return ErrorPolicy{err: errors.New("ErrorColumn: the column name is empty"), label: `ErrorColumn("")`}
	}
	return ErrorPolicy{column: name}
}

// SideOutput removes the rows that failed from the output and calls fn with them: the rows of
// the operator's input batch, plus the column SideOutputErrorColumn with the message. fn
// borrows the batch and may be called concurrently (Process is); if it returns an error, the
// batch fails with it. As the batch may be replayed after a failure, fn may see rows again.
// The operators under SideOutput reject (in OutputSchema, so at the query's Start) an input or
// output column named SideOutputErrorColumn, which the message would overwrite: rename it
// first.
func SideOutput(fn func(ctx context.Context, failed arrow.RecordBatch) error) ErrorPolicy {
	if fn == nil {
		return ErrorPolicy{err: errors.New("SideOutput: the function is nil"), label: "SideOutput(nil)"}
	}
	return ErrorPolicy{side: fn, column: SideOutputErrorColumn}
}

// String describes the policy for Explain.
func (p ErrorPolicy) String() string {
	switch {
	case p.label != "":
		return p.label
	case p.side != nil:
		return "SideOutput"
	case p.column != "":
		return "ErrorColumn(" + p.column + ")"
	}
	return "FailBatch"
}

// Validate reports a policy built with bad arguments (an empty column name, a nil function).
func (p ErrorPolicy) Validate() error { return p.err }

// errorColumn returns the name of the column the policy adds to outputs, or "".
func (p ErrorPolicy) errorColumn() string {
	if p.side != nil {
		return ""
	}
	return p.column
}

// RowError is the error of a batch in which an operator failed to process a row, under the
// FailBatch policy.
type RowError struct {
	// Row is the index of the first row that failed in the operator's input batch.
	Row int
	// Failed is how many rows of the batch failed.
	Failed int
	// Err is the first row's error: an *expr.EvalError, a JSON syntax error, a function's
	// error...
	Err error
}

// Error describes the first failed row and how many rows failed.
func (e *RowError) Error() string {
	msg := e.Err.Error()
	var ee *expr.EvalError
	if !errors.As(e.Err, &ee) {
		msg = fmt.Sprintf("row %d: %s", e.Row, msg)
	}
	if e.Failed > 1 {
		msg += fmt.Sprintf(" (%d rows of the batch failed)", e.Failed)
	}
	return msg
}

// Unwrap returns the first row's error.
func (e *RowError) Unwrap() error { return e.Err }

// failure is a row an operator failed to process.
type failure struct {
	row int
	err error
}

// message is the text a failure leaves in an error column.
func (f failure) message() string {
	var ee *expr.EvalError
	if errors.As(f.err, &ee) {
		pos := ""
		if ee.Line > 0 {
			pos = fmt.Sprintf(" (at %d:%d)", ee.Line, ee.Column)
		}
		return fmt.Sprintf("%s%s: %v", strconv.Quote(ee.Expr), pos, ee.Err)
	}
	var re *arrowbatch.RowError
	if errors.As(f.err, &re) {
		return re.Err.Error()
	}
	return f.err.Error()
}

func evalFailures(errs []*expr.EvalError) []failure {
	out := make([]failure, len(errs))
	for i, e := range errs {
		out[i] = failure{row: e.Row, err: e}
	}
	return out
}

func sortFailures(fs []failure) {
	slices.SortStableFunc(fs, func(a, b failure) int { return a.row - b.row })
}

// failedRows returns the distinct rows of sorted failures.
func failedRows(fs []failure) []int {
	var rows []int
	for _, f := range fs {
		if len(rows) == 0 || rows[len(rows)-1] != f.row {
			rows = append(rows, f.row)
		}
	}
	return rows
}

// batchError is the FailBatch error for sorted failures.
func batchError(fs []failure) error {
	return &RowError{Row: fs[0].row, Failed: len(failedRows(fs)), Err: fs[0].err}
}

// withErrorSchema returns out with the policy's error column appended when it has none.
func withErrorSchema(out *arrow.Schema, p ErrorPolicy) (*arrow.Schema, error) {
	if p.err != nil {
		return nil, p.err
	}
	if err := sideOutputClash(out, p); err != nil {
		return nil, err
	}
	name := p.errorColumn()
	if name == "" {
		return out, nil
	}
	if idx := out.FieldIndices(name); len(idx) > 0 {
		if f := out.Field(idx[0]); !arrow.TypeEqual(f.Type, arrow.BinaryTypes.String) {
			return nil, fmt.Errorf("the error column %q exists with type %s; want string", name, f.Type)
		}
		return out, nil
	}
	fields := append(slices.Clone(out.Fields()), arrow.Field{Name: name, Type: arrow.BinaryTypes.String, Nullable: true})
	md := out.Metadata()
	return arrow.NewSchema(fields, &md), nil
}

// sideOutputClash reports a column of s named SideOutputErrorColumn under SideOutput.
func sideOutputClash(s *arrow.Schema, p ErrorPolicy) error {
	if p.side == nil || s == nil || !s.HasField(SideOutputErrorColumn) {
		return nil
	}
	return fmt.Errorf("the stream has a column named %q, which SideOutput uses for the error messages of the rows it sends aside: rename it (WithColumnRenamed) before this transform, or use ErrorColumn", SideOutputErrorColumn)
}

// finish applies the error policy to out, the batch a row-preserving operator computed from
// in (row i of out comes from row i of in), given its sorted failures, and emits the result.
// keep, when not nil, says which rows to emit (a Filter's condition); failed rows are kept
// under ErrorColumn and removed otherwise. out is borrowed.
func finish(ctx context.Context, p ErrorPolicy, in, out arrow.RecordBatch, outSchema *arrow.Schema, fs []failure, keep []bool, emit Emit) error {
	if len(fs) > 0 && p.side == nil && p.column == "" {
		return batchError(fs)
	}
	rows := failedRows(fs)
	if p.side != nil && len(rows) > 0 {
		if err := sideOutput(ctx, p, in, fs); err != nil {
			return err
		}
	}
	batch := out
	if name := p.errorColumn(); name != "" {
		b, err := addErrorColumn(ctx, out, in, outSchema, name, fs)
		if err != nil {
			return err
		}
		defer b.Release()
		batch = b
	}
	// Which rows to emit.
	if keep == nil && (p.side == nil || len(rows) == 0) {
		return emit(batch)
	}
	n := int(batch.NumRows())
	mask := make([]bool, n)
	all := true
	for i := range mask {
		mask[i] = keep == nil || keep[i]
	}
	for _, r := range rows {
		mask[r] = p.side == nil // kept with its error, or sent aside
	}
	for _, k := range mask {
		all = all && k
	}
	if all {
		return emit(batch)
	}
	filtered, err := filterBatch(ctx, batch, mask)
	if err != nil {
		return err
	}
	defer filtered.Release()
	if filtered.NumRows() == 0 {
		return nil
	}
	return emit(filtered)
}

// filterBatch returns the rows of b where mask is true.
func filterBatch(ctx context.Context, b arrow.RecordBatch, mask []bool) (arrow.RecordBatch, error) {
	rows := make([]int, 0, len(mask))
	for i, keep := range mask {
		if keep {
			rows = append(rows, i)
		}
	}
	return arrowbatch.TakeRows(Allocator(ctx), b, rows)
}

// addErrorColumn returns out with the error column set from fs, merged with the messages the
// column already had in out or, failing that, in in.
func addErrorColumn(ctx context.Context, out, in arrow.RecordBatch, schema *arrow.Schema, name string, fs []failure) (arrow.RecordBatch, error) {
	var prev *array.String
	pos := -1
	if idx := out.Schema().FieldIndices(name); len(idx) > 0 {
		pos = idx[0]
		prev, _ = out.Column(pos).(*array.String)
	} else if idx := in.Schema().FieldIndices(name); len(idx) > 0 {
		prev, _ = in.Column(idx[0]).(*array.String)
	}
	b := array.NewStringBuilder(Allocator(ctx))
	defer b.Release()
	n := int(out.NumRows())
	b.Reserve(n)
	k := 0
	for i := range n {
		msg, has := "", false
		if prev != nil && prev.IsValid(i) {
			msg, has = prev.Value(i), true
		}
		for ; k < len(fs) && fs[k].row == i; k++ {
			if has {
				msg += "; "
			}
			msg += fs[k].message()
			has = true
		}
		if has {
			b.Append(msg)
		} else {
			b.AppendNull()
		}
	}
	col := b.NewArray()
	defer col.Release()
	cols := slices.Clone(out.Columns())
	if pos >= 0 {
		cols[pos] = col
	} else {
		cols = append(cols, col)
	}
	if len(cols) != schema.NumFields() {
		return nil, fmt.Errorf("operators: internal error: %d columns for schema %s", len(cols), schema)
	}
	return array.NewRecordBatch(schema, cols, int64(n)), nil
}

// sideOutput calls the policy's function with the failed rows of in and their messages.
func sideOutput(ctx context.Context, p ErrorPolicy, in arrow.RecordBatch, fs []failure) error {
	rows := failedRows(fs)
	mask := make([]bool, in.NumRows())
	for _, r := range rows {
		mask[r] = true
	}
	failed, err := filterBatch(ctx, in, mask)
	if err != nil {
		return err
	}
	defer failed.Release()
	b := array.NewStringBuilder(Allocator(ctx))
	defer b.Release()
	k := 0
	for _, r := range rows {
		msg := ""
		for ; k < len(fs) && fs[k].row == r; k++ {
			if msg != "" {
				msg += "; "
			}
			msg += fs[k].message()
		}
		b.Append(msg)
	}
	col := b.NewArray()
	defer col.Release()
	fields := slices.Clone(failed.Schema().Fields())
	cols := slices.Clone(failed.Columns())
	if idx := failed.Schema().FieldIndices(SideOutputErrorColumn); len(idx) > 0 {
		fields[idx[0]] = arrow.Field{Name: SideOutputErrorColumn, Type: arrow.BinaryTypes.String, Nullable: true}
		cols[idx[0]] = col
	} else {
		fields = append(fields, arrow.Field{Name: SideOutputErrorColumn, Type: arrow.BinaryTypes.String, Nullable: true})
		cols = append(cols, col)
	}
	side := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(len(rows)))
	defer side.Release()
	if err := p.side(ctx, side); err != nil {
		return fmt.Errorf("side output: %w", err)
	}
	return nil
}
