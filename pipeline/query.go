package pipeline

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"golang.org/x/sync/errgroup"

	"github.com/sluicedev/sluice/checkpoint"
	"github.com/sluicedev/sluice/operators"
	"github.com/sluicedev/sluice/sinks"
	memsink "github.com/sluicedev/sluice/sinks/memory"
	"github.com/sluicedev/sluice/sources"
)

// pollingDelay is how long ProcessingTime(0) waits when no new data is available (Spark's
// spark.sql.streaming.pollingDelay).
const pollingDelay = 10 * time.Millisecond

// idleProgressInterval is how often a query with no new data still reports progress (Spark's
// spark.sql.streaming.noDataProgressEventInterval).
var idleProgressInterval = 10 * time.Second // a variable for the tests

// recentProgressSize is how many progress reports a query keeps.
const recentProgressSize = 100

// Query is a running streaming query, the handle Start returns. Its methods are safe for
// concurrent use.
type Query struct {
	p      *Pipeline
	pl     *plan
	id     string
	runID  string
	log    *checkpoint.Log
	lock   io.Closer
	temp   string
	logger *slog.Logger

	cancel   context.CancelFunc
	stopCh   chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	// delivered is closed when the listeners have had the query's terminated event (with no
	// listeners, together with done).
	delivered chan struct{}

	mu     sync.Mutex
	status QueryStatus
	recent []QueryProgress
	err    error

	// Owned by the query's goroutine.
	state          *statefulRun
	nextID         int64
	starts         []sources.Offset // where the next batch starts, per source
	pending        *checkpoint.Offsets
	fixedEnds      []sources.Offset // AvailableNow end for sources without their own support
	lastTrigger    time.Time
	lastProgress   time.Time
	lastBehindWarn time.Time
}

type batchPlan struct {
	id     int64
	starts []sources.Offset
	ends   []sources.Offset
	latest []sources.Offset
	replay bool
	// watermarkMs is the event-time watermark the batch runs with.
	watermarkMs int64
	started     time.Time
	dur         map[string]int64
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func start(ctx context.Context, p *Pipeline, pl *plan) (_ *Query, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err // as Go APIs do; the query would stop at once
	}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return nil, errors.New("sluice: the pipeline is closed")
	}
	if pl.name != "" {
		taken := p.starting[pl.name]
		for _, a := range p.active {
			taken = taken || a.pl.name == pl.name
		}
		if taken {
			p.mu.Unlock()
			return nil, fmt.Errorf("sluice: a query named %q is already active", pl.name)
		}
		if p.starting == nil {
			p.starting = map[string]bool{}
		}
		p.starting[pl.name] = true
		defer func() {
			p.mu.Lock()
			delete(p.starting, pl.name)
			p.mu.Unlock()
		}()
	}
	p.mu.Unlock()
	store, temp, err := openCheckpoint(pl.checkpoint, p.cfg.openStore)
	if err != nil {
		return nil, err
	}
	q := &Query{p: p, pl: pl, temp: temp, log: checkpoint.NewLog(store), runID: newUUID(),
		stopCh: make(chan struct{}), done: make(chan struct{}), delivered: make(chan struct{}), state: newStatefulRun(pl)}
	if temp != "" {
		p.cfg.logger.Warn("sluice: no checkpointLocation given; using a temporary checkpoint, removed when the query stops cleanly. Progress is lost across restarts.", "checkpoint", temp)
	}
	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
			if temp != "" {
				_ = os.RemoveAll(temp)
			}
		}
	}()
	if q.lock, err = store.Lock(ctx); err != nil {
		return nil, fmt.Errorf("sluice: checkpoint %s: %w", store, err)
	}
	lock := q.lock
	cleanup = append(cleanup, func() { lock.Close() })
	if err := q.restore(ctx); err != nil {
		return nil, err
	}
	name := pl.name
	if name == "" {
		name = q.id
	}
	q.logger = p.cfg.logger.With("query", name, "runId", q.runID)

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	q.cancel = cancel
	cleanup = append(cleanup, cancel)
	// Cancelling Start's ctx stops the query at once.
	stopAfter := context.AfterFunc(ctx, cancel)
	cleanup = append(cleanup, func() { stopAfter() })

	q.setStatus("Initializing sources", false, false)
	for i, sp := range pl.paths {
		info := sources.Info{QueryID: q.id, Index: i, Allocator: p.cfg.mem, Logger: q.logger,
			MetadataDir: path.Join(store.String(), checkpoint.SourcesDir, strconv.Itoa(i))}
		if err := sp.source.Open(ctx, info); err != nil {
			sp.source.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("sluice: open source %s: %w", sp.source.Description(), err)
		}
		src := sp.source
		cleanup = append(cleanup, func() { src.Close(context.WithoutCancel(ctx)) })
	}
	if err := q.prepareSources(ctx); err != nil { // documents' schemas, inferred if need be (infer.go)
		return nil, err
	}
	if err := pl.sink.Open(ctx, sinks.Info{QueryID: q.id, QueryName: pl.name, Schema: pl.schema, OutputMode: pl.mode, Allocator: p.cfg.mem, Logger: q.logger}); err != nil {
		pl.sink.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("sluice: open sink %s: %w", pl.sinkDesc, err)
	}
	cleanup = append(cleanup, func() { pl.sink.Close(context.WithoutCancel(ctx)) })
	for _, op := range pl.ops {
		if o, ok := op.(operators.Opener); ok {
			if err := o.Open(ctx); err != nil {
				return nil, fmt.Errorf("sluice: open operator %s: %w", op.Name(), err)
			}
		}
	}

	p.mu.Lock()
	if p.closing { // Close began while the query was starting: it would not stop this one
		p.mu.Unlock()
		return nil, errors.New("sluice: the pipeline is closed")
	}
	if ms, ok := pl.sink.(*memsink.Sink); ok {
		if old := p.tables[pl.name]; old != nil {
			old.Release()
		}
		p.tables[pl.name] = ms
	}
	p.active[q.id] = q
	p.mu.Unlock()

	q.logger.Info("sluice: query started", "id", q.id, "checkpoint", store.String(), "trigger", pl.trigger.String(), "nextBatch", q.nextID)
	if len(p.cfg.listeners) > 0 {
		// As in Spark, Start returns after the listeners have had OnQueryStarted.
		ev := QueryStartedEvent{ID: q.id, RunID: q.runID, Name: pl.name, Timestamp: time.Now()}
		started := make(chan struct{})
		p.bus.post(busEvent{deliver: func() {
			defer close(started)
			for _, l := range p.cfg.listeners {
				q.notify("OnQueryStarted", func() { l.OnQueryStarted(ev) })
			}
		}})
		q.waitListeners(runCtx, started, "OnQueryStarted") // the run sees runCtx's end too
	}
	go q.run(runCtx, stopAfter)
	return q, nil
}

// restore reads the checkpoint: the query ID, where the next batch starts, and a batch that
// was planned but not committed.
func (q *Query) restore(ctx context.Context) error {
	meta, ok, err := q.log.Metadata(ctx)
	if err != nil {
		return err
	}
	if !ok {
		meta = checkpoint.Metadata{ID: newUUID()}
		if err := q.log.WriteMetadata(ctx, meta); err != nil {
			return err
		}
	}
	q.id = meta.ID
	latest, ok, err := q.log.Latest(ctx, checkpoint.OffsetsDir)
	if err != nil {
		return err
	}
	lastCommit, hasCommit, err := q.log.Latest(ctx, checkpoint.CommitsDir)
	if err != nil {
		return err
	}
	if hasCommit {
		// The latest commit decides where the query resumes: it must be a valid commit of
		// its batch (a file that does not parse is a CorruptError, as offsets' are).
		if ok, err := q.log.HasCommit(ctx, lastCommit); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("checkpoint: commits/%d vanished while reading", lastCommit)
		}
	}
	q.starts = make([]sources.Offset, len(q.pl.paths))
	if !ok {
		if hasCommit {
			return &checkpoint.CorruptError{File: q.log.Store().String() + "/" + checkpoint.CommitsDir, Err: errors.New("commits exist but no offsets")}
		}
		return nil // initial offsets are taken when the first batch is planned
	}
	offs, ok, err := q.log.Offsets(ctx, latest)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("checkpoint: offsets/%d vanished while reading", latest)
	}
	if len(offs.Sources) != len(q.pl.paths) {
		return fmt.Errorf("sluice: checkpoint %s was written by a query with %d sources; this query has %d (use a new checkpointLocation for a changed query)", q.log.Store(), len(offs.Sources), len(q.pl.paths))
	}
	for i, s := range offs.Sources {
		// A source's options may change between runs (as in Spark); its kind may not: its
		// offsets would mean nothing to another kind of source.
		was, is := sourceKind(s.Description), sourceKind(q.pl.paths[i].source.Description())
		if was != "" && was != is {
			return fmt.Errorf("sluice: checkpoint %s was written by a query whose source %d is %s; this query's is %s (use a new checkpointLocation for a changed query)", q.log.Store(), i, was, is)
		}
	}
	switch {
	case hasCommit && lastCommit > latest:
		return &checkpoint.CorruptError{File: q.log.Store().String() + "/" + checkpoint.CommitsDir, Err: fmt.Errorf("commit %d is ahead of the last offsets %d", lastCommit, latest)}
	case hasCommit && lastCommit == latest:
		q.restoreWatermark(offs)
		c, ok, err := q.log.Commit(ctx, latest)
		if err != nil {
			return err
		}
		if ok && c.NextBatchWatermarkMs > q.state.watermarkMs {
			// As Spark: continue from the watermark the last batch computed. lastRunMs stays the
			// one it ran with, so a no-data batch acts on the advance when one is needed.
			q.state.watermarkMs = c.NextBatchWatermarkMs
		}
		q.nextID = latest + 1
		for i, s := range offs.Sources {
			q.starts[i] = sources.Offset(s.End)
		}
	default:
		if latest > 0 {
			if ok, err := q.log.HasCommit(ctx, latest-1); err != nil {
				return err
			} else if !ok {
				return &checkpoint.CorruptError{File: q.log.Store().String() + "/" + checkpoint.CommitsDir, Err: fmt.Errorf("batch %d was planned but batch %d has no commit", latest, latest-1)}
			}
		}
		q.restoreWatermark(offs)
		q.nextID = latest
		q.pending = &offs
		for i, s := range offs.Sources {
			q.starts[i] = sources.Offset(s.Start)
		}
	}
	return nil
}

// sourceKind is the kind of source a description names: what comes before its "[", as in
// "KinesisV2[stream]" or "RateStreamV2[rowsPerSecond=1, ...]".
func sourceKind(desc string) string {
	kind, _, _ := strings.Cut(desc, "[")
	return strings.TrimSpace(kind)
}

func (q *Query) setStatus(msg string, data, active bool) {
	q.mu.Lock()
	q.status = QueryStatus{Message: msg, IsDataAvailable: data, IsTriggerActive: active}
	q.mu.Unlock()
}

func (q *Query) stopping() bool {
	select {
	case <-q.stopCh:
		return true
	default:
		return false
	}
}

func (q *Query) run(ctx context.Context, stopAfter func() bool) {
	err := q.loop(ctx)
	if err != nil && !errors.Is(err, checkpoint.ErrLockLost) {
		// A checkpoint deleted during a batch shows as a failed write: name the cause first.
		if h, ok := q.lock.(checkpoint.LockHolder); ok {
			if lerr := h.Held(); lerr != nil {
				err = errors.Join(lerr, err)
			}
		}
	}
	if err != nil && ctx.Err() != nil {
		// Start's context was cancelled or Stop ran out of time: a stop, not a failure.
		q.logger.Info("sluice: query cancelled", "err", err)
		err = nil
	}
	stopAfter()
	cctx := context.Background()
	for _, op := range q.pl.ops {
		if c, ok := op.(operators.Closer); ok {
			err = errors.Join(err, c.Close(cctx))
		}
	}
	if cerr := q.closeState(); cerr != nil {
		q.logger.Warn("sluice: close state", "err", cerr)
	}
	for _, sp := range q.pl.paths {
		if cerr := sp.source.Close(cctx); cerr != nil {
			q.logger.Warn("sluice: close source", "source", sp.source.Description(), "err", cerr)
		}
	}
	if cerr := q.pl.sink.Close(cctx); cerr != nil {
		q.logger.Warn("sluice: close sink", "sink", q.pl.sinkDesc, "err", cerr)
	}
	q.lock.Close()
	if err == nil && q.temp != "" {
		_ = os.RemoveAll(q.temp)
	}
	q.cancel()
	if err != nil {
		if pe := (*PanicError)(nil); errors.As(err, &pe) {
			q.logger.Error("sluice: query failed", "err", err, "stack", string(pe.Stack))
		} else {
			q.logger.Error("sluice: query failed", "err", err)
		}
	} else {
		q.logger.Info("sluice: query stopped")
	}
	q.mu.Lock()
	q.err = err
	q.status = QueryStatus{Message: "Stopped"}
	q.mu.Unlock()
	q.p.mu.Lock()
	delete(q.p.active, q.id)
	q.p.mu.Unlock()
	if len(q.p.cfg.listeners) == 0 {
		close(q.done)
		close(q.delivered)
		return
	}
	ev := QueryTerminatedEvent{ID: q.id, RunID: q.runID, Err: err}
	q.p.bus.post(busEvent{deliver: func() {
		defer close(q.delivered)
		for _, l := range q.p.cfg.listeners {
			q.notify("OnQueryTerminated", func() { l.OnQueryTerminated(ev) })
		}
	}})
	close(q.done)
}

// limit is the read limit of source i for the query's trigger.
func (q *Query) limit(i int) sources.ReadLimit {
	if _, isOnce := q.pl.trigger.(once); isOnce {
		return sources.ReadLimit{}
	}
	if l, ok := q.pl.paths[i].source.(sources.Limiter); ok {
		return l.DefaultReadLimit()
	}
	return sources.ReadLimit{}
}

func (q *Query) loop(ctx context.Context) error {
	if q.pending != nil {
		b := &batchPlan{id: q.pending.BatchID, replay: true, watermarkMs: q.pending.WatermarkMs, started: time.Now(), dur: map[string]int64{}}
		for _, s := range q.pending.Sources {
			b.starts = append(b.starts, sources.Offset(s.Start))
			b.ends = append(b.ends, sources.Offset(s.End))
		}
		b.latest = b.ends
		q.logger.Info("sluice: replaying uncommitted batch", "batchId", b.id)
		if err := q.runBatch(ctx, b); err != nil {
			return err
		}
		q.pending = nil
		if _, isOnce := q.pl.trigger.(once); isOnce {
			return nil
		}
	}
	switch t := q.pl.trigger.(type) {
	case once:
		// One batch of everything available now: a prefetching source first gets to fetch
		// all of it (sources.AvailableNowWaiter).
		for _, sp := range q.pl.paths {
			an, ok1 := sp.source.(sources.AvailableNow)
			_, ok2 := sp.source.(sources.AvailableNowWaiter)
			if ok1 && ok2 {
				if err := an.PrepareForAvailableNow(ctx); err != nil {
					return fmt.Errorf("sluice: source %s: prepare for Once: %w", sp.source.Description(), err)
				}
			}
		}
		if err := q.awaitAvailableNow(ctx); err != nil {
			return err
		}
		_, err := q.step(ctx)
		return err
	case availableNow:
		if err := q.prepareAvailableNow(ctx); err != nil {
			return err
		}
		for !q.stopping() {
			// Each batch waits until a prefetching source has data of every shard it can read
			// (sources.AvailableNowBatchWaiter): planned as soon as one shard had data, a batch
			// held that shard alone, and the watermark it moved made the other shards' rows late.
			if err := q.awaitAvailableNowBatch(ctx); err != nil {
				return err
			}
			ran, err := q.step(ctx)
			if err != nil || !ran {
				return err
			}
		}
		return nil
	case processingTime:
		for {
			if q.stopping() {
				return nil
			}
			began := time.Now()
			ran, err := q.step(ctx)
			if err != nil {
				return err
			}
			var wait time.Duration
			switch {
			case t.interval > 0:
				next := began.Truncate(t.interval).Add(t.interval)
				wait = time.Until(next)
				if wait < 0 && ran && time.Since(q.lastBehindWarn) > idleProgressInterval {
					q.lastBehindWarn = time.Now()
					q.logger.Warn("sluice: current batch is falling behind the trigger interval", "interval", t.interval, "took", time.Since(began))
				}
			case !ran:
				wait = pollingDelay
			}
			if wait <= 0 {
				continue
			}
			q.setStatus("Waiting for next trigger", false, false)
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			case <-q.stopCh:
				timer.Stop()
				return nil
			case <-timer.C:
			}
		}
	}
	return fmt.Errorf("sluice: unknown trigger %v", q.pl.trigger)
}

// awaitAvailableNow waits, for every source that fetches ahead (sources.AvailableNowWaiter,
// once prepared for AvailableNow), until it can offer all the data up to the end fixed by
// PrepareForAvailableNow from where the next batch starts, or its buffer is full (Once).
func (q *Query) awaitAvailableNow(ctx context.Context) error {
	return q.awaitSources(ctx, "wait for the data available now", func(src sources.Source) func(context.Context, sources.Offset) error {
		_, an := src.(sources.AvailableNow)
		if w, ok := src.(sources.AvailableNowWaiter); ok && an {
			return w.AwaitAvailableNow
		}
		return nil
	})
}

// awaitAvailableNowBatch waits, for every source that implements
// sources.AvailableNowBatchWaiter, until the next batch can hold data of each of its partitions.
func (q *Query) awaitAvailableNowBatch(ctx context.Context) error {
	return q.awaitSources(ctx, "wait for the next batch's data", func(src sources.Source) func(context.Context, sources.Offset) error {
		if w, ok := src.(sources.AvailableNowBatchWaiter); ok {
			return w.AwaitAvailableNowBatch
		}
		return nil
	})
}

// awaitSources calls the wait that waitOf returns for each source (nil: none) with where the
// source's next batch starts.
func (q *Query) awaitSources(ctx context.Context, what string, waitOf func(sources.Source) func(context.Context, sources.Offset) error) error {
	for i, sp := range q.pl.paths {
		wait := waitOf(sp.source)
		if wait == nil {
			continue
		}
		start, err := q.startOf(ctx, i)
		if err != nil {
			return err
		}
		if err := wait(ctx, start); err != nil {
			return fmt.Errorf("sluice: source %s: %s: %w", sp.source.Description(), what, err)
		}
	}
	return nil
}

func (q *Query) prepareAvailableNow(ctx context.Context) error {
	q.fixedEnds = make([]sources.Offset, len(q.pl.paths))
	for i, sp := range q.pl.paths {
		if an, ok := sp.source.(sources.AvailableNow); ok {
			if err := an.PrepareForAvailableNow(ctx); err != nil {
				return fmt.Errorf("sluice: source %s: prepare for AvailableNow: %w", sp.source.Description(), err)
			}
			continue
		}
		start, err := q.startOf(ctx, i)
		if err != nil {
			return err
		}
		end, err := sp.source.LatestOffset(ctx, start, sources.ReadLimit{})
		if err != nil {
			return fmt.Errorf("sluice: source %s: latest offset: %w", sp.source.Description(), err)
		}
		q.fixedEnds[i] = end
	}
	return nil
}

// startOf returns where source i's next batch starts. The first time, that is the initial
// offset kept in the checkpoint, or the source's InitialOffset, which is then kept.
func (q *Query) startOf(ctx context.Context, i int) (sources.Offset, error) {
	if q.starts[i] == nil {
		src := q.pl.paths[i].source
		kept, ok, err := q.log.InitialOffset(ctx, i)
		if err != nil {
			return nil, err
		}
		if ok {
			q.starts[i] = sources.Offset(kept.Offset)
			return q.starts[i], nil
		}
		off, err := src.InitialOffset(ctx)
		if err != nil {
			return nil, fmt.Errorf("sluice: source %s: initial offset: %w", src.Description(), err)
		}
		if err := q.log.WriteInitialOffset(ctx, i, checkpoint.InitialOffset{Description: src.Description(), Offset: off}); err != nil {
			return nil, err
		}
		q.starts[i] = off
	}
	return q.starts[i], nil
}

// step plans and runs the next batch; ran is false when no source had new data.
func (q *Query) step(ctx context.Context) (ran bool, err error) {
	b := &batchPlan{id: q.nextID, watermarkMs: q.state.watermarkMs, started: time.Now(), dur: map[string]int64{}}
	q.setStatus("Getting offsets from sources", false, true)
	t0 := time.Now()
	newData := false
	for i, sp := range q.pl.paths {
		start, err := q.startOf(ctx, i)
		if err != nil {
			return false, &BatchError{BatchID: b.id, Stage: "source " + sp.source.Description(), Err: err}
		}
		var end sources.Offset
		if q.fixedEnds != nil && q.fixedEnds[i] != nil {
			end = q.fixedEnds[i]
		} else if end, err = sp.source.LatestOffset(ctx, start, q.limit(i)); err != nil {
			return false, &BatchError{BatchID: b.id, Stage: "source " + sp.source.Description(), Err: fmt.Errorf("latest offset: %w", err)}
		}
		b.starts = append(b.starts, start)
		b.ends = append(b.ends, end)
		newData = newData || !bytes.Equal(start, end)
	}
	b.latest = b.ends
	b.dur["latestOffset"] = time.Since(t0).Milliseconds()
	if !newData && !q.needsNoDataBatch() {
		q.setStatus("Waiting for data to arrive", false, false)
		b.dur["triggerExecution"] = time.Since(b.started).Milliseconds()
		q.idleProgress(b.dur)
		return false, nil
	}
	q.setStatus("Processing new data", true, true)
	t0 = time.Now()
	offs := checkpoint.Offsets{BatchID: b.id, TimestampMs: nowMs(b.started), WatermarkMs: b.watermarkMs}
	for i, sp := range q.pl.paths {
		offs.Sources = append(offs.Sources, checkpoint.SourceOffsets{Description: sp.source.Description(), Start: b.starts[i], End: b.ends[i]})
	}
	if h, ok := q.lock.(checkpoint.LockHolder); ok {
		if err := h.Held(); err != nil {
			return false, &BatchError{BatchID: b.id, Stage: "checkpoint", Err: err}
		}
	}
	if err := q.log.WriteOffsets(ctx, offs); err != nil {
		return false, &BatchError{BatchID: b.id, Stage: "checkpoint", Err: err}
	}
	b.dur["walCommit"] = time.Since(t0).Milliseconds()
	return true, q.runBatch(ctx, b)
}

// runBatch runs a planned batch (its offsets are in the log) through the sink and commits it.
func (q *Query) runBatch(ctx context.Context, b *batchPlan) error {
	pl := q.pl
	inRows := make([]atomic.Int64, len(pl.paths))
	var outRows int64
	skip := false
	if idem, ok := pl.sink.(sinks.Idempotent); ok {
		last, has, err := idem.LastBatchID(ctx)
		if err != nil {
			return &BatchError{BatchID: b.id, Stage: "sink " + pl.sinkDesc, Err: err}
		}
		skip = has && b.id <= last
	}
	t0 := time.Now()
	switch {
	case skip && len(pl.stateful) > 0:
		// The sink has the batch's output, but the state must still reach the batch's end.
		q.logger.Info("sluice: sink already holds batch; rebuilding its state without writing it again", "batchId", b.id)
		if _, err := q.execute(ctx, b, inRows, true); err != nil {
			return err
		}
	case skip:
		q.logger.Info("sluice: sink already holds batch; skipping it", "batchId", b.id)
	default:
		var err error
		outRows, err = q.execute(ctx, b, inRows, false)
		if err != nil {
			return err
		}
	}
	b.dur["addBatch"] = time.Since(t0).Milliseconds()
	t0 = time.Now()
	q.advanceWatermark(b) // before the commit, which records the next batch's watermark
	commit := checkpoint.Commit{BatchID: b.id, TimestampMs: nowMs(time.Now()), NextBatchWatermarkMs: q.state.watermarkMs}
	if err := q.log.WriteCommit(ctx, commit); err != nil {
		return &BatchError{BatchID: b.id, Stage: "checkpoint", Err: err}
	}
	for i, sp := range pl.paths {
		if err := sp.source.Commit(ctx, b.ends[i]); err != nil {
			return &BatchError{BatchID: b.id, Stage: "source " + sp.source.Description(), Err: fmt.Errorf("commit: %w", err)}
		}
	}
	if keep := b.id - q.p.cfg.retain + 1; keep > 0 {
		if err := q.log.Purge(ctx, keep); err != nil {
			q.logger.Warn("sluice: purge old checkpoint entries", "err", err)
		}
	}
	b.dur["commitOffsets"] = time.Since(t0).Milliseconds()
	q.starts = b.ends
	q.nextID = b.id + 1
	q.report(b, inRows, outRows)
	return nil
}

// execute reads every source's range through the operators into the sink, and brings the
// stateful operators' state to the batch's end. With discard, nothing reaches the sink (it
// already holds the batch) but the state is still computed and committed.
func (q *Query) execute(ctx context.Context, b *batchPlan, inRows []atomic.Int64, discard bool) (int64, error) {
	pl := q.pl
	sinkStage := "sink " + pl.sinkDesc
	var w sinks.BatchWriter
	if !discard {
		var err error
		if w, err = pl.sink.Begin(ctx, b.id); err != nil {
			return 0, &BatchError{BatchID: b.id, Stage: sinkStage, Err: err}
		}
	}
	var mu sync.Mutex // the sink's writer is not used concurrently
	var outRows int64
	write := func(rec arrow.RecordBatch) error {
		if pl.schema != nil && !rec.Schema().Equal(pl.schema) {
			return &stageError{stage: "plan", err: fmt.Errorf("a batch with schema %s reached the sink; the plan's schema is %s", rec.Schema(), pl.schema)}
		}
		if w == nil {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		outRows += rec.NumRows()
		return guard(sinkStage, func() error { return w.Write(ctx, rec) })
	}
	fail := func(err error) (int64, error) {
		q.rollbackState()
		if w != nil {
			if aerr := guard(sinkStage, func() error { return w.Abort(context.WithoutCancel(ctx)) }); aerr != nil {
				q.logger.Warn("sluice: abort sink batch", "batchId", b.id, "err", aerr)
			}
		}
		return 0, batchError(b.id, "source", err)
	}
	opCtx := operators.WithAllocator(ctx, q.p.cfg.mem)
	if err := q.beginStateful(opCtx, b); err != nil {
		return fail(err)
	}
	g, gctx := errgroup.WithContext(opCtx)
	rt := newRouter(gctx, pl, write)
	for i, sp := range pl.paths {
		if bytes.Equal(b.starts[i], b.ends[i]) {
			continue
		}
		emits := make([]operators.Emit, len(sp.chains))
		for c, chain := range sp.chains {
			emits[c] = rt.chain(chain)
		}
		g.Go(func() error {
			emit := func(rec arrow.RecordBatch) error {
				inRows[i].Add(rec.NumRows())
				for _, e := range emits {
					if err := e(rec); err != nil {
						return err
					}
				}
				return nil
			}
			return guard("source "+sp.source.Description(), func() error { return sp.source.Read(gctx, b.starts[i], b.ends[i], emit) })
		})
	}
	if err := g.Wait(); err != nil {
		return fail(err)
	}
	if len(pl.stateful) > 0 {
		rt = newRouter(opCtx, pl, write) // gctx ended with Wait
		if err := q.finishStateful(opCtx, rt.fanout); err != nil {
			return fail(err)
		}
	}
	if w != nil {
		if err := guard(sinkStage, func() error { return w.Commit(ctx) }); err != nil {
			q.rollbackState()
			return 0, batchError(b.id, sinkStage, err)
		}
	}
	// The sink committed; if writing the state fails now, the batch is replayed from the
	// previous state and an idempotent sink skips it (see runBatch).
	if err := q.commitState(ctx, b); err != nil {
		q.rollbackState()
		return 0, err
	}
	return outRows, nil
}

// router builds the Emit of each route through the plan: a chain of operators ends at the sink,
// or at a stateful operator whose output fans out to the routes after it.
type router struct {
	ctx   context.Context
	write operators.Emit
	byOp  map[operators.Operator]*statefulPlan
	fan   map[*statefulPlan]operators.Emit
	key   []string // columns that identify a record in row errors: of every source
}

func newRouter(ctx context.Context, pl *plan, write operators.Emit) *router {
	r := &router{ctx: ctx, write: write, byOp: map[operators.Operator]*statefulPlan{}, fan: map[*statefulPlan]operators.Emit{}}
	for _, sp := range pl.stateful {
		r.byOp[sp.op] = sp
	}
	for _, sp := range pl.paths {
		for _, k := range recordKey(sp.source) {
			if !slices.Contains(r.key, k) {
				r.key = append(r.key, k)
			}
		}
	}
	return r
}

// chain returns the Emit that feeds a batch through ops and on to where they end.
func (r *router) chain(ops []operators.Operator) operators.Emit {
	end := r.write
	if n := len(ops); n > 0 {
		if sp := r.byOp[ops[n-1]]; sp != nil {
			end = r.fanout(sp)
		}
	}
	return chainEmit(r.ctx, ops, end, r.key)
}

// fanout returns the Emit of a stateful operator's output: every route after it.
func (r *router) fanout(sp *statefulPlan) operators.Emit {
	if e, ok := r.fan[sp]; ok {
		return e
	}
	emits := make([]operators.Emit, len(sp.suffixes))
	for i, suf := range sp.suffixes {
		emits[i] = r.chain(suf)
	}
	e := func(rec arrow.RecordBatch) error {
		for _, emit := range emits {
			if err := emit(rec); err != nil {
				return err
			}
		}
		return nil
	}
	if len(emits) == 1 {
		e = emits[0]
	}
	r.fan[sp] = e
	return e
}

// chainEmit composes operators into one Emit ending in final. A row error of an operator names
// the record by the key columns (see identifyRow) when its input has them.
func chainEmit(ctx context.Context, chain []operators.Operator, final operators.Emit, key []string) operators.Emit {
	emit := final
	for i := len(chain) - 1; i >= 0; i-- {
		op, next := chain[i], emit
		stage := "operator " + op.Name()
		emit = func(rec arrow.RecordBatch) error {
			return guard(stage, func() error { return identifyRow(rec, op.Process(ctx, rec, next), key) })
		}
	}
	return emit
}

func rate(rows int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(rows) / d.Seconds()
}

func (q *Query) report(b *batchPlan, inRows []atomic.Int64, outRows int64) {
	now := time.Now()
	took := now.Sub(b.started)
	b.dur["triggerExecution"] = took.Milliseconds()
	b.dur["queryPlanning"] = 0
	b.dur["getBatch"] = 0
	// As Spark: input rows per second over the time since the previous batch started; the
	// first batch of a run has none: 0 in the struct, left out of the JSON (Spark's NaN).
	var sinceLast time.Duration
	first := q.lastTrigger.IsZero()
	if !first {
		sinceLast = b.started.Sub(q.lastTrigger)
	}
	q.lastTrigger = b.started
	var total int64
	prog := QueryProgress{ID: q.id, RunID: q.runID, Name: q.pl.name, Timestamp: b.started.UTC().Format("2006-01-02T15:04:05.000Z"),
		BatchID: b.id, BatchDuration: took.Milliseconds(), DurationMs: b.dur, EventTime: q.state.eventTime,
		StateOperators: append([]StateOperatorProgress{}, q.state.stateMetrics...), firstOfRun: first}
	for i, sp := range q.pl.paths {
		n := inRows[i].Load()
		total += n
		spg := SourceProgress{Description: sp.source.Description(), EndOffset: b.ends[i], LatestOffset: b.latest[i],
			NumInputRows: n, InputRowsPerSecond: rate(n, sinceLast), ProcessedRowsPerSecond: rate(n, took), firstOfRun: first}
		if b.id > 0 || b.replay {
			spg.StartOffset = b.starts[i]
		}
		if mr, ok := sp.source.(sources.MetricsReporter); ok {
			spg.Metrics = mr.Metrics(b.ends[i])
		}
		prog.Sources = append(prog.Sources, spg)
	}
	prog.NumInputRows = total
	prog.InputRowsPerSecond = rate(total, sinceLast)
	prog.ProcessedRowsPerSecond = rate(total, took)
	prog.Sink = SinkProgress{Description: q.pl.sinkDesc, NumOutputRows: outRows}
	if mr, ok := q.pl.sink.(interface{ Metrics() map[string]string }); ok {
		prog.Sink.Metrics = mr.Metrics()
	}
	q.publish(prog)
	q.logger.Debug("sluice: batch committed", "batchId", b.id, "numInputRows", total, "durationMs", took.Milliseconds())
}

// idleProgress reports a no-data progress under ProcessingTime when no progress was reported
// for idleProgressInterval, as Spark does, with the durations of the trigger that found no data
// (latestOffset, triggerExecution).
func (q *Query) idleProgress(dur map[string]int64) {
	if _, ok := q.pl.trigger.(processingTime); !ok {
		return
	}
	now := time.Now()
	if q.lastProgress.IsZero() {
		q.lastProgress = now
	}
	if now.Sub(q.lastProgress) < idleProgressInterval {
		return
	}
	prog := QueryProgress{ID: q.id, RunID: q.runID, Name: q.pl.name, Timestamp: now.UTC().Format("2006-01-02T15:04:05.000Z"),
		BatchID: q.nextID, DurationMs: dur, StateOperators: []StateOperatorProgress{},
		Sink: SinkProgress{Description: q.pl.sinkDesc}}
	for i, sp := range q.pl.paths {
		spg := SourceProgress{Description: sp.source.Description(), StartOffset: q.starts[i], EndOffset: q.starts[i], LatestOffset: q.starts[i]}
		if mr, ok := sp.source.(sources.MetricsReporter); ok {
			spg.Metrics = mr.Metrics(q.starts[i])
		}
		prog.Sources = append(prog.Sources, spg)
	}
	q.publish(prog)
}

func (q *Query) publish(prog QueryProgress) {
	q.lastProgress = time.Now()
	q.mu.Lock()
	q.recent = append(q.recent, prog)
	if len(q.recent) > recentProgressSize {
		q.recent = append(q.recent[:0:0], q.recent[len(q.recent)-recentProgressSize:]...)
	}
	q.mu.Unlock()
	if len(q.p.cfg.listeners) == 0 {
		return
	}
	q.p.bus.post(busEvent{droppable: true, deliver: func() {
		for _, l := range q.p.cfg.listeners {
			q.notify("OnQueryProgress", func() { l.OnQueryProgress(QueryProgressEvent{Progress: prog}) })
		}
	}})
}

// notify calls a listener; a panic in it is logged and otherwise ignored, as Spark's listener
// bus does, so that a listener can neither crash the process nor leave the query half started.
func (q *Query) notify(what string, call func()) {
	defer func() {
		if r := recover(); r != nil {
			q.logger.Error("sluice: a listener panicked; the query goes on", "callback", what, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	call()
}

// ID returns the query's ID, which is kept in the checkpoint and so stable across restarts.
func (q *Query) ID() string { return q.id }

// RunID returns the ID of this run of the query, new at every Start.
func (q *Query) RunID() string { return q.runID }

// Name returns the name given with QueryName, or "".
func (q *Query) Name() string { return q.pl.name }

// Explain returns the query's plan: the trigger, the checkpoint, the tree of stages from the
// sink down to the sources (with their options, secrets redacted) and the output schema.
func (q *Query) Explain() string { return q.pl.explain }

// Status returns what the query is doing now.
func (q *Query) Status() QueryStatus {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.status
}

// LastProgress returns the most recent progress report, or nil before the first.
func (q *Query) LastProgress() *QueryProgress {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.recent) == 0 {
		return nil
	}
	p := q.recent[len(q.recent)-1]
	return &p
}

// RecentProgress returns the most recent progress reports, oldest first (at most 100).
func (q *Query) RecentProgress() []QueryProgress {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]QueryProgress(nil), q.recent...)
}

// IsActive reports whether the query is still running.
func (q *Query) IsActive() bool {
	select {
	case <-q.done:
		return false
	default:
		return true
	}
}

// Err returns the error that terminated the query, or nil while it runs or when it was stopped
// or finished normally.
func (q *Query) Err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// Done returns a channel closed when the query has terminated: its checkpoint is released.
// The listeners may still be delivering its last events (see AwaitTermination).
func (q *Query) Done() <-chan struct{} { return q.done }

// AwaitTermination waits until the query terminates and the listeners have had its
// OnQueryTerminated (at most 5 seconds more: see Listener), and returns Err. If ctx ends while
// the query runs, it returns ctx.Err() (the query keeps running).
func (q *Query) AwaitTermination(ctx context.Context) error {
	select {
	case <-q.done:
	case <-ctx.Done():
		select {
		case <-q.done:
		default:
			return ctx.Err()
		}
	}
	q.waitListeners(ctx, q.delivered, "OnQueryTerminated")
	return q.Err()
}

// listenerWait bounds how long Start, Stop and AwaitTermination wait for the listeners to have
// the query's started or terminated event: a stuck listener must not hang them.
var listenerWait = 5 * time.Second // a variable for the tests

// waitListeners waits until delivered is closed (the listeners had an event of the query), ctx
// ends or listenerWait passes. It does not wait when there are no listeners, or when called
// by a listener (the event is queued behind the one it is handling).
func (q *Query) waitListeners(ctx context.Context, delivered <-chan struct{}, event string) {
	if len(q.p.cfg.listeners) == 0 || q.p.bus.delivering() {
		return
	}
	timer := time.NewTimer(listenerWait)
	defer timer.Stop()
	select {
	case <-delivered:
	case <-ctx.Done():
	case <-timer.C:
		q.logger.Warn("sluice: the listeners have not had the event yet; not waiting longer (is a listener stuck?)", "event", event, "waited", listenerWait)
	}
}

// Stop stops the query gracefully: the batch in flight finishes and is committed, then the
// sources and the sink are closed and the checkpoint is released. If ctx ends first, the
// batch in flight is abandoned (it is replayed at the next start) and Stop returns ctx.Err()
// once the query has terminated. Like AwaitTermination, a graceful Stop also waits, within ctx
// and at most 5 seconds, for the listeners to have OnQueryTerminated. Stop on a terminated
// query returns nil.
func (q *Query) Stop(ctx context.Context) error {
	q.stopOnce.Do(func() { close(q.stopCh) })
	select {
	case <-q.done:
		q.waitListeners(ctx, q.delivered, "OnQueryTerminated") // as AwaitTermination
		return nil
	case <-ctx.Done():
		q.cancel()
		<-q.done
		return ctx.Err()
	}
}
