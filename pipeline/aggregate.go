package pipeline

import (
	"errors"
	"time"

	"github.com/sluicedev/sluice/operators"
)

// Stateful transforms keep state across micro-batches, in the checkpoint with the offsets: a
// batch's state is committed with it, and a batch replayed after a crash starts from the state
// of the batch before it, so results are the same however often the query restarts. See
// package state for the store and WithStateStore for its options.
//
// Event time works as in Spark. WithWatermark marks a timestamp column as the event time and
// sets how late rows may arrive: after each batch the watermark becomes the largest event time
// seen minus the delay (the smallest over several WithWatermark), and it only moves forward.
// Stateful operators then drop the rows that are late (counted in progress as
// numRowsDroppedByWatermark) and evict the state they no longer need. A row is late, as in
// Spark, when its group's event-time key is at or before the watermark: for an aggregation over
// a Window, when the window's end is (a row a little behind the watermark still counts in a
// window that is open); for DropDuplicates and other keys, when its event time is. When the
// watermark moves and no new data arrives, a batch without data still runs so that windows can
// close (Spark's no-data batches).
//
// The output modes follow Spark's rules, checked at Start: complete needs an aggregation;
// append with an aggregation needs a watermarked grouping key (the event-time column or its
// Window), and emits each group once, when the watermark passes it; update emits the groups a
// batch changed. At most one aggregation per query, and DropDuplicates only before it.

// WithWatermark marks column col (a timestamp) as the stream's event time, with delay the
// longest a row may arrive after rows of later event time and still be counted.
func (s *Stream) WithWatermark(col string, delay time.Duration) *Stream {
	return s.transformNew(func() operators.Operator { return operators.WithWatermark(col, delay) })
}

// Window adds the column "window", a struct of start and end timestamps: the event-time
// window of timeCol each row falls in, as Spark's window(). With one duration, or a slide equal
// to size, windows are tumbling; with a smaller slide they overlap and each row appears once
// per window that contains it. Windows are aligned to the Unix epoch. Group by "window" to
// aggregate per window; when timeCol has a watermark, so has the window (its end is the event
// time of its group).
func (s *Stream) Window(timeCol string, size time.Duration, slide ...time.Duration) *Stream {
	var sl time.Duration
	switch len(slide) {
	case 0:
	case 1:
		sl = slide[0]
		if sl == 0 { // operators.Window reads 0 as "tumbling"; Spark refuses a zero slide
			n := &node{kind: operatorNode, parents: []*node{s.n}, op: operators.Window(timeCol, size, 0, s.options())}
			n.err = errors.New("Window: the slide duration must be greater than 0 (leave it out for tumbling windows)")
			return s.with(n)
		}
	default:
		n := &node{kind: operatorNode, parents: []*node{s.n}, op: operators.Window(timeCol, size, 0, s.options())}
		n.err = errors.New("Window: give at most one slide duration")
		return s.with(n)
	}
	return s.transformNew(func() operators.Operator { return operators.Window(timeCol, size, sl, s.options()) })
}

// DropDuplicates passes on only the first row of each distinct value of cols (all columns when
// none are given), across batches, as Spark's dropDuplicates. With a watermark, rows whose
// event time is at or before it are dropped as late. Keys are forgotten only when the
// event-time column is among cols: once the watermark passes them (later duplicates are then
// late, and dropped). Otherwise the state keeps every distinct key ever seen.
func (s *Stream) DropDuplicates(cols ...string) *Stream {
	return s.transformNew(func() operators.Operator { return operators.DropDuplicates(cols, s.options()) })
}

// GroupedStream is a stream grouped by keys, waiting for its aggregates; see GroupBy.
type GroupedStream struct {
	s    *Stream
	keys []string
}

// GroupBy groups the stream's rows by keys: column names or CEL expressions, each optionally
// "expr AS name". Aggregate the groups with Agg or Count.
func (s *Stream) GroupBy(keys ...string) *GroupedStream {
	return &GroupedStream{s: s, keys: append([]string(nil), keys...)}
}

// Agg computes aggregates per group: the result has the key columns, then one column per
// aggregate (named as in Spark, such as "sum(bytes)", or by Agg.As).
func (g *GroupedStream) Agg(aggs ...Agg) *Stream {
	return g.s.transformNew(func() operators.Operator { return operators.Aggregate(g.keys, aggs, g.s.options()) })
}

// Count counts the rows of each group, in the column "count" (as Spark's
// groupBy(...).count(); Agg(Count("*")) names it "count(1)", as Spark's agg(count("*"))).
func (g *GroupedStream) Count() *Stream { return g.Agg(Count("*").As("count")) }

// Agg is one aggregate; see GroupedStream.Agg.
type Agg = operators.Agg

// Count counts the rows of a group ("*", in the column "count(1)" as Spark names count("*"))
// or the non-null values of a CEL expression (in "count(expr)").
func Count(expr string) Agg { return operators.Count(expr) }

// Sum adds up the non-null values of a numeric expression: an int64 for integers (overflow
// fails the batch), a float64 for floats.
func Sum(expr string) Agg { return operators.Sum(expr) }

// Min is the smallest non-null value of an expression.
func Min(expr string) Agg { return operators.Min(expr) }

// Max is the largest non-null value of an expression.
func Max(expr string) Agg { return operators.Max(expr) }

// Avg is the mean of the non-null values of a numeric expression, as a float64.
func Avg(expr string) Agg { return operators.Avg(expr) }

// ApproxCountDistinct estimates the number of distinct non-null values of an expression with a
// HyperLogLog sketch (relative standard deviation about 5%, as Spark's default).
func ApproxCountDistinct(expr string) Agg { return operators.ApproxCountDistinct(expr) }

// First is the value of an expression in the first row of a group, null included (Spark's
// first with ignoreNulls false), in arrival order (which, as in Spark, is not deterministic
// across sources read in parallel).
func First(expr string) Agg { return operators.First(expr) }

// Last is the value of an expression in the last row of a group, null included; see First.
func Last(expr string) Agg { return operators.Last(expr) }
