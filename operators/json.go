package operators

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedev/sluice/arrowbatch"
)

// FromJSON parses the JSON documents of the string or binary column col, one object per row,
// into the columns of schema, which take col's place (Spark's from_json followed by
// selecting the struct's fields). It uses arrowbatch.JSONParser: keys not in schema are
// ignored, missing keys give nulls, a null or "null" document gives a row of nulls, timestamps
// are RFC 3339 strings with any number of fraction digits (truncated to the column's unit) or
// integers in the unit. As Spark's from_json reads with schema.asNullable, every field of the
// output is nullable, also inside structs, lists and maps (see arrowbatch.JSONParser); a
// schema with two fields of one name, at the top or in a struct, fails at Start. A malformed
// document, or one whose values do not fit schema (the error names the column and the value),
// follows o.OnError; under FailBatch the error also shows the document's first 100 bytes,
// quoted, as Spark's FAILFAST mode shows the record.
func FromJSON(col string, schema *arrow.Schema, o Options) Operator {
	j := &fromJSON{col: col, schema: schema, opts: o}
	j.parser, j.err = arrowbatch.NewJSONParser(schema)
	j.plans.build = j.plan
	return j
}

type fromJSON struct {
	col    string
	schema *arrow.Schema
	opts   Options
	parser *arrowbatch.JSONParser
	err    error
	plans  perSchema[*jsonPlan]
}

type jsonPlan struct {
	idx  int           // the documents' column
	base *arrow.Schema // the output without the policy's error column
	out  *arrow.Schema
}

func (j *fromJSON) Name() string {
	if j.schema == nil {
		return "FromJSON(" + j.col + ")"
	}
	return "FromJSON(" + j.col + ", " + strings.Join(fieldList(j.schema), ", ") + ")"
}

func fieldList(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = f.Name + " " + f.Type.String()
	}
	return out
}

func (j *fromJSON) plan(in *arrow.Schema) (*jsonPlan, error) {
	if j.err != nil {
		return nil, j.err
	}
	idx, err := columnIndex(in, j.col)
	if err != nil {
		return nil, err
	}
	switch in.Field(idx).Type.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
	default:
		return nil, fmt.Errorf("column %q is of type %s; JSON documents must be string or binary", j.col, in.Field(idx).Type)
	}
	var fields []arrow.Field
	var errs []error
	for i, f := range in.Fields() {
		if i == idx {
			// The parser's schema: the given one made nullable, as Spark's from_json makes it.
			fields = append(fields, j.parser.Schema().Fields()...)
			continue
		}
		if len(j.schema.FieldIndices(f.Name)) > 0 {
			errs = append(errs, fmt.Errorf("the JSON field %q is already a column", f.Name))
		}
		fields = append(fields, f)
	}
	if ec := j.opts.OnError.errorColumn(); ec != "" && len(j.schema.FieldIndices(ec)) > 0 && len(in.FieldIndices(ec)) == 0 {
		// The documents' field would be taken for the error column: valid rows would look failed.
		errs = append(errs, fmt.Errorf("the JSON field %q has the name of the error column of OnError(ErrorColumn(%q)): rename one of them", ec, ec))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	md := in.Metadata()
	base := arrow.NewSchema(fields, &md)
	out, err := withErrorSchema(base, j.opts.OnError)
	if err != nil {
		return nil, err
	}
	return &jsonPlan{idx: idx, base: base, out: out}, nil
}

func (j *fromJSON) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	if in == nil {
		if j.err != nil {
			return nil, j.err
		}
		_, err := withErrorSchema(arrow.NewSchema(nil, nil), j.opts.OnError)
		return nil, err
	}
	p, err := j.plans.get(in)
	if err != nil {
		return nil, err
	}
	return p.out, nil
}

func (j *fromJSON) Process(ctx context.Context, in arrow.RecordBatch, emit Emit) error {
	p, err := j.plans.get(in.Schema())
	if err != nil {
		return err
	}
	parsed, failed, err := j.parser.ParseColumn(Allocator(ctx), in.Column(p.idx))
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range parsed {
			c.Release()
		}
	}()
	cols := make([]arrow.Array, 0, p.base.NumFields())
	cols = append(cols, in.Columns()[:p.idx]...)
	cols = append(cols, parsed...)
	cols = append(cols, in.Columns()[p.idx+1:]...)
	out := array.NewRecordBatch(p.base, slices.Clip(cols), in.NumRows())
	defer out.Release()
	fs := make([]failure, len(failed))
	failBatch := j.opts.OnError.side == nil && j.opts.OnError.errorColumn() == ""
	for i, f := range failed {
		err := f.Err
		if failBatch {
			// As Spark's FAILFAST mode does, the error shows the start of the record.
			err = fmt.Errorf("%w; the document starts %s", err, documentPrefix(in.Column(p.idx), f.Row))
		}
		fs[i] = failure{row: f.Row, err: err}
	}
	return finish(ctx, j.opts.OnError, in, out, p.out, fs, nil, emit)
}

// documentPrefixBytes is how much of a failed document an error shows.
const documentPrefixBytes = 100

// documentPrefix returns the start of document row of col, quoted, for an error.
func documentPrefix(col arrow.Array, row int) string {
	var d []byte
	switch c := col.(type) {
	case *array.String:
		d = []byte(c.Value(row))
	case *array.LargeString:
		d = []byte(c.Value(row))
	case *array.Binary:
		d = c.Value(row)
	case *array.LargeBinary:
		d = c.Value(row)
	}
	if len(d) > documentPrefixBytes {
		return fmt.Sprintf("%q...", d[:documentPrefixBytes])
	}
	return fmt.Sprintf("%q", d)
}
