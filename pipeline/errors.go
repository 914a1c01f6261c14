package pipeline

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/sluicedev/sluice/operators"
	"github.com/sluicedev/sluice/sources"
)

// ValidationError lists every problem Start found with a query before doing any I/O.
type ValidationError struct {
	Problems []error
}

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "sluice: invalid query: " + e.Problems[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "sluice: invalid query: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(strings.ReplaceAll(p.Error(), "\n", "\n    "))
	}
	return b.String()
}

// Unwrap returns the problems, so errors.Is and errors.As look into each.
func (e *ValidationError) Unwrap() []error { return e.Problems }

// addProblem appends err to list, flattening joined errors so each problem is listed alone.
func addProblem(list []error, err error) []error {
	if err == nil {
		return list
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		if _, isVal := err.(*ValidationError); !isVal {
			for _, e := range j.Unwrap() {
				list = addProblem(list, e)
			}
			return list
		}
	}
	return append(list, err)
}

// BatchError reports the failure of one micro-batch: which batch, and which stage of the plan
// failed ("source RateStreamV2[...]", "operator MapBatch", "sink ConsoleSink", "checkpoint").
type BatchError struct {
	// BatchID is the micro-batch's ID.
	BatchID int64
	// Stage names the part that failed: "source KinesisV2[s]", "operator Filter(...)",
	// "sink ...", "checkpoint".
	Stage string
	// Err is the stage's error (an *operators.RowError for a row, a *PanicError for a panic).
	Err error
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("sluice: batch %d: %s: %v", e.BatchID, e.Stage, e.Err)
}

// Unwrap returns the cause.
func (e *BatchError) Unwrap() error { return e.Err }

// PanicError is a panic in an operator, a user function or a sink, recovered: the batch fails
// with it (as a BatchError naming the stage) instead of the process, as a task's exception
// fails a Spark query and not the JVM.
type PanicError struct {
	Value any    // what was passed to panic
	Stack []byte // the panicking goroutine's stack
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// guard runs f, tagging its error with stage; a panic in f becomes a *PanicError.
func guard(stage string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &stageError{stage: stage, err: &PanicError{Value: r, Stack: debug.Stack()}}
		}
	}()
	return tagStage(stage, f())
}

// stageError tags an error with the stage it came from while it travels up the operator chain.
type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string { return e.stage + ": " + e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

func tagStage(stage string, err error) error {
	if err == nil {
		return nil
	}
	var se *stageError
	if errors.As(err, &se) {
		return err
	}
	return &stageError{stage: stage, err: err}
}

// batchError builds a BatchError, taking the stage from a tagged error if there is one.
func batchError(id int64, stage string, err error) error {
	var se *stageError
	if errors.As(err, &se) {
		stage, err = se.stage, se.err
	}
	return &BatchError{BatchID: id, Stage: stage, Err: err}
}

// recordKey returns the columns that identify a record of src (sources.RecordKeyer), or nil.
func recordKey(src sources.Source) []string {
	if k, ok := src.(sources.RecordKeyer); ok {
		return k.RecordKey()
	}
	return nil
}

// identifyRow adds the record's key (for Kinesis, its shard and sequence number) to the
// *operators.RowError a stage returned for its input in: the row's index in an Arrow batch says
// little about where the record is. Other errors, and inputs without the key's columns, are
// returned as they are.
func identifyRow(in arrow.RecordBatch, err error, key []string) error {
	re, ok := err.(*operators.RowError)
	if !ok || len(key) == 0 || re.Err == nil || re.Row < 0 || re.Row >= int(in.NumRows()) {
		return err
	}
	var parts []string
	for _, name := range key {
		idx := in.Schema().FieldIndices(name)
		if len(idx) != 1 {
			continue
		}
		if col, ok := in.Column(idx[0]).(*array.String); ok && col.IsValid(re.Row) {
			parts = append(parts, name+" "+col.Value(re.Row))
		}
	}
	if len(parts) == 0 {
		return err
	}
	named := *re
	named.Err = fmt.Errorf("record %s: %w", strings.Join(parts, ", "), re.Err)
	return &named
}
