package pipeline

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/sluicedev/sluice/checkpoint"
	"github.com/sluicedev/sluice/operators"
	"github.com/sluicedev/sluice/sinks"
	"github.com/sluicedev/sluice/sources"
)

// Sources whose rows carry documents (sources.DocumentSource, such as Kinesis with
// format=json) are decoded right after the source by a documentDecoder, which runs
// operators.FromJSON under the pipeline's error policy. The documents' schema is the one given
// (DataStreamReader.Schema, or the source's options), else the one kept in the checkpoint by an
// earlier run, else the one the source infers (sources.SchemaInferrer). Start therefore:
//
//  1. validates the plan without I/O (resolve); the operators after a source whose schema is
//     still to be inferred see an unknown (nil) input schema;
//  2. opens the sources, then prepareSources settles each documents' schema, inferring it if
//     need be, puts the decoders in front of the source's operator chains and, if a schema was
//     not known in step 1, checks the plan again (recheck) with it, so that a CEL typo still
//     fails Start with a *ValidationError listing every problem;
//  3. keeps an inferred schema in the checkpoint (sources/<i>/schema) once the plan is valid,
//     and opens the sink with the final output schema.

// documentsOf returns the documents a source's rows carry, when the query decodes them.
func documentsOf(src sources.Source) (sources.Documents, bool) {
	if ds, ok := src.(sources.DocumentSource); ok {
		return ds.Documents()
	}
	return sources.Documents{}, false
}

// givenSchema returns the documents' schema given with DataStreamReader.Schema or the source's
// options, or nil.
func givenSchema(n *node, src sources.Source, docs sources.Documents) (*arrow.Schema, error) {
	switch {
	case n.schema != nil && docs.Schema != nil && !sameDocumentSchema(n.schema, docs.Schema):
		return nil, fmt.Errorf("source %s: the schema given with Schema(...) differs from the one in the source's options", src.Description())
	case n.schema != nil:
		if n.schema.NumFields() == 0 {
			return nil, errors.New("ReadStream: the schema given with Schema(...) has no fields")
		}
		return n.schema, nil
	}
	return docs.Schema, nil
}

// sourceSchema returns the schema of the rows a source node passes on: the source's, or, when
// it carries documents, the decoded one; nil when that is to be inferred at Start. It does no
// I/O.
func (p *Pipeline) sourceSchema(n *node, src sources.Source) (*arrow.Schema, error) {
	docs, ok := documentsOf(src)
	if !ok {
		if n.schema != nil {
			return src.Schema(), fmt.Errorf("ReadStream: Schema(...) is given, but source %s does not decode documents (for Kinesis, set option format=json)", src.Description())
		}
		return src.Schema(), nil
	}
	schema, err := givenSchema(n, src, docs)
	if err != nil {
		return nil, err
	}
	if schema == nil {
		if !docs.Infer {
			return nil, fmt.Errorf(`source %s: option "format" is %s, but no schema is given: give it with Schema(...) on the reader, or set option inferSchema=true`, src.Description(), docs.Format)
		}
		if _, ok := src.(sources.SchemaInferrer); !ok {
			return nil, fmt.Errorf("source %s cannot infer its documents' schema: give it with Schema(...) on the reader", src.Description())
		}
		return nil, p.cfg.onError.Validate() // inferred at Start
	}
	d, err := newDocumentDecoder(src, docs, schema, p.cfg.onError)
	if err != nil {
		return nil, err
	}
	return d.OutputSchema(src.Schema())
}

// prepareSources runs in Start once the sources are open; see the comment at the top of the
// file.
func (q *Query) prepareSources(ctx context.Context) error {
	pl := q.pl
	decoded := map[*node]*arrow.Schema{}
	var sections []string
	var toKeep []keptSchema
	recheck := false
	for i, sp := range pl.paths {
		docs, ok := documentsOf(sp.source)
		if !ok {
			continue
		}
		desc := sp.source.Description()
		given, err := givenSchema(sp.node, sp.source, docs)
		if err != nil {
			return &ValidationError{Problems: []error{err}}
		}
		kept, hasKept, err := readKeptSchema(ctx, q.log.Store(), i)
		if err != nil {
			return err
		}
		var schema *arrow.Schema
		var how string
		switch {
		case given != nil:
			if hasKept && !sameDocumentSchema(given, kept.schema) {
				return fmt.Errorf("sluice: source %s: the schema given with Schema(...) differs from the one an earlier run inferred and kept in checkpoint %s (%s): give that schema, leave Schema(...) out to use it, or use a new checkpointLocation\n  given: %s\n  kept:  %s",
					desc, q.log.Store(), schemaFile(i), fieldList(given), fieldList(kept.schema))
			}
			schema, how = given, "given"
		case hasKept:
			schema, how = kept.schema, "inferred by an earlier run, kept in the checkpoint"
			recheck = true
		default:
			inf, ok := sp.source.(sources.SchemaInferrer)
			if !ok {
				return fmt.Errorf("sluice: source %s cannot infer its documents' schema", desc)
			}
			start := q.starts[i]
			if start == nil {
				init, ok, err := q.log.InitialOffset(ctx, i)
				if err != nil {
					return err
				}
				if ok {
					start = sources.Offset(init.Offset)
				}
			}
			q.setStatus("Inferring the schema of "+desc, false, false)
			if schema, err = inf.InferSchema(ctx, start); err != nil {
				return fmt.Errorf("sluice: source %s: infer schema: %w", desc, err)
			}
			if schema == nil || schema.NumFields() == 0 {
				return fmt.Errorf("sluice: source %s: infer schema: no columns", desc)
			}
			how = "inferred at Start"
			toKeep = append(toKeep, keptSchema{index: i, description: desc, format: docs.Format, schema: schema})
			recheck = true
		}
		d, err := newDocumentDecoder(sp.source, docs, schema, q.p.cfg.onError)
		if err != nil {
			return &ValidationError{Problems: []error{err}}
		}
		out, err := d.OutputSchema(sp.source.Schema())
		if err != nil {
			return &ValidationError{Problems: []error{fmt.Errorf("source %s: %w", desc, err)}}
		}
		decoded[sp.node] = out
		for c := range sp.chains {
			sp.chains[c] = append([]operators.Operator{d}, sp.chains[c]...)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "== Documents of %s: %s in %s, schema %s ==\n", desc, strings.ToUpper(docs.Format), docs.Column, how)
		for _, f := range schema.Fields() {
			fmt.Fprintf(&b, "%s: %s\n", f.Name, f.Type)
		}
		sections = append(sections, b.String())
	}
	if recheck {
		if err := pl.recheck(decoded); err != nil {
			return err
		}
	}
	for _, k := range toKeep {
		if err := writeKeptSchema(ctx, q.log.Store(), k); err != nil {
			return err
		}
	}
	pl.explain += strings.Join(sections, "")
	return nil
}

// recheck validates the plan again with the decoded schemas of the sources that carry
// documents, as resolve did with what it knew, and updates the output schema and Explain.
func (pl *plan) recheck(decoded map[*node]*arrow.Schema) error {
	w := pl.writer
	if w == nil {
		return nil
	}
	sourceOf := map[*node]sources.Source{}
	for _, sp := range pl.paths {
		sourceOf[sp.node] = sp.source
	}
	var probs []error
	schema := walkSchemas(pl.root, &probs, func(n *node) *arrow.Schema {
		if s, ok := decoded[n]; ok {
			return s
		}
		if src := sourceOf[n]; src != nil {
			return src.Schema()
		}
		return nil
	}, nil)
	pl.inferPending = false
	probs = append(probs, checkOutputMode(pl)...)
	if sc, ok := pl.sink.(sinks.SchemaChecker); ok && schema != nil {
		if err := sc.CheckSchema(schema); err != nil {
			probs = addProblem(probs, fmt.Errorf("sink %s: %w", pl.sinkDesc, err))
		}
	}
	if len(probs) > 0 {
		return &ValidationError{Problems: probs}
	}
	pl.schema = schema
	pl.explain = w.explain(pl)
	return nil
}

// sameDocumentSchema compares two documents' schemas; nullability does not count, as every
// decoded field is nullable.
func sameDocumentSchema(a, b *arrow.Schema) bool {
	return nullable(a).Equal(nullable(b))
}

func nullable(s *arrow.Schema) *arrow.Schema {
	fields := s.Fields()
	for i := range fields {
		fields[i].Nullable = true
	}
	return arrow.NewSchema(fields, nil)
}

func fieldList(s *arrow.Schema) string {
	parts := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		parts[i] = f.Name + " " + f.Type.String()
	}
	return strings.Join(parts, ", ")
}

// documentDecoder decodes the documents of a source's rows: operators.FromJSON under the error
// policy, then the documents' fields are moved in front of the source's other columns. Its
// errors are the source's (BatchError.Stage "source ...").
type documentDecoder struct {
	name   string
	stage  string
	column string
	key    []string // columns that identify a record in errors (sources.RecordKeyer)
	fields int
	json   operators.Operator
	last   atomic.Pointer[decodedLayout]
}

// decodedLayout is how the columns of FromJSON's output (in) are reordered into out.
type decodedLayout struct {
	in, out *arrow.Schema
	order   []int // out's column j is in's column order[j]
}

func newDocumentDecoder(src sources.Source, docs sources.Documents, schema *arrow.Schema, policy operators.ErrorPolicy) (*documentDecoder, error) {
	desc := src.Description()
	if docs.Format != "json" {
		return nil, fmt.Errorf("source %s: documents in format %q cannot be decoded (only json)", desc, docs.Format)
	}
	raw := src.Schema()
	if len(raw.FieldIndices(docs.Column)) != 1 {
		return nil, fmt.Errorf("source %s: the documents' column %q is not a column of its schema", desc, docs.Column)
	}
	var clashes, others []string
	for _, f := range raw.Fields() {
		if f.Name != docs.Column {
			others = append(others, f.Name)
		}
	}
	for _, f := range schema.Fields() {
		if slices.Contains(others, f.Name) {
			clashes = append(clashes, strconv.Quote(f.Name))
		}
	}
	if len(clashes) > 0 {
		what := "field " + clashes[0] + " has"
		if len(clashes) > 1 {
			what = "fields " + strings.Join(clashes, ", ") + " have"
		}
		return nil, fmt.Errorf("source %s: the JSON %s the name of a column of the records (%s), which the decoded rows keep",
			desc, what, strings.Join(others, ", "))
	}
	return &documentDecoder{
		name:   "JSON(" + docs.Column + ") of " + desc,
		stage:  "source " + desc,
		column: docs.Column,
		key:    recordKey(src),
		fields: schema.NumFields(),
		json:   operators.FromJSON(docs.Column, schema, operators.Options{OnError: policy}),
	}, nil
}

func (d *documentDecoder) Name() string { return d.name }

func (d *documentDecoder) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	s, err := d.json.OutputSchema(in)
	if err != nil || s == nil {
		return s, err
	}
	l, err := d.layout(in, s)
	if err != nil {
		return nil, err
	}
	return l.out, nil
}

// layout returns the reordering of FromJSON's output s for input in.
func (d *documentDecoder) layout(in, s *arrow.Schema) (*decodedLayout, error) {
	if l := d.last.Load(); l != nil && l.in == s {
		return l, nil
	}
	idx := in.FieldIndices(d.column)
	if len(idx) != 1 || s.NumFields() < in.NumFields()-1+d.fields {
		return nil, fmt.Errorf("internal error: unexpected decoded schema %s", s)
	}
	at := idx[0]
	order := make([]int, 0, s.NumFields())
	for j := range d.fields {
		order = append(order, at+j)
	}
	for j := range s.NumFields() {
		if j < at || j >= at+d.fields {
			order = append(order, j)
		}
	}
	fields := make([]arrow.Field, len(order))
	for j, k := range order {
		fields[j] = s.Field(k)
	}
	md := s.Metadata()
	l := &decodedLayout{in: s, out: arrow.NewSchema(fields, &md), order: order}
	d.last.Store(l)
	return l, nil
}

func (d *documentDecoder) Process(ctx context.Context, in arrow.RecordBatch, emit operators.Emit) error {
	err := d.json.Process(ctx, in, func(rec arrow.RecordBatch) error {
		l, err := d.layout(in.Schema(), rec.Schema())
		if err != nil {
			return err
		}
		cols := make([]arrow.Array, len(l.order))
		for j, k := range l.order {
			cols[j] = rec.Column(k)
		}
		out := array.NewRecordBatch(l.out, cols, rec.NumRows())
		defer out.Release()
		return emit(out)
	})
	return tagStage(d.stage, identifyRow(in, err, d.key)) // errors of later stages are tagged already
}

// The inferred schema of source i is kept in the checkpoint's file sources/<i>/schema, so that
// a restarted query decodes with the same schema:
//
//	{"version":1,"description":"KinesisV2[events]","format":"json","schema":"<Arrow IPC schema message, base64>"}
//
// A file that does not read back is a *checkpoint.CorruptError, as for the other files.

// keptSchemaVersion is the version of the file format.
const keptSchemaVersion = 1

type keptSchema struct {
	index       int
	description string
	format      string
	schema      *arrow.Schema
}

type keptSchemaJSON struct {
	Version     int    `json:"version"`
	Description string `json:"description"`
	Format      string `json:"format"`
	Schema      string `json:"schema"`
}

func schemaFile(i int) string { return path.Join(checkpoint.SourcesDir, strconv.Itoa(i), "schema") }

func writeKeptSchema(ctx context.Context, store checkpoint.Store, k keptSchema) error {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(k.schema))
	if err := w.Close(); err != nil {
		return fmt.Errorf("sluice: encode the schema of source %d: %w", k.index, err)
	}
	data, err := json.Marshal(keptSchemaJSON{Version: keptSchemaVersion, Description: k.description, Format: k.format,
		Schema: base64.StdEncoding.EncodeToString(buf.Bytes())})
	if err != nil {
		return err
	}
	if err := store.WriteFile(ctx, schemaFile(k.index), data); err != nil {
		return fmt.Errorf("checkpoint: write %s/%s: %w", store, schemaFile(k.index), err)
	}
	return nil
}

func readKeptSchema(ctx context.Context, store checkpoint.Store, i int) (keptSchema, bool, error) {
	name := schemaFile(i)
	data, err := store.ReadFile(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return keptSchema{}, false, nil
	}
	if err != nil {
		return keptSchema{}, false, fmt.Errorf("checkpoint: read %s/%s: %w", store, name, err)
	}
	corrupt := func(err error) error { return &checkpoint.CorruptError{File: store.String() + "/" + name, Err: err} }
	var j keptSchemaJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return keptSchema{}, false, corrupt(fmt.Errorf("invalid JSON: %v", err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return keptSchema{}, false, corrupt(errors.New("trailing data after the JSON value"))
	}
	if j.Version != keptSchemaVersion {
		return keptSchema{}, false, corrupt(fmt.Errorf("format version %d (this build reads %d)", j.Version, keptSchemaVersion))
	}
	raw, err := base64.StdEncoding.DecodeString(j.Schema)
	if err != nil {
		return keptSchema{}, false, corrupt(fmt.Errorf("schema: %v", err))
	}
	r, err := ipc.NewReader(bytes.NewReader(raw))
	if err != nil {
		return keptSchema{}, false, corrupt(fmt.Errorf("schema: %v", err))
	}
	defer r.Release()
	s := r.Schema()
	if s == nil || s.NumFields() == 0 {
		return keptSchema{}, false, corrupt(errors.New("schema: no fields"))
	}
	return keptSchema{index: i, description: j.Description, format: j.Format, schema: s}, true, nil
}
