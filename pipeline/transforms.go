package pipeline

import (
	"context"
	"fmt"
	"reflect"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedev/sluice/operators"
)

// The transforms below record operators of package operators. Their CEL expressions are
// compiled against the stream's schema when the query starts (Start reports every error, with
// its line and column, before any I/O) and evaluated column-wise over Arrow batches where the
// expression allows; see package expr for the types, null semantics and the functions
// available. Functions registered with expr.Register may be called from any expression.

// ErrorPolicy says what a transform does with a row it fails to process; see OnError.
type ErrorPolicy = operators.ErrorPolicy

// FailBatch fails the batch with an error naming the row (the default policy).
func FailBatch() ErrorPolicy { return operators.FailBatch() }

// ErrorColumn keeps failed rows and records why in the string column name; see
// operators.ErrorColumn.
func ErrorColumn(name string) ErrorPolicy { return operators.ErrorColumn(name) }

// SideOutput removes failed rows from the stream and gives them, with their errors, to fn; see
// operators.SideOutput.
func SideOutput(fn func(ctx context.Context, failed arrow.RecordBatch) error) ErrorPolicy {
	return operators.SideOutput(fn)
}

// OnError sets the error policy of the transforms added after it on this stream (and on the
// streams derived from it): Filter, Select, WithColumn, Cast, Explode, FromJSON and Map. A
// row fails when an expression fails for it (a division by zero, a bad conversion), when its
// JSON is malformed, or when a Go function returns an error for it. Transforms with no OnError
// before them follow the pipeline's default policy (WithErrorPolicy; FailBatch unless set),
// as does the decoding of documents at a source. Explain shows OnError as a stage.
func (s *Stream) OnError(p ErrorPolicy) *Stream { return s.Transform(&onError{policy: p}) }

// onError marks the policy for the transforms after it; it passes batches through.
type onError struct{ policy ErrorPolicy }

func (o *onError) Name() string { return "OnError(" + o.policy.String() + ")" }

func (o *onError) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	return in, o.policy.Validate()
}

func (o *onError) Process(_ context.Context, in arrow.RecordBatch, emit operators.Emit) error {
	return emit(in)
}

// options returns the options of a transform added to s: the policy of the nearest OnError
// before it (through a Union, that of its first input), else the pipeline's default policy.
func (s *Stream) options() operators.Options {
	for n := s.n; n != nil; {
		if oe, ok := n.op.(*onError); ok && n.kind == operatorNode {
			if oe.policy.Validate() != nil {
				// The OnError stage reports the bad policy; the transforms do not repeat it.
				return operators.Options{OnError: operators.FailBatch()}
			}
			return operators.Options{OnError: oe.policy}
		}
		if len(n.parents) == 0 {
			break
		}
		n = n.parents[0]
	}
	return operators.Options{OnError: s.p.cfg.onError}
}

// Filter keeps the rows for which the CEL expression condition is true, like Spark's filter:
//
//	events.Filter(`size(data) > 100 && partitionKey.startsWith("eu-")`)
//
// A null condition drops the row. Under ErrorColumn, a row that carries an error (from an
// earlier transform) is kept whatever its condition, so it reaches the sink.
func (s *Stream) Filter(condition string) *Stream {
	return s.transformNew(func() operators.Operator { return operators.Filter(condition, s.options()) })
}

// Where is Filter, as in Spark.
func (s *Stream) Where(condition string) *Stream { return s.Filter(condition) }

// Select computes a new set of columns, like Spark's select. Each item is "*" (every column), a
// column name, or a CEL expression, optionally followed by "AS name":
//
//	events.Select("partitionKey", `string(data) AS body`, "size(data) AS bytes")
//
// Columns are passed through without copying. A column name may be given in backticks
// ("`my col`"), as may an AS name that is not an identifier ("AS `1st`"). An expression's
// column is named by its AS, else, as in Spark, a struct field path by its last field
// ("geo.lat" is "lat"), another expression by its text. Unlike Spark, two output columns may
// not have the same name: Start reports it. See operators.Select.
func (s *Stream) Select(items ...string) *Stream {
	return s.transformNew(func() operators.Operator { return operators.Select(items, s.options()) })
}

// WithColumn adds the column name computed by the CEL expression expr, or replaces the column
// of that name in place, like Spark's withColumn.
func (s *Stream) WithColumn(name, expr string) *Stream {
	return s.transformNew(func() operators.Operator { return operators.WithColumn(name, expr, s.options()) })
}

// Drop removes the named columns; names that are not columns are ignored, as in Spark.
func (s *Stream) Drop(cols ...string) *Stream {
	return s.transformNew(func() operators.Operator { return operators.Drop(cols...) })
}

// WithColumnRenamed renames a column; it does nothing when there is no such column, as in
// Spark.
func (s *Stream) WithColumnRenamed(existing, newName string) *Stream {
	return s.transformNew(func() operators.Operator { return operators.WithColumnRenamed(existing, newName) })
}

// Cast converts the column col to the Spark SQL type typ ("string", "bigint", "double",
// "timestamp"...), like Spark's col.cast(typ). Binary to string reinterprets the column without
// copying the bytes, as Spark does (invalid UTF-8 is kept). Inside expressions,
// data.cast("string") does the same.
func (s *Stream) Cast(col, typ string) *Stream {
	return s.transformNew(func() operators.Operator { return operators.Cast(col, typ, s.options()) })
}

// Explode emits one row per element of the list the CEL expression listExpr computes, like
// Spark's explode: the row's columns, plus the element in the column name.
//
//	lines.Explode("word", `line.split(" ")`)
//
// Rows whose list is null or empty produce nothing, except, under ErrorColumn, a row that
// carries an error, which is kept once with a null element. Rows with long lists are emitted
// in several batches; see operators.Explode.
func (s *Stream) Explode(name, listExpr string) *Stream {
	return s.transformNew(func() operators.Operator { return operators.Explode(name, listExpr, s.options()) })
}

// FromJSON parses the JSON objects of the string or binary column col into the columns of
// schema, which take col's place, like Spark's from_json followed by selecting the fields. Keys
// not in schema are ignored; missing keys give nulls. A timestamp column takes RFC 3339 strings
// with any number of fraction digits (truncated to its unit) or integers in its unit; a string
// column takes any value, a non-string one as its JSON text (see arrowbatch.JSONParser). To
// decode a Kinesis record's data at the source instead, read with option format=json.
func (s *Stream) FromJSON(col string, schema *arrow.Schema) *Stream {
	return s.transformNew(func() operators.Operator { return operators.FromJSON(col, schema, s.options()) })
}

// Map applies fn to every row of s as a Go struct, like Spark's Dataset.map: In's fields are
// read from the columns of the same name (or of their `sluice:"column"` tag), and Out's fields
// become the output columns. The field mapping is computed once; rows are converted without
// reflection. See operators.Map for the field types.
func Map[In, Out any](s *Stream, fn func(ctx context.Context, in In) (Out, error)) *Stream {
	name := fmt.Sprintf("Map(%s -> %s)", typeName[In](), typeName[Out]())
	return s.transformNew(func() operators.Operator { return operators.Map(name, fn, s.options()) })
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }
