package pipeline

import (
	"encoding/json"
	"time"
)

// QueryProgress describes one micro-batch (or an idle trigger), with the field names of
// Spark's StreamingQueryProgress, so its JSON reads like Spark's.
type QueryProgress struct {
	ID                     string                  `json:"id"`
	RunID                  string                  `json:"runId"`
	Name                   string                  `json:"name"`
	Timestamp              string                  `json:"timestamp"`
	BatchID                int64                   `json:"batchId"`
	BatchDuration          int64                   `json:"batchDuration"`
	NumInputRows           int64                   `json:"numInputRows"`
	InputRowsPerSecond     float64                 `json:"inputRowsPerSecond"`
	ProcessedRowsPerSecond float64                 `json:"processedRowsPerSecond"`
	DurationMs             map[string]int64        `json:"durationMs"`
	EventTime              map[string]string       `json:"eventTime,omitempty"`
	StateOperators         []StateOperatorProgress `json:"stateOperators"`
	Sources                []SourceProgress        `json:"sources"`
	Sink                   SinkProgress            `json:"sink"`

	// firstOfRun marks the first batch of a run, which has no input rate: Spark's is NaN there,
	// and its JSON leaves the field out.
	firstOfRun bool
}

// MarshalJSON writes the progress as Spark does: name is null when the query has none, and
// inputRowsPerSecond is left out for the first batch of a run (Spark's NaN).
func (p QueryProgress) MarshalJSON() ([]byte, error) {
	var name *string
	if p.Name != "" {
		name = &p.Name
	}
	var rate *float64
	if !p.firstOfRun {
		rate = &p.InputRowsPerSecond
	}
	return json.Marshal(struct {
		ID                     string                  `json:"id"`
		RunID                  string                  `json:"runId"`
		Name                   *string                 `json:"name"`
		Timestamp              string                  `json:"timestamp"`
		BatchID                int64                   `json:"batchId"`
		BatchDuration          int64                   `json:"batchDuration"`
		NumInputRows           int64                   `json:"numInputRows"`
		InputRowsPerSecond     *float64                `json:"inputRowsPerSecond,omitempty"`
		ProcessedRowsPerSecond float64                 `json:"processedRowsPerSecond"`
		DurationMs             map[string]int64        `json:"durationMs"`
		EventTime              map[string]string       `json:"eventTime,omitempty"`
		StateOperators         []StateOperatorProgress `json:"stateOperators"`
		Sources                []SourceProgress        `json:"sources"`
		Sink                   SinkProgress            `json:"sink"`
	}{p.ID, p.RunID, name, p.Timestamp, p.BatchID, p.BatchDuration, p.NumInputRows, rate,
		p.ProcessedRowsPerSecond, p.DurationMs, p.EventTime, p.StateOperators, p.Sources, p.Sink})
}

// StateOperatorProgress describes a stateful operator's state after a batch.
type StateOperatorProgress struct {
	OperatorName   string `json:"operatorName"`
	NumRowsTotal   int64  `json:"numRowsTotal"`
	NumRowsUpdated int64  `json:"numRowsUpdated"`
	// NumRowsRemoved counts the keys removed from the state (evicted by the watermark).
	NumRowsRemoved int64 `json:"numRowsRemoved"`
	// CommitTimeMs is how long writing the state to the checkpoint took.
	CommitTimeMs    int64 `json:"commitTimeMs"`
	MemoryUsedBytes int64 `json:"memoryUsedBytes"`
	// NumRowsDroppedByWatermark counts the input rows dropped as late: their group's event-time
	// key (a window's end, or the event time itself) was at or before the watermark.
	NumRowsDroppedByWatermark int64 `json:"numRowsDroppedByWatermark"`
	// AllUpdatesTimeMs is how long writing the batch's changes to the state took, and
	// AllRemovalsTimeMs how long finding and removing the keys the watermark passed took.
	AllUpdatesTimeMs  int64 `json:"allUpdatesTimeMs"`
	AllRemovalsTimeMs int64 `json:"allRemovalsTimeMs"`
	// NumShufflePartitions and NumStateStoreInstances are 1: sluice keeps an operator's state
	// in one store, without a shuffle (Spark's have spark.sql.shuffle.partitions of each).
	NumShufflePartitions   int64            `json:"numShufflePartitions"`
	NumStateStoreInstances int64            `json:"numStateStoreInstances"`
	CustomMetrics          map[string]int64 `json:"customMetrics,omitempty"`
}

// SourceProgress describes what one source contributed to a batch.
type SourceProgress struct {
	Description            string            `json:"description"`
	StartOffset            json.RawMessage   `json:"startOffset"`
	EndOffset              json.RawMessage   `json:"endOffset"`
	LatestOffset           json.RawMessage   `json:"latestOffset"`
	NumInputRows           int64             `json:"numInputRows"`
	InputRowsPerSecond     float64           `json:"inputRowsPerSecond"`
	ProcessedRowsPerSecond float64           `json:"processedRowsPerSecond"`
	Metrics                map[string]string `json:"metrics,omitempty"`

	firstOfRun bool // as QueryProgress's
}

// MarshalJSON writes the source's progress as Spark does: inputRowsPerSecond is left out for
// the first batch of a run (Spark's NaN).
func (p SourceProgress) MarshalJSON() ([]byte, error) {
	var rate *float64
	if !p.firstOfRun {
		rate = &p.InputRowsPerSecond
	}
	return json.Marshal(struct {
		Description            string            `json:"description"`
		StartOffset            json.RawMessage   `json:"startOffset"`
		EndOffset              json.RawMessage   `json:"endOffset"`
		LatestOffset           json.RawMessage   `json:"latestOffset"`
		NumInputRows           int64             `json:"numInputRows"`
		InputRowsPerSecond     *float64          `json:"inputRowsPerSecond,omitempty"`
		ProcessedRowsPerSecond float64           `json:"processedRowsPerSecond"`
		Metrics                map[string]string `json:"metrics,omitempty"`
	}{p.Description, p.StartOffset, p.EndOffset, p.LatestOffset, p.NumInputRows, rate, p.ProcessedRowsPerSecond, p.Metrics})
}

// SinkProgress describes what the sink received in a batch.
type SinkProgress struct {
	Description   string            `json:"description"`
	NumOutputRows int64             `json:"numOutputRows"`
	Metrics       map[string]string `json:"metrics,omitempty"`
}

// JSON returns the progress as indented JSON, as Spark's progress.json does.
func (p QueryProgress) JSON() string {
	b, _ := json.MarshalIndent(p, "", "  ")
	return string(b)
}

// QueryStatus is what a query is doing now.
type QueryStatus struct {
	Message         string `json:"message"`
	IsDataAvailable bool   `json:"isDataAvailable"`
	IsTriggerActive bool   `json:"isTriggerActive"`
}

// Listener receives the events of a pipeline's queries. As on Spark's listener bus, the events
// of all the pipeline's queries are delivered asynchronously, in order, one at a time, from a
// goroutine of the pipeline's, so a listener need not be safe for concurrent use and a slow
// listener never delays a batch. Start returns after OnQueryStarted has been called, and
// AwaitTermination and Stop after OnQueryTerminated, but none of them waits more than 5 seconds
// for a listener (they log a warning and return), and a listener that calls them does not wait
// for itself. If a listener falls 10,000 events behind, further
// progress events are dropped (and logged) until it catches up, as Spark's bus does. A panic in
// a listener is logged and ignored.
type Listener interface {
	// OnQueryStarted is called when a query has started, before its first batch.
	OnQueryStarted(QueryStartedEvent)
	// OnQueryProgress is called after each micro-batch, and for idle triggers (see
	// QueryProgress).
	OnQueryProgress(QueryProgressEvent)
	// OnQueryTerminated is called when a query has stopped, finished or failed.
	OnQueryTerminated(QueryTerminatedEvent)
}

// QueryStartedEvent is sent when a query has started.
type QueryStartedEvent struct {
	ID, RunID, Name string
	Timestamp       time.Time
}

// QueryProgressEvent is sent after each micro-batch.
type QueryProgressEvent struct {
	Progress QueryProgress
}

// QueryTerminatedEvent is sent when a query has terminated; Err is nil when it was stopped or
// finished its AvailableNow/Once work.
type QueryTerminatedEvent struct {
	ID, RunID string
	Err       error
}

// ListenerFuncs is a Listener made of optional functions.
type ListenerFuncs struct {
	Started    func(QueryStartedEvent)
	Progress   func(QueryProgressEvent)
	Terminated func(QueryTerminatedEvent)
}

// OnQueryStarted implements Listener.
func (l ListenerFuncs) OnQueryStarted(e QueryStartedEvent) {
	if l.Started != nil {
		l.Started(e)
	}
}

// OnQueryProgress implements Listener.
func (l ListenerFuncs) OnQueryProgress(e QueryProgressEvent) {
	if l.Progress != nil {
		l.Progress(e)
	}
}

// OnQueryTerminated implements Listener.
func (l ListenerFuncs) OnQueryTerminated(e QueryTerminatedEvent) {
	if l.Terminated != nil {
		l.Terminated(e)
	}
}
