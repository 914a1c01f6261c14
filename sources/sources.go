// Package sources defines what a streaming source implements and the registry that finds a
// source by its format name, as database/sql finds drivers.
//
// # Model
//
// A Source is replayable and offset-based, as in Spark Structured Streaming's
// MicroBatchStream. Each micro-batch covers a range of offsets [start, end): the coordinator
// asks the source for the latest offset it can serve, writes the range to the checkpoint's
// offset log, asks the source to read exactly that range, and after the sink has committed
// the batch it tells the source that everything up to end may be forgotten. After a crash the
// coordinator asks the source to read the same range again, so Read must be repeatable: the
// same range yields the same rows.
//
// # Lifecycle
//
//	src := factory(options)          // no I/O, no goroutines
//	src.Schema()                     // any time; static for the source's life
//	src.Open(ctx, info)              // once; I/O allowed; may start background prefetching
//	loop, one call at a time:
//	    src.InitialOffset(ctx)       // only when the checkpoint has no offsets yet
//	    src.LatestOffset(ctx, start, limit)
//	    src.Read(ctx, start, end, emit)
//	    src.Commit(ctx, end)
//	src.Close(ctx)                   // once, also after a failed Open
//
// A source whose rows carry documents (DocumentSource) may have to infer their schema: the
// query then calls InferSchema once, after Open and before InitialOffset (see SchemaInferrer).
//
// Calls on one source are never concurrent with each other, except that Close may be called
// while another call is blocked (it must then make that call return promptly). Read may call
// emit from several goroutines at once (for example one per shard group); emit is safe for
// that and blocks when downstream is busy, which is how back-pressure reaches the source.
//
// # Batches
//
// emit borrows the batch: it does not release it, and it retains it if it keeps it. The
// source releases its own reference after emit returns. Every batch has exactly Schema().
package sources

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedev/sluice/internal/registry"
)

// Offset is a source's position as canonical JSON. Sources define its contents; the
// coordinator stores it in the checkpoint verbatim and compares offsets byte for byte, so a
// source must encode equal positions identically (encoding/json of structs and maps does).
type Offset = json.RawMessage

// ReadLimit bounds how much one micro-batch may take. The zero value means no limit.
type ReadLimit struct {
	// MaxRows bounds the rows of one batch; 0 means no bound.
	MaxRows int64
	// MaxBytes bounds the payload bytes of one batch; 0 means no bound.
	MaxBytes int64
}

// Info is what a source learns when it is opened.
type Info struct {
	// QueryID is the query's stable ID, kept in the checkpoint.
	QueryID string
	// Index is the source's position in the query (0 for the first source).
	Index int
	// MetadataDir is a directory inside the checkpoint reserved for this source, or "" when
	// the query has no durable checkpoint. The source may keep files there.
	MetadataDir string
	// Allocator allocates every Arrow buffer the source builds.
	Allocator memory.Allocator
	// Logger is the query's logger.
	Logger *slog.Logger
}

// Emit receives one batch from a source; it borrows the batch.
type Emit func(arrow.RecordBatch) error

// Source is a replayable, offset-based streaming source. See the package comment for the
// lifecycle and the batch ownership rule.
type Source interface {
	// Description names the source in progress reports and Explain output, e.g.
	// "KinesisV2[stream-a]". It must not contain secrets.
	Description() string
	// Schema is the schema of every batch the source emits.
	Schema() *arrow.Schema
	// Open prepares the source. It may do I/O and start background work owned by the source,
	// which Close stops.
	Open(ctx context.Context, info Info) error
	// InitialOffset is where a query with an empty checkpoint starts.
	InitialOffset(ctx context.Context) (Offset, error)
	// LatestOffset returns the end of the next batch starting at start, within limit. It
	// returns start itself when no new data is available.
	LatestOffset(ctx context.Context, start Offset, limit ReadLimit) (Offset, error)
	// Read emits the rows in [start, end). It must emit the same rows for the same range on
	// every call, also in another process after a restart.
	Read(ctx context.Context, start, end Offset, emit Emit) error
	// Commit says that the sink has durably processed everything before end; the source may
	// drop what it buffered for it.
	Commit(ctx context.Context, end Offset) error
	// Close stops background work and frees resources.
	Close(ctx context.Context) error
}

// AvailableNow is implemented by sources that support Trigger.AvailableNow themselves:
// PrepareForAvailableNow fixes the end of the data to process (for example "now"), and
// LatestOffset never goes past it afterwards. For a source that does not implement it, the
// coordinator takes LatestOffset with no limit once, at start, as the end.
type AvailableNow interface {
	PrepareForAvailableNow(ctx context.Context) error
}

// AvailableNowWaiter is implemented by AvailableNow sources whose LatestOffset offers only what
// they have fetched so far (a prefetching source). Under Trigger.Once the coordinator calls
// PrepareForAvailableNow, then AwaitAvailableNow with the batch's start, which returns once
// LatestOffset(start) can offer everything up to the end PrepareForAvailableNow fixed (or the
// source can hold no more), so that the one batch holds all of it. (Data a source may only offer after a commit, such as the children of a closed Kinesis
// shard, is left for the next query, as AvailableNow's later batches would read it.)
type AvailableNowWaiter interface {
	AwaitAvailableNow(ctx context.Context, start Offset) error
}

// AvailableNowBatchWaiter is implemented by prefetching AvailableNow sources that read several
// partitions (Kinesis shards) at their own pace. Under Trigger.AvailableNow the coordinator
// calls AwaitAvailableNowBatch with the start of each batch; it returns once every partition
// that can be read has data for the batch (or has been read to the end fixed by
// PrepareForAvailableNow), so that each batch holds a part of every partition, not only of the
// one fetched first (whose event times would move a watermark past the others' rows).
type AvailableNowBatchWaiter interface {
	AwaitAvailableNowBatch(ctx context.Context, start Offset) error
}

// Limiter is implemented by sources that have their own default limit per batch (such as a
// maximum of records per trigger). The coordinator uses it for every trigger but Once.
type Limiter interface {
	DefaultReadLimit() ReadLimit
}

// MetricsReporter is implemented by sources that report metrics in query progress, such as
// avgMsBehindLatest. Values are strings, as in Spark's SourceProgress.metrics.
type MetricsReporter interface {
	Metrics(latestConsumed Offset) map[string]string
}

// Documents says that a source's rows carry documents which the query decodes into typed
// columns, as the Kinesis source's data does with its option format=json.
type Documents struct {
	// Format is the documents' format: "json" (one JSON object per row) is the only one.
	Format string
	// Column names the binary or string column of Schema() that holds the documents.
	Column string
	// Schema is the documents' schema when the source's options give it; nil otherwise (the
	// query then takes the one given with DataStreamReader.Schema, or infers one).
	Schema *arrow.Schema
	// Infer says that, when no schema is given, the source infers one with InferSchema (it then
	// implements SchemaInferrer).
	Infer bool
}

// RecordKeyer is implemented by sources whose rows carry string columns that identify a record
// (for Kinesis: shardId and sequenceNumber). When a row fails under the FailBatch policy (a
// malformed document, an expression's error), the query's error names the record by them, as
// long as the failing stage's input still has those columns.
type RecordKeyer interface {
	RecordKey() []string
}

// DocumentSource is implemented by sources whose rows may carry documents to decode. The query
// decodes them right after the source: the rows it passes on have the documents' fields first,
// then the source's other columns in order (Column itself is left out); a field named like one
// of those columns is an error. Rows whose document is malformed follow the query's error
// policy. Read still emits batches of Schema(): the source does not decode.
type DocumentSource interface {
	// Documents describes the documents; ok is false when the rows are not to be decoded (for
	// Kinesis, format=raw). It does no I/O and returns the same at every call.
	Documents() (d Documents, ok bool)
}

// SchemaInferrer is implemented by DocumentSources that can infer their documents' schema from
// the data, as Spark's inferSchema option does.
//
// The query calls InferSchema at most once, after Open and before any other call of the
// lifecycle (InitialOffset, LatestOffset, Read), and only when Documents().Infer is true, no
// schema is given and none is kept in the checkpoint: the query keeps the schema it gets there
// (sources/<i>/schema), so that a restarted query decodes with the same schema instead of
// inferring another from other records.
type SchemaInferrer interface {
	// InferSchema reads a sample of the records from start, the offset the query's next batch
	// will start at, or, when start is nil (a new query), from the source's initial position.
	// It does not consume them: the batches read them again. An error means the query cannot
	// start; it says what to do when there are no records to sample.
	InferSchema(ctx context.Context, start Offset) (*arrow.Schema, error)
}

// OptionRedactor is implemented by sources with secret options; Explain prints options through
// it. Without it, option keys that look like credentials are redacted.
type OptionRedactor interface {
	RedactOptions(map[string]string) map[string]string
}

// Factory builds a source from its options. It does no I/O and reports every problem with the
// options at once, each naming its key.
type Factory func(options map[string]string) (Source, error)

// Registry maps case-insensitive format names to factories; the zero value is empty and
// ready to use. Tests build their own instead of touching Default.
type Registry struct{ r registry.Registry[Factory] }

// Default is the registry that ReadStream().Format(name) uses unless the pipeline is given
// another. Source packages register themselves here in init.
var Default = &Registry{}

// Register adds a factory under a case-insensitive format name. It panics if the name is
// taken, as database/sql.Register does: two packages claiming one name is a program error.
func (r *Registry) Register(name string, f Factory) { r.r.Register(name, f) }

// Register adds a factory to Default.
func Register(name string, f Factory) { Default.Register(name, f) }

// Formats lists the registered format names, sorted.
func (r *Registry) Formats() []string { return r.r.Formats() }

// ErrUnknownFormat is wrapped by Lookup's error for a name nobody registered.
var ErrUnknownFormat = registry.ErrUnknownFormat

// knownImports names the package that registers each of the project's own formats, so that
// an unknown-format error can say which import is missing.
var knownImports = map[string]string{
	"kinesis":          "github.com/sluicedev/sluice/sources/kinesis",
	"rate":             "github.com/sluicedev/sluice/sources/rate",
	"rate-micro-batch": "github.com/sluicedev/sluice/sources/rate",
}

// Lookup returns the factory for name; for an unknown name the error wraps ErrUnknownFormat,
// lists the registered formats and names the import that registers the format, if known.
func (r *Registry) Lookup(name string) (Factory, error) {
	return r.r.Lookup("source", name, knownImports)
}
