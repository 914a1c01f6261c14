// Package operators defines the transformations between a query's sources and its sink.
//
// # Lifecycle
//
//	op := constructor(...)              // no I/O, no goroutines
//	op.OutputSchema(in)                 // at query start, to validate the plan before any I/O
//	op.Open(ctx) if it is an Opener     // once per query run
//	op.Process(ctx, batch, emit) ...    // any number of times, concurrently
//	op.Close(ctx) if it is a Closer     // once, after the last Process returned
//
// Process is called concurrently from several goroutines (one per source task), so an
// operator keeps no unsynchronised per-call state. It receives a batch it borrows and calls
// emit zero or more times with batches emit borrows: an operator that builds a new batch
// releases it after emit returns; one that passes its input through calls emit(in).
//
// # Operators over rows
//
// Filter, Select, WithColumn, Drop, WithColumnRenamed, Cast and Explode evaluate CEL
// expressions (package expr) column-wise over each batch; FromJSON parses JSON documents; Map
// applies a typed Go function to each row. Their expressions are compiled against the input
// schema by OutputSchema, so a typo fails the query's Start; with an input schema known only at
// run time they compile on the first batch of each schema. Columns they do not compute are
// passed through without copying. A row they fail to process (a division by zero, malformed
// JSON, an error from a Go function) follows the ErrorPolicy of their Options: fail the batch
// (the default), keep the row with its error in a column, or send it to a side output.
package operators

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Emit receives a batch from an operator; it borrows the batch.
type Emit func(arrow.RecordBatch) error

// Operator transforms batches. See the package comment for the lifecycle and ownership rules.
type Operator interface {
	// Name describes the operator in Explain output, e.g. "Filter(size(data) > 100)".
	Name() string
	// OutputSchema returns the schema of the batches Process emits for input schema in. in is
	// nil when the input schema is known only at run time; the result may then be nil too.
	OutputSchema(in *arrow.Schema) (*arrow.Schema, error)
	// Process transforms one batch.
	Process(ctx context.Context, in arrow.RecordBatch, emit Emit) error
}

// Opener is implemented by operators that prepare resources once per query run.
type Opener interface {
	Open(ctx context.Context) error
}

// Closer is implemented by operators that hold resources.
type Closer interface {
	Close(ctx context.Context) error
}

// BatchFunc is a Go function over whole batches: it returns the batch to pass on, or nil to
// drop the input. A function may return its input unchanged; any other batch it returns is
// handed over to the caller, which releases it, also when the function returns an error with
// it (the batch is then discarded).
type BatchFunc func(ctx context.Context, in arrow.RecordBatch) (arrow.RecordBatch, error)

// MapBatch applies a BatchFunc to every batch. The output schema is schema when it is given,
// and must then match every returned batch; with a nil schema it is known only at run time.
func MapBatch(name string, schema *arrow.Schema, fn BatchFunc) Operator {
	if name == "" {
		name = "MapBatch"
	}
	return &mapBatch{name: name, schema: schema, fn: fn}
}

type mapBatch struct {
	name   string
	schema *arrow.Schema
	fn     BatchFunc
}

func (m *mapBatch) Name() string { return m.name }

func (m *mapBatch) OutputSchema(*arrow.Schema) (*arrow.Schema, error) {
	if m.fn == nil {
		return nil, fmt.Errorf("%s: the function is nil", m.name)
	}
	return m.schema, nil
}

func (m *mapBatch) Process(ctx context.Context, in arrow.RecordBatch, emit Emit) error {
	out, err := m.fn(ctx, in)
	if err != nil {
		if out != nil && out != in {
			out.Release()
		}
		return err
	}
	if out == nil {
		return nil
	}
	if out != in {
		defer out.Release()
	}
	if m.schema != nil && !out.Schema().Equal(m.schema) {
		return fmt.Errorf("%s returned a batch with schema %s; declared %s", m.name, out.Schema(), m.schema)
	}
	return emit(out)
}

// WithAllocator returns a context carrying mem for the operators run under it. It is arrow-go
// compute's context allocator, so compute kernels called by operators and user functions
// allocate from the query's allocator too.
func WithAllocator(ctx context.Context, mem memory.Allocator) context.Context {
	return compute.WithAllocator(ctx, mem)
}

// Allocator returns the allocator an operator should build batches with: the query's, as set
// by WithAllocator, or memory.DefaultAllocator.
func Allocator(ctx context.Context) memory.Allocator {
	return compute.GetAllocator(ctx)
}
