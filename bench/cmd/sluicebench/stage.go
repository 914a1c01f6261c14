package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedev/sluice/expr"
	"github.com/sluicedev/sluice/operators"
)

// stage wraps an operator and adds up the CPU time its Process calls spend in the operator
// itself: the CPU time of the calling thread during Process (the goroutine is locked to its
// thread for the call), less the CPU time its emit calls spend downstream. It is the same
// operator otherwise, with the same name in Explain.
type stage struct {
	operators.Operator
	// first, if not nil, sees every input batch before the operator (and is not timed).
	first func(arrow.RecordBatch)
	cpu   atomic.Int64 // nanoseconds
	rows  atomic.Int64 // input rows
}

// Process implements operators.Operator.
func (s *stage) Process(ctx context.Context, in arrow.RecordBatch, emit operators.Emit) error {
	if s.first != nil {
		s.first(in)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var downstream int64
	t0 := threadCPU()
	err := s.Operator.Process(ctx, in, func(b arrow.RecordBatch) error {
		t := threadCPU()
		err := emit(b)
		downstream += threadCPU() - t
		return err
	})
	s.cpu.Add(threadCPU() - t0 - downstream)
	s.rows.Add(in.NumRows())
	return err
}

// keepSample keeps the filter's column ("level") of the first batch of at least 1,000 rows
// that pipeline 2's Filter receives, for celEval. The column is retained, not copied: only its
// own buffers stay in memory.
func (e *env) keepSample(in arrow.RecordBatch) {
	if in.NumRows() < 1000 && in.NumRows() < e.stats.Records {
		return
	}
	e.sampled.Do(func() {
		idx := in.Schema().FieldIndices("level")
		if len(idx) != 1 {
			return
		}
		col := in.Column(idx[0])
		schema := arrow.NewSchema([]arrow.Field{in.Schema().Field(idx[0])}, nil)
		e.sample = array.NewRecordBatch(schema, []arrow.Array{col}, in.NumRows())
	})
}

// celEval measures pipeline 2's filter condition alone, over the sample kept from a batch its
// Filter received: the CPU time per row of expr.Program.Eval (column-wise, as the Filter
// evaluates it) and of Program.EvalRowWise (cel-go row by row, as with
// operators.Options.RowWise), each repeated for about evalFor of thread CPU time. It checks
// that both keep the same rows.
func celEval(ctx context.Context, e *env) error {
	if e.sample == nil {
		return errors.New("the Filter received no batch to sample")
	}
	defer e.sample.Release()
	prog, err := expr.Default.Compile(e.sample.Schema(), errorFilter)
	if err != nil {
		return err
	}
	if rw := prog.RowWise(); len(rw) > 0 {
		return fmt.Errorf("%q is not evaluated column-wise: %v", errorFilter, rw)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var kept [2]int
	for i, eval := range []func(context.Context, arrow.RecordBatch) (arrow.Array, []*expr.EvalError, error){prog.Eval, prog.EvalRowWise} {
		var n int
		t0 := threadCPU()
		for n == 0 || threadCPU()-t0 < evalFor.Nanoseconds() {
			vals, errs, err := eval(ctx, e.sample)
			if err != nil {
				return err
			}
			if len(errs) > 0 {
				vals.Release()
				return errs[0]
			}
			if n == 0 {
				b := vals.(*array.Boolean)
				for r := range b.Len() {
					if b.IsValid(r) && b.Value(r) {
						kept[i]++
					}
				}
			}
			vals.Release()
			n++
		}
		perRow := float64(threadCPU()-t0) / float64(n) / float64(e.sample.NumRows())
		if i == 0 {
			e.res.EvalColNs = perRow
		} else {
			e.res.EvalRowNs = perRow
		}
	}
	if kept[0] != kept[1] || kept[0] == 0 {
		return fmt.Errorf("column-wise evaluation keeps %d rows, row by row %d", kept[0], kept[1])
	}
	e.res.EvalRows = e.sample.NumRows()
	return nil
}

// evalFor is how long celEval repeats each evaluation.
const evalFor = 300 * time.Millisecond
