package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/checkpoint"
	"github.com/sluicedev/sluice/operators"
	"github.com/sluicedev/sluice/optspec"
	"github.com/sluicedev/sluice/sinks"
	"github.com/sluicedev/sluice/sinks/foreach"
	memsink "github.com/sluicedev/sluice/sinks/memory"
	"github.com/sluicedev/sluice/sources"
)

// The writer options that the pipeline itself consumes; every other option goes to the sink.
const optCheckpointLocation = "checkpointLocation"

// DataStreamWriter describes where and how a stream is written, like Spark's
// DataStreamWriter. Nothing happens until Start.
type DataStreamWriter struct {
	s         *Stream
	format    string
	options   map[string]string
	sink      sinks.Sink
	sinkMk    func() sinks.Sink // makes a new sink per query, for ForeachBatch and the like
	mode      string
	name      string
	trigger   Trigger
	problems  []error
	sinkKinds int
}

// WriteStream starts describing the output of s.
func (s *Stream) WriteStream() *DataStreamWriter {
	return &DataStreamWriter{s: s, options: map[string]string{}, trigger: ProcessingTime(0)}
}

// Format names the sink's format, such as "console" or "memory".
func (w *DataStreamWriter) Format(name string) *DataStreamWriter {
	w.format = name
	w.sinkKinds++
	return w
}

// Option sets one option: "checkpointLocation", or an option of the sink. Keys are
// case-insensitive.
func (w *DataStreamWriter) Option(key, value string) *DataStreamWriter {
	w.options[key] = value
	return w
}

// Options sets several options.
func (w *DataStreamWriter) Options(kv map[string]string) *DataStreamWriter {
	maps.Copy(w.options, kv)
	return w
}

// OutputMode sets the output mode: "append" (the default), "update" or "complete".
func (w *DataStreamWriter) OutputMode(mode string) *DataStreamWriter {
	w.mode = mode
	return w
}

// QueryName names the query; the "memory" sink's table takes this name.
func (w *DataStreamWriter) QueryName(name string) *DataStreamWriter {
	w.name = name
	return w
}

// Trigger sets when micro-batches run. Default: ProcessingTime(0).
func (w *DataStreamWriter) Trigger(t Trigger) *DataStreamWriter {
	w.trigger = t
	return w
}

// Sink writes to snk directly instead of a format from the registry (the typed path).
func (w *DataStreamWriter) Sink(snk sinks.Sink) *DataStreamWriter {
	w.sink, w.sinkMk = snk, nil
	w.sinkKinds++
	return w
}

// sinkNew is Sink with a sink made for each query started.
func (w *DataStreamWriter) sinkNew(mk func() sinks.Sink) *DataStreamWriter {
	w.Sink(mk())
	w.sinkMk = mk
	return w
}

// ForeachBatch calls fn once per micro-batch with all its rows in one Arrow batch, which fn
// borrows. Delivery is at-least-once: after a failure, the batch is replayed with the same ID
// and the same rows; write idempotently by batchID for exactly-once output.
//
// A micro-batch that the query produced in several Arrow batches (a large Kinesis micro-batch
// has one per GetRecords answer; small answers are coalesced) is concatenated into one first: a copy, so that while fn runs the
// micro-batch is in memory twice. ForeachTable hands over the same rows without the copy.
func (w *DataStreamWriter) ForeachBatch(fn func(ctx context.Context, batch arrow.RecordBatch, batchID int64) error) *DataStreamWriter {
	if fn == nil {
		w.problems = append(w.problems, errors.New("ForeachBatch: the function is nil"))
	}
	return w.sinkNew(func() sinks.Sink { return foreach.NewBatchSink(fn) })
}

// ForeachTable is ForeachBatch without the copy: fn gets the micro-batch as an Arrow table
// whose chunks are the batches the query produced, in order, which fn borrows (Retain what
// must outlive the call). Delivery is at-least-once, as with ForeachBatch.
func (w *DataStreamWriter) ForeachTable(fn func(ctx context.Context, table arrow.Table, batchID int64) error) *DataStreamWriter {
	if fn == nil {
		w.problems = append(w.problems, errors.New("ForeachTable: the function is nil"))
	}
	return w.sinkNew(func() sinks.Sink { return foreach.NewTableSink(fn) })
}

// ForeachWriter is Spark's ForeachWriter; see foreach.Writer.
type ForeachWriter = foreach.Writer

// Row is a borrowed view of one row; see arrowbatch.Row.
type Row = arrowbatch.Row

// Foreach calls the writer for every row: Open per micro-batch, Process per row, Close at the
// end. Delivery is at-least-once, as with ForeachBatch.
func (w *DataStreamWriter) Foreach(writer ForeachWriter) *DataStreamWriter {
	if writer == nil {
		w.problems = append(w.problems, errors.New("Foreach: the writer is nil"))
	}
	return w.sinkNew(func() sinks.Sink { return foreach.NewRowSink(writer) })
}

// ForeachFunc calls fn for every row; see Foreach.
func ForeachFunc(fn func(ctx context.Context, row Row) error) ForeachWriter {
	return foreach.RowFunc(fn)
}

// plan is a validated query, ready to run.
type plan struct {
	paths      []*sourcePath        // one per source, in order
	ops        []operators.Operator // every operator, once
	stateful   []*statefulPlan      // the stateful operators, upstream first
	watermarks []operators.EventTimeObserver
	schema     *arrow.Schema
	sink       sinks.Sink
	sinkDesc   string
	root       *node // this query's copy of the stream's graph (see cloneGraph)
	mode       sinks.OutputMode
	trigger    Trigger
	name       string
	checkpoint string // "" means a temporary one
	explain    string
	writer     *DataStreamWriter // checks the plan again once inferred schemas are known (infer.go)
	// inferPending is true while a source's schema is still to be inferred at Start: checks
	// that need the schemas of stateful operators wait for recheck.
	inferPending bool
}

// sourcePath is one source with, for each way its rows reach the sink (more than one only
// when a stream is unioned with itself), the operators on that way, in order.
type sourcePath struct {
	node   *node
	source sources.Source
	chains [][]operators.Operator
}

// resolve validates the whole query without I/O and returns its plan, or a *ValidationError.
func (w *DataStreamWriter) resolve() (*plan, error) {
	p := w.s.p
	probs := append([]error(nil), w.problems...)
	pl := &plan{trigger: w.trigger, name: w.name, root: cloneGraph(w.s.n)}

	// Sources and operators.
	bySource := map[*node]*sourcePath{}
	pl.schema = walkSchemas(pl.root, &probs, func(n *node) *arrow.Schema {
		src, err := w.makeSource(n)
		if err != nil {
			probs = addProblem(probs, err)
			n.unchecked = true // its schema is unknown because of this problem: not checked further
			return nil
		}
		n.source = src
		bySource[n] = &sourcePath{node: n, source: src}
		pl.paths = append(pl.paths, bySource[n])
		pl.writer = w
		// Decoded documents (a Kinesis source with format=json), nil until Start infers them.
		out, err := p.sourceSchema(n, src)
		probs = addProblem(probs, err)
		n.unchecked = err != nil
		if _, docs := documentsOf(src); docs && out == nil && err == nil {
			pl.inferPending = true
		}
		return out
	}, func(n *node, in *arrow.Schema) bool {
		// A stateful operator after a source whose schema is still to be inferred is checked by
		// recheck once it is.
		_, ok := n.op.(operators.Stateful)
		return ok && in == nil && pl.inferPending
	})
	// Chains: every route from a source to the sink or to a stateful operator, and from each
	// stateful operator to the sink or the next stateful operator (see planStateful).
	seenOps := map[operators.Operator]bool{}
	byState := map[*node]*statefulPlan{}
	var walk func(n *node, below []operators.Operator)
	walk = func(n *node, below []operators.Operator) {
		switch n.kind {
		case sourceNode:
			if sp := bySource[n]; sp != nil {
				sp.chains = append(sp.chains, below)
			}
		case operatorNode:
			if n.op == nil {
				return
			}
			if !seenOps[n.op] {
				seenOps[n.op] = true
				pl.ops = append(pl.ops, n.op)
			}
			if st, ok := n.op.(operators.Stateful); ok {
				sn := byState[n]
				if sn == nil {
					sn = &statefulPlan{op: st, node: n, index: len(pl.stateful)}
					byState[n] = sn
					pl.stateful = append(pl.stateful, sn)
					walk(n.parents[0], []operators.Operator{n.op})
				}
				sn.suffixes = append(sn.suffixes, below)
				return
			}
			walk(n.parents[0], append([]operators.Operator{n.op}, below...))
		case unionNode:
			for _, par := range n.parents {
				// Every input goes through the union's relabelling: the schemas may be known
				// only once a source's documents' schema is inferred, after this plan.
				walk(par, append([]operators.Operator{&conformOp{union: n}}, below...))
			}
		}
	}
	walk(pl.root, nil)
	probs = append(probs, planStateful(pl)...)
	if len(pl.stateful) > 0 {
		probs = addProblem(probs, p.cfg.stateOpts.Validate())
	}

	// Sink.
	switch {
	case w.sinkKinds > 1:
		probs = append(probs, errors.New("WriteStream: give one of Format, Sink, ForeachBatch, ForeachTable or Foreach"))
	case w.sinkKinds == 0:
		probs = append(probs, errors.New("WriteStream: no sink: call Format, Sink, ForeachBatch, ForeachTable or Foreach"))
	}
	sinkOpts := map[string]string{}
	for k, v := range w.options {
		if strings.EqualFold(k, optCheckpointLocation) {
			pl.checkpoint = v
			if strings.TrimSpace(v) == "" {
				probs = append(probs, errors.New(`option "checkpointLocation": must not be empty`))
			}
			continue
		}
		sinkOpts[k] = v
	}
	if w.sink != nil {
		pl.sink = w.sink
		if w.sinkMk != nil {
			pl.sink = w.sinkMk() // each query its own (ForeachBatch, ForeachTable, Foreach)
		}
		if len(sinkOpts) > 0 && w.format == "" {
			keys := make([]string, 0, len(sinkOpts))
			for k := range sinkOpts {
				keys = append(keys, k)
			}
			probs = append(probs, fmt.Errorf("WriteStream: options %v are for a sink format, but the sink was given directly", keys))
		}
	} else if w.format != "" {
		f, err := p.cfg.sinks.Lookup(w.format)
		if err != nil {
			probs = append(probs, err)
		} else if snk, err := f(sinkOpts); err != nil {
			probs = addProblem(probs, err)
		} else {
			pl.sink = snk
		}
	}
	if pl.sink != nil {
		pl.sinkDesc = pl.sink.Description()
		if sc, ok := pl.sink.(sinks.SchemaChecker); ok && pl.schema != nil {
			if err := sc.CheckSchema(pl.schema); err != nil {
				probs = addProblem(probs, fmt.Errorf("sink %s: %w", pl.sinkDesc, err))
			}
		}
	}

	// Output mode.
	pl.mode = sinks.Append
	if w.mode != "" {
		m, err := sinks.ParseOutputMode(w.mode)
		if err != nil {
			probs = append(probs, err)
		}
		pl.mode = m
	}
	if !aggregationUnchecked(pl) {
		// Without a checked aggregation its event-time key is unknown: the problem already
		// reported is the one to fix, not a missing watermark.
		probs = append(probs, checkOutputMode(pl)...)
	}
	if om, ok := pl.sink.(sinks.OutputModes); ok && pl.mode != "" && !om.SupportsOutputMode(pl.mode) {
		probs = append(probs, fmt.Errorf("sink %s does not support output mode %s", pl.sinkDesc, pl.mode))
	}

	// Trigger and checkpoint.
	switch t := w.trigger.(type) {
	case nil:
		probs = append(probs, errors.New("Trigger: nil trigger"))
	case processingTime:
		if t.interval < 0 {
			probs = append(probs, fmt.Errorf("Trigger: ProcessingTime interval %s is negative", t.interval))
		}
	}
	if pl.checkpoint == "" && pl.sink != nil {
		tc, ok := pl.sink.(sinks.TemporaryCheckpointer)
		if !ok || !tc.AllowsTemporaryCheckpoint() {
			probs = append(probs, fmt.Errorf(`option "checkpointLocation" is required for sink %s (only console and memory sinks may run without one)`, pl.sinkDesc))
		}
	}
	if _, isMem := pl.sink.(*memsink.Sink); isMem && w.name == "" {
		probs = append(probs, errors.New("the memory sink needs a query name: call QueryName"))
	}
	if len(probs) > 0 {
		return nil, &ValidationError{Problems: probs}
	}
	pl.explain = w.explain(pl)
	return pl, nil
}

// aggregationUnchecked reports whether a streaming aggregation of pl could not be checked
// (its OutputSchema failed, or an operator before it did).
func aggregationUnchecked(pl *plan) bool {
	for _, sp := range pl.stateful {
		if sp.op.StateKind() == operators.Aggregation && sp.node.unchecked {
			return true
		}
	}
	return false
}

// walkSchemas computes the schema of every node from the sink's node root up to the sources,
// checking every operator and union on the way and adding their problems to probs. source
// gives a source node's schema; skip says an operator is not to be checked yet.
func walkSchemas(root *node, probs *[]error, source func(*node) *arrow.Schema, skip func(n *node, in *arrow.Schema) bool) *arrow.Schema {
	resolved := map[*node]*arrow.Schema{}
	// failed holds the operators whose OutputSchema failed without a schema, and what follows
	// them: their schema is unknown because of a problem already reported, so it is not
	// checked further (an aggregation would report that it needs a known schema).
	failed := map[*node]bool{}
	var visit func(n *node) *arrow.Schema
	visit = func(n *node) *arrow.Schema {
		if s, ok := resolved[n]; ok {
			return s
		}
		*probs = addProblem(*probs, n.err)
		var out *arrow.Schema
		switch n.kind {
		case sourceNode:
			out = source(n)
			failed[n] = out == nil && n.unchecked
		case operatorNode:
			in := visit(n.parents[0])
			if failed[n.parents[0]] {
				failed[n] = true
				n.unchecked = true
				break
			}
			if n.op == nil || (skip != nil && skip(n, in)) {
				break
			}
			s, err := n.op.OutputSchema(in)
			failed[n] = err != nil && s == nil // a schema given with the error is checked on
			n.unchecked = err != nil
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() { // list each problem on its own, named
					*probs = addProblem(*probs, fmt.Errorf("%s: %w", n.op.Name(), e))
				}
			} else if err != nil {
				*probs = addProblem(*probs, fmt.Errorf("%s: %w", n.op.Name(), err))
			}
			out = s
		case unionNode:
			ins := make([]*arrow.Schema, len(n.parents))
			ok := true
			for i, par := range n.parents {
				s := visit(par)
				ins[i] = s
				if failed[par] {
					failed[n] = true
				}
				if i == 0 {
					out = s
					continue
				}
				if err := unionCompatible(out, s); err != nil {
					*probs = addProblem(*probs, fmt.Errorf("Union: input %d: %w", i+1, err))
					ok = false
				}
			}
			n.unionIn, n.unionOut = nil, nil
			if !ok {
				break
			}
			if u := unionSchema(ins); u != nil {
				n.unionIn, n.unionOut, out = ins, u, u
			}
		}
		resolved[n] = out
		return out
	}
	return visit(root)
}

func (w *DataStreamWriter) makeSource(n *node) (sources.Source, error) {
	switch {
	case n.source != nil && n.format != "":
		return nil, fmt.Errorf("ReadStream: give Format(%q) or Source, not both", n.format)
	case n.source != nil:
		if len(n.options) > 0 {
			return nil, errors.New("ReadStream: options are for a source format, but the source was given directly")
		}
		return n.source, nil
	case n.format == "":
		return nil, errors.New("ReadStream: no source: call Format or Source")
	}
	f, err := w.s.p.cfg.sources.Lookup(n.format)
	if err != nil {
		return nil, err
	}
	return f(maps.Clone(n.options))
}

// unionSchema returns the schema of a union of inputs of compatible schemas: the first's
// names and metadata, each column nullable when it is in any input (as Spark's union). It is
// nil when an input's schema is known only at run time.
func unionSchema(ins []*arrow.Schema) *arrow.Schema {
	if len(ins) == 0 || slices.Contains(ins, nil) {
		return nil
	}
	fields := slices.Clone(ins[0].Fields())
	for _, in := range ins[1:] {
		for i := range fields {
			fields[i].Nullable = fields[i].Nullable || in.Field(i).Nullable
			fields[i].Type = mergeShape(fields[i].Type, in.Field(i).Type)
		}
	}
	md := ins[0].Metadata()
	return arrow.NewSchema(fields, &md)
}

// conformOp relabels the batches of a union's input with the union's schema (unionOut, set by
// walkSchemas at Start or once inferred schemas are known): same column types, the first
// input's names, nullability where any input has it. No data is copied. While the union's
// schema is unknown, batches pass as they are.
type conformOp struct{ union *node }

func (c *conformOp) Name() string { return "Union" }

func (c *conformOp) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	if u := c.union.unionOut; u != nil {
		return u, nil
	}
	return in, nil
}

func (c *conformOp) Process(_ context.Context, in arrow.RecordBatch, emit operators.Emit) error {
	u := c.union.unionOut
	if u == nil || in.Schema() == u || in.Schema().Equal(u) {
		return emit(in)
	}
	if in.NumCols() != int64(u.NumFields()) {
		return fmt.Errorf("Union: a batch with %d columns; the union has %d", in.NumCols(), u.NumFields())
	}
	cols := make([]arrow.Array, len(in.Columns()))
	for i, col := range in.Columns() {
		d := relabel(col.Data(), u.Field(i).Type)
		cols[i] = array.MakeFromData(d)
		d.Release()
	}
	defer func() {
		for _, col := range cols {
			col.Release()
		}
	}()
	out := array.NewRecordBatch(u, cols, in.NumRows())
	defer out.Release()
	return emit(out)
}

// sameShape reports whether values of types a and b have the same layout: equal types, or
// structs and lists whose fields differ only in names and nullability (Spark's union checks
// the types structurally, ignoring them).
func sameShape(a, b arrow.DataType) bool {
	if arrow.TypeEqual(a, b) {
		return true
	}
	switch at := a.(type) {
	case *arrow.StructType:
		bt, ok := b.(*arrow.StructType)
		if !ok || at.NumFields() != bt.NumFields() {
			return false
		}
		for i := range at.NumFields() {
			if !sameShape(at.Field(i).Type, bt.Field(i).Type) {
				return false
			}
		}
		return true
	case *arrow.ListType:
		bt, ok := b.(*arrow.ListType)
		return ok && sameShape(at.Elem(), bt.Elem())
	case *arrow.LargeListType:
		bt, ok := b.(*arrow.LargeListType)
		return ok && sameShape(at.Elem(), bt.Elem())
	case *arrow.FixedSizeListType:
		bt, ok := b.(*arrow.FixedSizeListType)
		return ok && at.Len() == bt.Len() && sameShape(at.Elem(), bt.Elem())
	}
	return false
}

// mergeShape returns a's type with the nested fields nullable where b's are (a and b have the
// same shape); names are a's.
func mergeShape(a, b arrow.DataType) arrow.DataType {
	if arrow.TypeEqual(a, b) {
		return a
	}
	merge := func(fa, fb arrow.Field) arrow.Field {
		fa.Nullable = fa.Nullable || fb.Nullable
		fa.Type = mergeShape(fa.Type, fb.Type)
		return fa
	}
	switch at := a.(type) {
	case *arrow.StructType:
		bt := b.(*arrow.StructType)
		fields := make([]arrow.Field, at.NumFields())
		for i := range fields {
			fields[i] = merge(at.Field(i), bt.Field(i))
		}
		return arrow.StructOf(fields...)
	case *arrow.ListType:
		return arrow.ListOfField(merge(at.ElemField(), b.(*arrow.ListType).ElemField()))
	case *arrow.LargeListType:
		return arrow.LargeListOfField(merge(at.ElemField(), b.(*arrow.LargeListType).ElemField()))
	case *arrow.FixedSizeListType:
		return arrow.FixedSizeListOfField(at.Len(), merge(at.ElemField(), b.(*arrow.FixedSizeListType).ElemField()))
	}
	return a
}

// relabel returns d's data as type dt, which has the same shape (see sameShape): the same
// buffers, without copying.
func relabel(d arrow.ArrayData, dt arrow.DataType) arrow.ArrayData {
	if arrow.TypeEqual(d.DataType(), dt) {
		d.Retain()
		return d
	}
	var children []arrow.ArrayData
	switch t := dt.(type) {
	case *arrow.StructType:
		for i, c := range d.Children() {
			children = append(children, relabel(c, t.Field(i).Type))
		}
	case arrow.ListLikeType:
		children = []arrow.ArrayData{relabel(d.Children()[0], t.Elem())}
	}
	out := array.NewData(dt, d.Len(), d.Buffers(), children, d.NullN(), d.Offset())
	for _, c := range children {
		c.Release()
	}
	return out
}

func unionCompatible(a, b *arrow.Schema) error {
	if a == nil || b == nil {
		return nil // known only at run time
	}
	if a.NumFields() != b.NumFields() {
		return fmt.Errorf("has %d columns, the first input has %d", b.NumFields(), a.NumFields())
	}
	for i := range a.NumFields() {
		if !sameShape(a.Field(i).Type, b.Field(i).Type) {
			return fmt.Errorf("column %d (%s) has type %s, the first input's (%s) has %s", i+1, b.Field(i).Name, b.Field(i).Type, a.Field(i).Name, a.Field(i).Type)
		}
	}
	return nil
}

// redactedOptions returns a source node's options fit for printing.
func redactedOptions(n *node) map[string]string {
	if r, ok := n.source.(sources.OptionRedactor); ok {
		return r.RedactOptions(n.options)
	}
	return redactGeneric(n.options)
}

func redactGeneric(kv map[string]string) map[string]string {
	out := make(map[string]string, len(kv))
	for k, v := range kv {
		if optspec.LooksSecret(k) {
			v = optspec.Redacted
		}
		out[k] = v
	}
	return out
}

// explain renders the plan as a tree, sink first, like Spark's explain().
func (w *DataStreamWriter) explain(pl *plan) string {
	var b strings.Builder
	b.WriteString("== Streaming Query ==\n")
	if pl.name != "" {
		fmt.Fprintf(&b, "Name: %s\n", pl.name)
	}
	fmt.Fprintf(&b, "Trigger: %s\nOutput mode: %s\n", pl.trigger, pl.mode)
	cp := pl.checkpoint
	if cp == "" {
		cp = "(temporary)"
	}
	fmt.Fprintf(&b, "Checkpoint: %s\n", cp)
	b.WriteString("== Plan ==\n")
	sink := "Sink " + pl.sinkDesc
	if w.format != "" {
		opts := map[string]string{}
		for k, v := range w.options {
			if !strings.EqualFold(k, optCheckpointLocation) {
				opts[k] = v
			}
		}
		if r, ok := pl.sink.(sinks.OptionRedactor); ok {
			opts = r.RedactOptions(opts)
		} else {
			opts = redactGeneric(opts)
		}
		var sb strings.Builder
		sb.WriteString("Sink " + w.format)
		writeOptions(&sb, opts)
		sink = sb.String()
	}
	b.WriteString(sink + "\n")
	var tree func(n *node, prefix string, last bool)
	tree = func(n *node, prefix string, last bool) {
		mark := ":- "
		if last {
			mark = "+- "
		}
		b.WriteString(prefix + mark + n.describe(redactedOptions) + "\n")
		child := prefix + ":  "
		if last {
			child = prefix + "   "
		}
		for i, p := range n.parents {
			tree(p, child, i == len(n.parents)-1)
		}
	}
	tree(pl.root, "", true)
	if pl.schema != nil {
		b.WriteString("== Output Schema ==\n")
		for _, f := range pl.schema.Fields() {
			fmt.Fprintf(&b, "%s: %s (nullable = %t)\n", f.Name, f.Type, f.Nullable)
		}
	}
	return b.String()
}

// Start validates the query and starts it. It reports every problem with the query at once, as
// a *ValidationError, before any I/O (after a source whose schema is inferred, the operators
// are checked again once it is: see the package comment). Then it takes the checkpoint's lock (a second query on the
// same checkpoint fails here, with an error wrapping checkpoint.ErrLocked), opens the sources
// and the sink and starts the query's goroutine.
//
// ctx bounds the query's whole life: cancelling it stops the query at once, abandoning the
// batch in flight (which is replayed at the next start). Query.Stop stops it gracefully.
func (w *DataStreamWriter) Start(ctx context.Context) (*Query, error) {
	pl, err := w.resolve()
	if err != nil {
		return nil, err
	}
	return start(ctx, w.s.p, pl)
}

// openCheckpoint opens (creating if needed) the checkpoint location of a plan.
func openCheckpoint(location string, open func(string) (checkpoint.Store, error)) (store checkpoint.Store, temp string, err error) {
	if location == "" {
		dir, err := os.MkdirTemp("", "sluice-checkpoint-")
		if err != nil {
			return nil, "", fmt.Errorf("sluice: temporary checkpoint: %w", err)
		}
		location, temp = dir, dir
	}
	if open != nil && temp == "" {
		store, err = open(location)
	} else {
		store, err = checkpoint.NewDir(location)
	}
	if err != nil {
		if temp != "" {
			_ = os.RemoveAll(temp)
		}
		return nil, "", err
	}
	return store, temp, nil
}

func nowMs(t time.Time) int64 { return t.UnixMilli() }
