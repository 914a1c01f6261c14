// Package sinks defines what a streaming sink implements and the registry that finds a sink
// by its format name.
//
// # Lifecycle
//
//	snk := factory(options)            // no I/O, no goroutines
//	snk.Open(ctx, info)                // once, at query start; I/O allowed
//	for each micro-batch, one at a time:
//	    w := snk.Begin(ctx, batchID)
//	    w.Write(ctx, batch) ...        // zero or more times, never concurrently
//	    w.Commit(ctx)                  // the batch is durable when Commit returns nil
//	    or w.Abort(ctx)                // the batch failed; it will be replayed later
//	snk.Close(ctx)                     // once, also after a failed Open
//
// A batch ID may be begun again after a crash or an aborted attempt: the coordinator replays
// a batch whose commit it did not record. A sink that can tell which batches it already holds
// implements Idempotent, and the coordinator then skips them, so such a sink sees each batch
// ID committed once. Other sinks are at-least-once: they may see a batch again after a
// failure, with exactly the same rows.
//
// # Batches
//
// Write borrows the batch: it retains it if it keeps it past the call.
package sinks

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedev/sluice/internal/registry"
)

// OutputMode says what a streaming query writes to its sink after each micro-batch, as in
// Spark: only new rows (Append), rows that changed (Update), or the whole result (Complete).
type OutputMode string

// The output modes.
const (
	Append   OutputMode = "append"
	Update   OutputMode = "update"
	Complete OutputMode = "complete"
)

// ParseOutputMode parses an output mode name, case-insensitively.
func ParseOutputMode(s string) (OutputMode, error) {
	switch m := OutputMode(strings.ToLower(strings.TrimSpace(s))); m {
	case Append, Update, Complete:
		return m, nil
	}
	return "", fmt.Errorf("unknown output mode %q: must be append, update or complete", s)
}

// Info is what a sink learns when it is opened.
type Info struct {
	// QueryID is the query's stable ID, kept in the checkpoint.
	QueryID string
	// QueryName is the name given with QueryName, or "".
	QueryName string
	// Schema is the schema of every batch the sink will receive.
	Schema *arrow.Schema
	// OutputMode is the query's output mode.
	OutputMode OutputMode
	// Allocator is the query's allocator.
	Allocator memory.Allocator
	// Logger is the query's logger.
	Logger *slog.Logger
}

// Sink receives the output of a streaming query, one micro-batch at a time. See the package
// comment for the lifecycle.
type Sink interface {
	// Description names the sink in progress reports and Explain output. No secrets.
	Description() string
	// Open prepares the sink.
	Open(ctx context.Context, info Info) error
	// Begin starts writing micro-batch batchID.
	Begin(ctx context.Context, batchID int64) (BatchWriter, error)
	// Close releases the sink's resources.
	Close(ctx context.Context) error
}

// BatchWriter writes one micro-batch.
type BatchWriter interface {
	// Write adds rows to the batch. It borrows rec.
	Write(ctx context.Context, rec arrow.RecordBatch) error
	// Commit makes the batch durable; after it returns nil the batch must survive a crash.
	Commit(ctx context.Context) error
	// Abort discards what Write added, as far as the sink can; the batch will be replayed.
	Abort(ctx context.Context) error
}

// Idempotent is implemented by sinks that know which batches they hold. LastBatchID returns
// the highest batch ID committed to the sink (ok is false when none), and the coordinator does
// not begin a batch at or below it again: such a sink sees each batch once.
type Idempotent interface {
	LastBatchID(ctx context.Context) (id int64, ok bool, err error)
}

// SchemaChecker is implemented by sinks that accept only some input schemas (a Kinesis sink
// needs data and partitionKey columns). Start calls CheckSchema before any I/O, so a query
// whose output does not fit fails at once with the sink's reason among its other problems.
type SchemaChecker interface {
	CheckSchema(schema *arrow.Schema) error
}

// TemporaryCheckpointer is implemented by sinks that may run without a checkpointLocation
// (console, memory): the query then uses a temporary one and logs a warning, as Spark does.
type TemporaryCheckpointer interface {
	AllowsTemporaryCheckpoint() bool
}

// OutputModes is implemented by sinks that support only some output modes. Sinks that do not
// implement it support all three.
type OutputModes interface {
	SupportsOutputMode(OutputMode) bool
}

// OptionRedactor is implemented by sinks with secret options; Explain prints options through
// it. Without it, option keys that look like credentials are redacted.
type OptionRedactor interface {
	RedactOptions(map[string]string) map[string]string
}

// Factory builds a sink from its options. It does no I/O and reports every problem with the
// options at once, each naming its key.
type Factory func(options map[string]string) (Sink, error)

// Registry maps case-insensitive format names to factories; the zero value is empty and
// ready to use. Tests build their own instead of touching Default.
type Registry struct{ r registry.Registry[Factory] }

// Default is the registry that WriteStream().Format(name) uses unless the pipeline is given
// another. Sink packages register themselves here in init.
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

var knownImports = map[string]string{
	"console": "github.com/sluicedev/sluice/sinks/console",
	"memory":  "github.com/sluicedev/sluice/sinks/memory",
	"kinesis": "github.com/sluicedev/sluice/sinks/kinesis",
	"parquet": "github.com/sluicedev/sluice/sinks/file",
	"json":    "github.com/sluicedev/sluice/sinks/file",
}

// Lookup returns the factory for name; for an unknown name the error wraps ErrUnknownFormat,
// lists the registered formats and names the import that registers the format, if known.
func (r *Registry) Lookup(name string) (Factory, error) {
	return r.r.Lookup("sink", name, knownImports)
}
