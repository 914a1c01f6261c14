package operators

import (
	"context"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedev/sluice/state"
)

// StateKind tells the planner what a stateful operator does, for the output-mode rules.
type StateKind int

const (
	// Aggregation groups rows and emits one row per group (GroupBy().Agg()).
	Aggregation StateKind = iota + 1
	// Deduplication passes on the first row of each key (DropDuplicates).
	Deduplication
)

// Output modes, as the coordinator passes them in BatchInfo.Mode.
const (
	ModeAppend   = "append"
	ModeUpdate   = "update"
	ModeComplete = "complete"
)

// BatchInfo is what a stateful operator knows about the micro-batch it runs in.
type BatchInfo struct {
	// ID is the batch's ID.
	ID int64
	// WatermarkMs is the event-time watermark in effect for the batch, in Unix milliseconds;
	// meaningful only when HasWatermark. Rows whose event time is at or before it are late.
	WatermarkMs  int64
	HasWatermark bool
	// Mode is the query's output mode: ModeAppend, ModeUpdate or ModeComplete.
	Mode string
}

// Stateful is implemented by operators that keep state across micro-batches. On top of the
// Operator lifecycle, for every batch the coordinator calls
//
//	BeginBatch(ctx, info, store)   // once, before the batch's first Process
//	Process(ctx, batch, emit) ...  // concurrently, as for any operator
//	Finish(ctx, emit)              // once, after the last Process returned
//
// and then commits the store (or rolls it back when the batch failed). Process may emit rows at
// once (deduplication) or only accumulate them (aggregation); Finish updates the store and
// emits what the batch outputs in the output mode. Finish's emit goes to the operators after
// this one; it is called from one goroutine.
type Stateful interface {
	Operator
	// StateKind says what the operator does.
	StateKind() StateKind
	// EventTimeKey returns the name of the operator's key column that carries an event-time
	// watermark (see WatermarkDelayKey), or "" when none does. Valid after OutputSchema.
	EventTimeKey() string
	// BeginBatch starts a batch with the operator's state as of the batch's start. The store
	// stays valid until the next BeginBatch; the coordinator owns it.
	BeginBatch(ctx context.Context, info BatchInfo, st state.Store) error
	// Finish ends the batch: it writes the batch's changes to the store (without committing
	// them) and emits the batch's output.
	Finish(ctx context.Context, emit Emit) error
	// StateMetrics reports on the last batch, after Finish.
	StateMetrics() StateMetrics
}

// StateSchemaReporter is implemented by stateful operators that can describe the types of the
// state they keep (their keys, and for an aggregation its results), as Spark's state schema.
// The coordinator records it in the checkpoint beside the operator's name, so that a restart
// whose state would be read with other types (a key that became a string) fails clearly
// instead of starting over silently. Valid after OutputSchema; "" when unknown.
type StateSchemaReporter interface {
	StateSchema() string
}

// stateSchemaOf describes a schema's columns as "name type, ...".
func stateSchemaOf(s *arrow.Schema) string { return strings.Join(fieldList(s), ", ") }

// StateMetrics is a stateful operator's report on a batch, with the names of Spark's
// StateOperatorProgress.
type StateMetrics struct {
	// OperatorName names the operator, as Spark does: "stateStoreSave" for an aggregation,
	// "dedupe" for DropDuplicates.
	OperatorName string
	// NumRowsTotal is the number of keys in the state after the batch; NumRowsUpdated and
	// NumRowsRemoved the keys the batch put and removed.
	NumRowsTotal   int64
	NumRowsUpdated int64
	NumRowsRemoved int64
	// NumRowsDroppedByWatermark counts the input rows dropped as late: their event-time key (a
	// window's end, or the event time itself) was at or before the watermark.
	NumRowsDroppedByWatermark int64
	// AllUpdatesTimeMs is how long writing the batch's changes to the state took, and
	// AllRemovalsTimeMs how long finding and removing the keys the watermark passed took
	// (Spark's allUpdatesTimeMs and allRemovalsTimeMs).
	AllUpdatesTimeMs, AllRemovalsTimeMs int64
	// MemoryUsedBytes estimates the state's memory.
	MemoryUsedBytes int64
	// Custom holds operator-specific counters.
	Custom map[string]int64
}

// WatermarkDelayKey is the Arrow field metadata key that marks an event-time column: its value
// is the watermark delay in milliseconds. WithWatermark sets it; operators that derive a column
// from an event-time column (Window) carry it over, and stateful operators use it to find the
// column that late rows and state eviction are judged by.
const WatermarkDelayKey = "sluice.watermarkDelayMs"

// EventTimeObserver is implemented by the operator WithWatermark adds. The coordinator resets
// it before each batch and reads it after, to advance the watermark and report eventTime in
// progress.
type EventTimeObserver interface {
	Operator
	// Delay returns the watermark delay.
	Delay() time.Duration
	// EventTimeStats returns the event times the operator saw since the last reset, in Unix
	// milliseconds; count is 0 when it saw none (or only nulls).
	EventTimeStats() (minMs, maxMs, avgMs int64, count int64)
	// ResetEventTimeStats forgets the event times seen.
	ResetEventTimeStats()
}

// EventTimeColumn returns the index of the first field of schema marked with
// WatermarkDelayKey and its delay, or -1.
func EventTimeColumn(schema *arrow.Schema) (int, time.Duration) {
	if schema == nil {
		return -1, 0
	}
	for i, f := range schema.Fields() {
		if d, ok := watermarkDelay(f); ok {
			return i, d
		}
	}
	return -1, 0
}

func watermarkDelay(f arrow.Field) (time.Duration, bool) {
	v, ok := f.Metadata.GetValue(WatermarkDelayKey)
	if !ok {
		return 0, false
	}
	var ms int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		ms = ms*10 + int64(c-'0')
	}
	return time.Duration(ms) * time.Millisecond, true
}
