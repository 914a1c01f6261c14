package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedev/sluice/checkpoint"
	"github.com/sluicedev/sluice/operators"
	"github.com/sluicedev/sluice/sinks"
	// The development sinks and sources are always available, as in Spark.
	_ "github.com/sluicedev/sluice/sinks/console"
	memsink "github.com/sluicedev/sluice/sinks/memory"
	"github.com/sluicedev/sluice/sources"
	_ "github.com/sluicedev/sluice/sources/rate"
	"github.com/sluicedev/sluice/state"
)

// Pipeline creates streams and manages the queries started from them, like Spark's
// SparkSession and StreamingQueryManager together. It is safe for concurrent use.
type Pipeline struct {
	cfg config

	mu     sync.Mutex
	active map[string]*Query // by query ID
	// starting holds the names of the queries being started (start reserves its name here
	// until the query is active or has failed, so that two Starts cannot both take it).
	starting map[string]bool
	tables   map[string]*memsink.Sink
	closing  bool
	bus      *listenerBus
}

type config struct {
	mem       memory.Allocator
	logger    *slog.Logger
	sources   *sources.Registry
	sinks     *sinks.Registry
	listeners []Listener
	retain    int64
	openStore func(location string) (checkpoint.Store, error)
	onError   operators.ErrorPolicy
	stateOpts state.Options
}

// Option configures a Pipeline.
type Option func(*config)

// WithAllocator sets the allocator of every Arrow buffer the pipeline's queries build.
// Default: memory.DefaultAllocator.
func WithAllocator(mem memory.Allocator) Option { return func(c *config) { c.mem = mem } }

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithSourceRegistry makes ReadStream().Format look up sources in r instead of
// sources.Default.
func WithSourceRegistry(r *sources.Registry) Option { return func(c *config) { c.sources = r } }

// WithSinkRegistry makes WriteStream().Format look up sinks in r instead of sinks.Default.
func WithSinkRegistry(r *sinks.Registry) Option { return func(c *config) { c.sinks = r } }

// WithListener adds a listener for the events of every query of the pipeline.
func WithListener(l Listener) Option {
	return func(c *config) { c.listeners = append(c.listeners, l) }
}

// WithMinBatchesToRetain sets how many recent batches the checkpoint keeps (Spark's
// spark.sql.streaming.minBatchesToRetain). Default 100; at least 1.
func WithMinBatchesToRetain(n int) Option {
	return func(c *config) { c.retain = int64(max(n, 1)) }
}

// WithCheckpointStore makes queries open their checkpointLocation with open instead of as a
// local directory: for other storage, or to inject faults in tests.
func WithCheckpointStore(open func(location string) (checkpoint.Store, error)) Option {
	return func(c *config) { c.openStore = open }
}

// WithErrorPolicy sets the queries' default error policy: that of every transform that no
// OnError before it overrides, and of the decoding of documents at a source (a Kinesis source
// with format=json), where no OnError can reach. Default: FailBatch. See OnError.
func WithErrorPolicy(p ErrorPolicy) Option { return func(c *config) { c.onError = p } }

// WithStateStore sets how queries keep the state of stateful operators (GroupBy, DropDuplicates):
// the backend ("memory", the default, or "pebble" for state larger than memory) and how often a
// full snapshot is written. MinVersionsToRetain defaults to WithMinBatchesToRetain's value.
func WithStateStore(opts state.Options) Option { return func(c *config) { c.stateOpts = opts } }

// New returns a Pipeline.
func New(opts ...Option) *Pipeline {
	cfg := config{mem: memory.DefaultAllocator, logger: slog.Default(), sources: sources.Default, sinks: sinks.Default, retain: 100}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Pipeline{cfg: cfg, active: map[string]*Query{}, tables: map[string]*memsink.Sink{}, bus: newListenerBus(cfg.logger)}
}

// Active returns the queries of this pipeline that are running.
func (p *Pipeline) Active() []*Query {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Query, 0, len(p.active))
	for _, q := range p.active {
		out = append(out, q)
	}
	return out
}

// MemoryTable returns the table of the "memory" sink of the query named name (see
// DataStreamWriter.QueryName). The table stays readable after the query stops, until Close.
func (p *Pipeline) MemoryTable(name string) (*memsink.Sink, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.tables[name]
	return t, ok
}

// Close stops every active query (see Query.Stop), waits within ctx for the listeners to have
// every event (not when a listener calls it), and releases the memory tables.
func (p *Pipeline) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closing = true
	qs := make([]*Query, 0, len(p.active))
	for _, q := range p.active {
		qs = append(qs, q)
	}
	p.mu.Unlock()
	var errs []error
	for _, q := range qs {
		errs = append(errs, q.Stop(ctx))
	}
	if p.bus.delivering() {
		// Called by a listener: the events after the one it handles wait for it to return.
	} else if err := p.bus.drain(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close: the listeners have not had every event: %w", err))
	}
	p.mu.Lock()
	for _, t := range p.tables {
		t.Release()
	}
	p.tables = map[string]*memsink.Sink{}
	p.mu.Unlock()
	return errors.Join(errs...)
}

// DataStreamReader builds a streaming source, like Spark's DataStreamReader.
type DataStreamReader struct {
	p       *Pipeline
	format  string
	options map[string]string
	source  sources.Source
	schema  *arrow.Schema
}

// ReadStream starts describing a streaming source.
func (p *Pipeline) ReadStream() *DataStreamReader {
	return &DataStreamReader{p: p, options: map[string]string{}}
}

// Format names the source's format, such as "kinesis" or "rate".
func (r *DataStreamReader) Format(name string) *DataStreamReader {
	r.format = name
	return r
}

// Option sets one source option. Keys are case-insensitive; values are parsed at Start.
func (r *DataStreamReader) Option(key, value string) *DataStreamReader {
	r.options[key] = value
	return r
}

// Options sets several source options.
func (r *DataStreamReader) Options(kv map[string]string) *DataStreamReader {
	maps.Copy(r.options, kv)
	return r
}

// Source uses src directly instead of a format from the registry (the typed path).
func (r *DataStreamReader) Source(src sources.Source) *DataStreamReader {
	r.source = src
	return r
}

// Schema gives the schema of the documents the source's rows carry, like Spark's
// DataStreamReader.schema: for a Kinesis source with option format=json, the JSON fields that
// each record's data is decoded into (keys not in schema are ignored, missing keys give nulls).
// Without it, such a source infers the schema when its option inferSchema is true. A source
// that does not decode documents refuses it at Start.
func (r *DataStreamReader) Schema(schema *arrow.Schema) *DataStreamReader {
	r.schema = schema
	return r
}

// Load returns the stream of the source's rows.
func (r *DataStreamReader) Load() *Stream {
	n := &node{kind: sourceNode, format: r.format, options: maps.Clone(r.options), source: r.source, schema: r.schema}
	return &Stream{p: r.p, n: n}
}

// Stream is an unbounded table: the rows of a source, transformed. Streams are immutable:
// every method returns a new Stream and leaves the receiver as it was.
type Stream struct {
	p *Pipeline
	n *node
}

type nodeKind int

const (
	sourceNode nodeKind = iota
	operatorNode
	unionNode
)

// node is one step of the recorded plan.
type node struct {
	kind    nodeKind
	parents []*node
	// sourceNode
	format  string
	options map[string]string
	source  sources.Source
	schema  *arrow.Schema // the documents' schema given with DataStreamReader.Schema
	// operatorNode
	op operators.Operator
	// mk makes a new instance of op for each query started (nil for an operator the user gave
	// to Transform, which every query shares)
	mk func() operators.Operator
	// problems found while building (reported by Start)
	err error
	// unchecked: the operator's OutputSchema failed at Start, or that of an operator before it
	// (set by walkSchemas on the query's copy of the graph)
	unchecked bool
	// unionNode: the schemas of its inputs and its own (the first input's names, nullable where
	// any input is), set by walkSchemas when all are known; inputs that differ from it are
	// conformed to it (see conformOp)
	unionIn  []*arrow.Schema
	unionOut *arrow.Schema
}

func (s *Stream) with(n *node) *Stream { return &Stream{p: s.p, n: n} }

// Transform appends an operator to the stream. It is how the operator packages plug into the
// builder; MapBatch, Filter and the others are shorthands for it. The operator given is the
// one every query started from the stream uses: a stateful operator given here must not run in
// two queries at once (the shorthands make a new operator for each query).
func (s *Stream) Transform(op operators.Operator) *Stream {
	n := &node{kind: operatorNode, parents: []*node{s.n}, op: op}
	if op == nil {
		n.err = errors.New("Transform: the operator is nil")
	}
	return s.with(n)
}

// transformNew appends the operator mk makes; each query started from the stream gets its own
// instance (see cloneGraph).
func (s *Stream) transformNew(mk func() operators.Operator) *Stream {
	out := s.Transform(mk())
	out.n.mk = mk
	return out
}

// cloneGraph copies the nodes of a query's graph for one Start, so that what Start resolves
// (the sources made from formats, new operator instances) belongs to that query: a stream or
// a writer may be started again, or into several sinks, as in Spark.
func cloneGraph(root *node) *node {
	seen := map[*node]*node{}
	var clone func(n *node) *node
	clone = func(n *node) *node {
		if c, ok := seen[n]; ok {
			return c
		}
		c := *n
		seen[n] = &c
		c.parents = make([]*node, len(n.parents))
		for i, p := range n.parents {
			c.parents[i] = clone(p)
		}
		if n.mk != nil {
			c.op = n.mk()
		}
		return &c
	}
	return clone(root)
}

// BatchFunc is a Go function over whole batches; see MapBatch.
type BatchFunc = operators.BatchFunc

// MapBatch applies fn to every Arrow batch of the stream. fn borrows its input; it returns a
// batch to pass on (the input itself, or a new batch which sluice releases), or nil to drop the
// batch. fn may be called concurrently. schema declares the output schema, so that later stages
// are checked at Start; pass nil when it is the input's schema (fn then must keep it).
func (s *Stream) MapBatch(fn BatchFunc, schema ...*arrow.Schema) *Stream {
	var sch *arrow.Schema
	switch len(schema) {
	case 0:
	case 1:
		sch = schema[0]
	default:
		n := &node{kind: operatorNode, parents: []*node{s.n}, op: operators.MapBatch("", nil, fn)}
		n.err = errors.New("MapBatch: give at most one schema")
		return s.with(n)
	}
	return s.transformNew(func() operators.Operator {
		op := operators.MapBatch("MapBatch", sch, fn)
		if sch == nil {
			op = &keepSchema{Operator: op}
		}
		return op
	})
}

// keepSchema declares that an operator keeps its input's schema.
type keepSchema struct{ operators.Operator }

func (k *keepSchema) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	if _, err := k.Operator.OutputSchema(in); err != nil {
		return nil, err
	}
	return in, nil
}

// Union returns the rows of s and of every other stream (Spark's union: all rows, duplicates
// kept, columns matched by position). All streams must come from the same Pipeline and have the
// same column types, compared as Spark compares them: structs and lists whose fields differ
// only in names or nullability match. The result has s's column (and field) names, and a column
// or field is nullable when it is in any of the streams (the other streams' batches are
// relabelled, without copying).
func (s *Stream) Union(others ...*Stream) *Stream {
	n := &node{kind: unionNode, parents: []*node{s.n}}
	for i, o := range others {
		if o == nil || o.p != s.p {
			n.err = fmt.Errorf("Union: stream %d is nil or belongs to another Pipeline", i+1)
			continue
		}
		n.parents = append(n.parents, o.n)
	}
	return s.with(n)
}

// describe returns a node's one-line description for Explain.
func (n *node) describe(redact func(*node) map[string]string) string {
	switch n.kind {
	case sourceNode:
		if n.source != nil && n.format == "" {
			return "Source " + n.source.Description()
		}
		var b strings.Builder
		b.WriteString("Source ")
		b.WriteString(n.format)
		writeOptions(&b, redact(n))
		if n.source != nil {
			b.WriteString(" ")
			b.WriteString(n.source.Description())
		}
		return b.String()
	case operatorNode:
		if n.op == nil {
			return "Operator <nil>"
		}
		return n.op.Name()
	default:
		return "Union"
	}
}

func writeOptions(b *strings.Builder, kv map[string]string) {
	if len(kv) == 0 {
		return
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b.WriteString(" [")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(b, "%s=%s", k, kv[k])
	}
	b.WriteString("]")
}
