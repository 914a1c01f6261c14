package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedev/sluice/checkpoint"
	"github.com/sluicedev/sluice/operators"
	"github.com/sluicedev/sluice/sinks"
	"github.com/sluicedev/sluice/state"
)

// statefulPlan is one stateful operator of a plan. The operators before it on every route from
// a source end at it (a source chain or another stateful operator's suffix); suffixes are the
// routes from it onwards, each ending at the sink or at the next stateful operator.
type statefulPlan struct {
	op       operators.Stateful
	node     *node
	index    int // its state lives in state/<index>
	suffixes [][]operators.Operator
	upstream int // how many stateful operators feed it, directly or not
}

// stateDir is where a stateful operator's state lives in the checkpoint.
func (sp *statefulPlan) stateDir() string { return "state/" + strconv.Itoa(sp.index) }

// planStateful orders the stateful operators upstream first, finds the watermark operators and
// checks the combinations Spark does not support either.
func planStateful(pl *plan) []error {
	var probs []error
	for _, sp := range pl.stateful {
		sp.upstream = countStatefulAbove(sp.node, map[*node]bool{})
	}
	slices.SortStableFunc(pl.stateful, func(a, b *statefulPlan) int { return a.upstream - b.upstream })
	for _, op := range pl.ops {
		if o, ok := op.(operators.EventTimeObserver); ok {
			pl.watermarks = append(pl.watermarks, o)
		}
	}
	var aggs []string
	for _, sp := range pl.stateful {
		if sp.op.StateKind() == operators.Aggregation {
			aggs = append(aggs, sp.op.Name())
		}
	}
	if len(aggs) > 1 {
		probs = append(probs, fmt.Errorf("multiple streaming aggregations are not supported (found %s): aggregate once per query", strings.Join(aggs, ", ")))
	}
	for _, sp := range pl.stateful {
		if sp.op.StateKind() != operators.Deduplication {
			continue
		}
		if n := aggregationAbove(sp.node); n != nil {
			probs = append(probs, fmt.Errorf("%s after %s is not supported: deduplicate before aggregating", sp.op.Name(), n.op.Name()))
		}
	}
	return probs
}

func countStatefulAbove(n *node, seen map[*node]bool) int {
	c := 0
	for _, p := range n.parents {
		if seen[p] {
			continue
		}
		seen[p] = true
		if _, ok := p.op.(operators.Stateful); ok && p.kind == operatorNode {
			c++
		}
		c += countStatefulAbove(p, seen)
	}
	return c
}

// aggregationAbove returns an aggregation node that feeds n, or nil.
func aggregationAbove(n *node) *node {
	for _, p := range n.parents {
		if st, ok := p.op.(operators.Stateful); ok && p.kind == operatorNode && st.StateKind() == operators.Aggregation {
			return p
		}
		if a := aggregationAbove(p); a != nil {
			return a
		}
	}
	return nil
}

// checkOutputMode applies Spark's rules on which output mode a query may use.
func checkOutputMode(pl *plan) []error {
	var agg operators.Stateful
	for _, sp := range pl.stateful {
		if sp.op.StateKind() == operators.Aggregation {
			agg = sp.op
		}
	}
	switch {
	case pl.mode == sinks.Complete && agg == nil:
		return []error{errors.New("output mode complete is not supported when there are no streaming aggregations on the stream (use append or update)")}
	case pl.mode == sinks.Append && agg != nil && agg.EventTimeKey() == "" && !pl.inferPending:
		return []error{fmt.Errorf("output mode append is not supported for %s without a watermark: group by an event-time column marked with WithWatermark (or by its Window) so that groups become final, or use update or complete", agg.Name())}
	}
	return nil
}

// statefulRun is the state of a query's stateful operators across its batches.
type statefulRun struct {
	stores  []state.Store // by statefulPlan.index; nil until first needed
	checked []bool        // by statefulPlan.index: its state's metadata was checked (checkStateMeta)
	// Watermarks. watermarkMs is the watermark the next planned batch runs with; lastRunMs the
	// one the last batch ran with (a no-data batch runs when the watermark moved past it).
	watermarkMs  int64
	lastRunMs    int64
	perOperator  []int64 // each WithWatermark's own watermark, once it saw data
	perHasValue  []bool
	eventTime    map[string]string
	stateMetrics []StateOperatorProgress
}

func newStatefulRun(pl *plan) *statefulRun {
	return &statefulRun{stores: make([]state.Store, len(pl.stateful)), checked: make([]bool, len(pl.stateful)),
		perOperator: make([]int64, len(pl.watermarks)), perHasValue: make([]bool, len(pl.watermarks))}
}

// hasWatermark reports whether the plan has an event-time watermark.
func (pl *plan) hasWatermark() bool { return len(pl.watermarks) > 0 }

// store returns the state of sp positioned at version (the batch's ID), opening or reopening
// it when needed.
func (q *Query) store(ctx context.Context, sp *statefulPlan, version int64) (state.Store, error) {
	st := q.state.stores[sp.index]
	if st != nil && st.Version() == version {
		return st, nil
	}
	if st != nil {
		_ = st.Close()
		q.state.stores[sp.index] = nil
	}
	if !q.state.checked[sp.index] {
		if err := q.checkStateMeta(ctx, sp, version); err != nil {
			return nil, err
		}
		q.state.checked[sp.index] = true
	}
	opts := q.p.cfg.stateOpts
	if opts.MinVersionsToRetain == 0 {
		opts.MinVersionsToRetain = int(q.p.cfg.retain)
	}
	st, err := state.Open(ctx, q.log.Store(), sp.stateDir(), version, opts)
	if err != nil {
		return nil, fmt.Errorf("state of %s: %w", sp.op.Name(), err)
	}
	q.state.stores[sp.index] = st
	return st, nil
}

// stateMeta is what state/<index>/_metadata records of the operator that writes the state, so
// that a restart with another operator there fails clearly instead of reading state it does not
// understand (or worse, state of the same shape that means something else).
type stateMeta struct {
	Operator string `json:"operator"` // its Name(), which includes its keys and aggregates
	Kind     string `json:"kind"`
	// Schema is the types of the state (operators.StateSchemaReporter); absent in checkpoints
	// written before it was recorded.
	Schema string `json:"schema,omitempty"`
}

// checkStateMeta compares the operator that will use sp's state with the one the checkpoint
// recorded, or records it (on the first batch, and for checkpoints written before the record
// existed). A stateful operator with no state in a checkpoint that has committed batches was
// added to the query: an error too.
func (q *Query) checkStateMeta(ctx context.Context, sp *statefulPlan, version int64) error {
	store := q.log.Store()
	name := sp.stateDir() + "/_metadata"
	want := stateMeta{Operator: sp.op.Name(), Kind: fmt.Sprint(sp.op.StateKind())}
	if r, ok := sp.op.(operators.StateSchemaReporter); ok {
		want.Schema = r.StateSchema()
	}
	changed := func(what string) error {
		return fmt.Errorf("the checkpoint %s %s; a query whose stateful operators changed cannot continue from it: restore the query, or use a new checkpointLocation",
			store, what)
	}
	data, err := store.ReadFile(ctx, name)
	switch {
	case err == nil:
		var got stateMeta
		if err := json.Unmarshal(data, &got); err != nil {
			return fmt.Errorf("state of %s: %s is not valid: %w", sp.op.Name(), name, err)
		}
		if got.Operator != want.Operator || got.Kind != want.Kind {
			return changed(fmt.Sprintf("holds the state of %s at %s, where the query now has %s", got.Operator, sp.stateDir(), want.Operator))
		}
		if got.Schema != "" && want.Schema != "" && got.Schema != want.Schema {
			return changed(fmt.Sprintf("holds the state of %s at %s with the types (%s); the query's are now (%s)", got.Operator, sp.stateDir(), got.Schema, want.Schema))
		}
		if got.Schema != "" || want.Schema == "" {
			return nil
		}
		// Recorded before the types were: record them now.
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("state of %s: %w", sp.op.Name(), err)
	}
	if version > 0 {
		files, err := store.List(ctx, sp.stateDir())
		if err != nil {
			return fmt.Errorf("state of %s: %w", sp.op.Name(), err)
		}
		if len(files) == 0 {
			return changed(fmt.Sprintf("has committed batches but no state for %s (at %s): was it added to the query?", want.Operator, sp.stateDir()))
		}
	}
	data, _ = json.Marshal(want)
	if err := store.WriteFile(ctx, name, data); err != nil {
		return fmt.Errorf("state of %s: record the operator: %w", sp.op.Name(), err)
	}
	return nil
}

// closeState closes the state stores.
func (q *Query) closeState() error {
	if q.state == nil {
		return nil
	}
	var errs []error
	for i, st := range q.state.stores {
		if st != nil {
			errs = append(errs, st.Close())
			q.state.stores[i] = nil
		}
	}
	return errors.Join(errs...)
}

// beginStateful starts batch b in every stateful operator.
func (q *Query) beginStateful(ctx context.Context, b *batchPlan) error {
	for _, o := range q.pl.watermarks {
		o.ResetEventTimeStats()
	}
	info := operators.BatchInfo{ID: b.id, WatermarkMs: b.watermarkMs, HasWatermark: q.pl.hasWatermark(), Mode: string(q.pl.mode)}
	for _, sp := range q.pl.stateful {
		st, err := q.store(ctx, sp, b.id)
		if err != nil {
			return &stageError{stage: "operator " + sp.op.Name(), err: err}
		}
		if err := sp.op.BeginBatch(ctx, info, st); err != nil {
			return &stageError{stage: "operator " + sp.op.Name(), err: err}
		}
	}
	return nil
}

// finishStateful ends the batch in every stateful operator, upstream first, each emitting into
// the routes after it.
func (q *Query) finishStateful(ctx context.Context, emitOf func(*statefulPlan) operators.Emit) error {
	for _, sp := range q.pl.stateful {
		if err := guard("operator "+sp.op.Name(), func() error { return sp.op.Finish(ctx, emitOf(sp)) }); err != nil {
			return err
		}
	}
	return nil
}

// commitState makes the batch's state durable, before the batch's commit is written.
func (q *Query) commitState(ctx context.Context, b *batchPlan) error {
	q.state.stateMetrics = q.state.stateMetrics[:0]
	for _, sp := range q.pl.stateful {
		st := q.state.stores[sp.index]
		if err := st.Commit(ctx); err != nil {
			return &BatchError{BatchID: b.id, Stage: "operator " + sp.op.Name(), Err: fmt.Errorf("commit state: %w", err)}
		}
		m := sp.op.StateMetrics()
		sm := st.Metrics()
		q.state.stateMetrics = append(q.state.stateMetrics, StateOperatorProgress{
			OperatorName: m.OperatorName, NumRowsTotal: m.NumRowsTotal, NumRowsUpdated: m.NumRowsUpdated,
			NumRowsRemoved: m.NumRowsRemoved, NumRowsDroppedByWatermark: m.NumRowsDroppedByWatermark,
			CommitTimeMs: sm.CommitTimeMs, MemoryUsedBytes: m.MemoryUsedBytes, CustomMetrics: m.Custom,
			AllUpdatesTimeMs: m.AllUpdatesTimeMs, AllRemovalsTimeMs: m.AllRemovalsTimeMs,
			NumShufflePartitions: 1, NumStateStoreInstances: 1})
	}
	return nil
}

// rollbackState discards a failed batch's state changes.
func (q *Query) rollbackState() {
	for _, st := range q.state.stores {
		if st != nil {
			st.Rollback()
		}
	}
}

// advanceWatermark computes the watermark of the next batch from the event times the batch
// saw, as Spark does: each WithWatermark's watermark is the largest event time it has seen
// minus its delay; the query's is the smallest of them (once every one has seen data), and
// never goes back.
func (q *Query) advanceWatermark(b *batchPlan) {
	s := q.state
	s.lastRunMs = b.watermarkMs
	if !q.pl.hasWatermark() {
		s.eventTime = nil
		return
	}
	var minMs, maxMs, n int64
	var sum, term big.Int // avg × count over the operators: beyond int64 with many rows
	for i, o := range q.pl.watermarks {
		lo, hi, avg, c := o.EventTimeStats()
		if c == 0 {
			continue
		}
		if n == 0 || lo < minMs {
			minMs = lo
		}
		if n == 0 || hi > maxMs {
			maxMs = hi
		}
		sum.Add(&sum, term.Mul(big.NewInt(avg), big.NewInt(c)))
		n += c
		wm := hi - o.Delay().Milliseconds()
		if !s.perHasValue[i] || wm > s.perOperator[i] {
			s.perOperator[i], s.perHasValue[i] = wm, true
		}
	}
	all := true
	var global int64
	for i := range q.pl.watermarks {
		if !s.perHasValue[i] {
			all = false
			break
		}
		if i == 0 || s.perOperator[i] < global {
			global = s.perOperator[i]
		}
	}
	if all && global > s.watermarkMs {
		s.watermarkMs = global
	}
	// As Spark's progress, the watermark the batch ran with (the next batch's is s.watermarkMs).
	s.eventTime = map[string]string{"watermark": isoMs(b.watermarkMs)}
	if n > 0 {
		s.eventTime["min"] = isoMs(minMs)
		s.eventTime["max"] = isoMs(maxMs)
		s.eventTime["avg"] = isoMs(sum.Quo(&sum, big.NewInt(n)).Int64())
	}
}

// needsNoDataBatch reports whether a batch without new data should run to let the stateful
// operators act on a watermark that moved (emit final windows, evict state), as Spark's
// no-data micro-batches do.
func (q *Query) needsNoDataBatch() bool {
	if len(q.pl.stateful) == 0 || !q.pl.hasWatermark() || q.state.watermarkMs <= q.state.lastRunMs {
		return false
	}
	// As Spark: an aggregation in complete mode ignores the watermark (it neither emits nor
	// evicts by it), so only a deduplication would use the batch.
	for _, sp := range q.pl.stateful {
		if q.pl.mode != sinks.Complete || sp.op.StateKind() != operators.Aggregation {
			return true
		}
	}
	return false
}

func isoMs(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

// restoreWatermark takes the watermark from the last planned batch of the checkpoint (restore
// then moves it to the one its commit recorded for the next batch, when it has one).
func (q *Query) restoreWatermark(offs checkpoint.Offsets) {
	q.state.watermarkMs = offs.WatermarkMs
	q.state.lastRunMs = offs.WatermarkMs
}
