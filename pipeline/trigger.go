package pipeline

import (
	"fmt"
	"time"
)

// Trigger decides when a query runs its micro-batches.
type Trigger interface {
	String() string
	isTrigger()
}

type processingTime struct{ interval time.Duration }

func (t processingTime) String() string { return fmt.Sprintf("ProcessingTime(%s)", t.interval) }
func (processingTime) isTrigger()       {}

type availableNow struct{}

func (availableNow) String() string { return "AvailableNow" }
func (availableNow) isTrigger()     {}

type once struct{}

func (once) String() string { return "Once" }
func (once) isTrigger()     {}

// ProcessingTime runs a micro-batch every interval, aligned to multiples of it. A batch that
// takes longer than interval is followed at once by the next. With interval 0 a batch starts as
// soon as the previous one has finished and new data is available. This is the default
// trigger, with interval 0.
func ProcessingTime(interval time.Duration) Trigger { return processingTime{interval} }

// AvailableNow processes all the data available when the query starts, in as many
// micro-batches as the sources' per-batch limits need, then stops the query.
func AvailableNow() Trigger { return availableNow{} }

// Once processes all the data available when the query starts in a single micro-batch, then
// stops the query.
//
// Deprecated: Use AvailableNow, which honours the sources' per-batch limits (as Spark
// recommends since Trigger.Once was deprecated in Spark 3.4).
func Once() Trigger { return once{} }
