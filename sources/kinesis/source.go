package kinesis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/sync/errgroup"

	"github.com/sluicedev/sluice/sources"
)

func init() {
	sources.Register("kinesis", func(kv map[string]string) (sources.Source, error) {
		o := DefaultOptions()
		perr := Spec.Parse(&o, kv)
		verr := o.Validate()
		if perr != nil || verr != nil {
			return nil, errors.Join(perr, withoutKeysOf(verr, perr))
		}
		return New(o)
	})
}

var (
	_ sources.Source             = (*Source)(nil)
	_ sources.AvailableNow       = (*Source)(nil)
	_ sources.AvailableNowWaiter = (*Source)(nil)
	_ sources.MetricsReporter    = (*Source)(nil)
	_ sources.OptionRedactor     = (*Source)(nil)
)

// errClosed is returned by calls made after Close.
var errClosed = errors.New("kinesis: the source is closed")

// streamInfo is one configured stream.
type streamInfo struct {
	key       string // as configured: the name, or the ARN; the offsets' key
	name      string // the stream column's value
	arn       string // "" when the stream is addressed by name
	createdMs int64  // StreamCreationTimestamp, from the last DescribeStreamSummary
}

// shardKey identifies a shard of a configured stream.
type shardKey struct{ stream, id string }

// String returns "stream/shardId".
func (k shardKey) String() string { return k.stream + "/" + k.id }

// shard is the source's state of one shard. Fields after the first group are guarded by
// Source.mu.
type shard struct {
	key  shardKey
	st   *streamInfo
	dec  decoder
	pace *pacer

	parents         []string // parent and adjacent parent shard IDs
	listed          bool     // in the last ListShards result
	endedPerListing bool     // ListShards gave it an ending sequence number

	gen        uint64   // bumped when the buffer is reset; results of older fetches are dropped
	cursor     position // where the next fetch continues: after the last buffered row
	iterator   string   // "" when a GetShardIterator is needed
	blocks     []*block // buffered, in order; the first starts at the committed position
	released   int      // blocks[:released] are available to micro-batches
	fetchEnded bool     // the end of the shard is buffered (or committed)
	task       *task
	retryAt    time.Time // no fetch before this (backoff)
	failures   int       // transient failures in a row
	throttles  int       // throttled calls in a row
	msBehind   int64
	hasBehind  bool
	anDone     bool // AvailableNow: everything before the recorded time is buffered
}

// task is a prefetching goroutine and the shards it reads.
type task struct {
	shards []*shard
	wake   chan struct{}
}

// Source is the Kinesis source. Build it with New, or by name with
// ReadStream().Format("kinesis"). See the package documentation.
type Source struct {
	opts    Options
	streams []*streamInfo
	byKey   map[string]*streamInfo
	desc    string
	now     func() time.Time

	api API
	mem memory.Allocator
	log *slog.Logger

	ctx      context.Context // the background work's; done at Close or on a fatal error
	cancel   context.CancelFunc
	g        *errgroup.Group
	discover chan struct{} // asks the discovery loop for a listing now

	mu       sync.Mutex
	opened   bool
	closed   bool
	fatal    error
	changed  chan struct{} // closed and replaced when buffered data or shard states change
	shards   map[shardKey]*shard
	pacers   map[shardKey]*pacer
	base     *offset // the committed offset; nil until the first offset is known
	baseJSON sources.Offset
	bufBytes int64
	tasks    []*task
	an       bool      // PrepareForAvailableNow was called
	anTime   time.Time // ... at this time

	m counters
}

// New returns a Kinesis source, checking the options. It does no I/O and starts nothing:
// Open does.
func New(o Options) (*Source, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.ConsumerMode == "" {
		o.ConsumerMode = Polling
	}
	if o.InitialPosition.Kind == "" {
		o.InitialPosition.Kind = Latest
	}
	s := &Source{opts: o, byKey: map[string]*streamInfo{}, now: time.Now,
		shards: map[shardKey]*shard{}, pacers: map[shardKey]*pacer{}, changed: make(chan struct{})}
	var names []string
	for _, n := range o.StreamNames {
		s.streams = append(s.streams, &streamInfo{key: n, name: n})
	}
	for _, a := range o.StreamARNs {
		_, n := arnParts(a)
		s.streams = append(s.streams, &streamInfo{key: a, name: n, arn: a})
	}
	for _, st := range s.streams {
		s.byKey[st.key] = st
		names = append(names, st.name)
	}
	s.desc = "KinesisV2[" + strings.Join(names, ", ") + "]"
	return s, nil
}

// Description implements sources.Source: "KinesisV2[stream-a, stream-b]".
func (s *Source) Description() string { return s.desc }

// Schema implements sources.Source; it returns Schema.
func (s *Source) Schema() *arrow.Schema { return Schema }

// Open implements sources.Source: it builds the client, checks that every stream exists and
// may be read, lists the shards and starts the shard discovery loop. Prefetching starts once
// the first offset is known (InitialOffset, or the first offset the coordinator passes).
func (s *Source) Open(ctx context.Context, info sources.Info) error {
	s.mu.Lock()
	if s.opened || s.closed {
		s.mu.Unlock()
		return errors.New("kinesis: Open called twice or after Close")
	}
	s.opened = true
	s.mu.Unlock()
	s.mem = info.Allocator
	if s.mem == nil {
		s.mem = memory.DefaultAllocator
	}
	s.log = info.Logger
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.log = s.log.With("source", s.desc)
	api, err := s.opts.newClient(ctx)
	if err != nil {
		return err
	}
	s.api = api
	if err := s.listAll(context.WithValue(ctx, transientLimitKey{}, openTransientFailures)); err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g, gctx := errgroup.WithContext(bg)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed { // Close ran during the listing
		cancel()
		return errClosed
	}
	s.ctx, s.cancel, s.g = gctx, cancel, g
	s.discover = make(chan struct{}, 1)
	g.Go(func() error { return s.discoveryLoop(gctx) })
	n := 0
	for _, sh := range s.shards {
		if sh.listed {
			n++
		}
	}
	s.log.Info("kinesis: source opened", "streams", len(s.streams), "shards", n)
	return nil
}

// Close implements sources.Source: it stops the background work, waits for it, and releases
// the buffered batches. Calls blocked in LatestOffset or Read return.
func (s *Source) Close(context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	g, cancel := s.g, s.cancel
	s.signalLocked()
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if g != nil {
		_ = g.Wait() // a fatal error was already reported by the calls that saw it
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sh := range s.shards {
		s.dropBlocksLocked(sh, len(sh.blocks))
	}
	return nil
}

// errLocked returns the error calls must return: a fatal error of the background work, or
// errClosed.
func (s *Source) errLocked() error {
	switch {
	case s.fatal != nil:
		return s.fatal
	case s.closed:
		return errClosed
	case s.ctx == nil:
		return errors.New("kinesis: the source is not open")
	}
	return nil
}

// fail records a fatal error of the background work; calls return it from now on.
func (s *Source) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fatal == nil && !s.closed {
		s.fatal = err
		s.log.Error("kinesis: source failed", "err", err)
	}
	s.signalLocked()
}

// signalLocked wakes everything waiting for a change.
func (s *Source) signalLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// requestDiscovery asks the discovery loop for a listing now.
func (s *Source) requestDiscovery() {
	select {
	case s.discover <- struct{}{}:
	default:
	}
}

// InitialOffset implements sources.Source. Every shard listed now starts at the initial
// position: trim_horizon, or at_timestamp. Latest is resolved to at_timestamp of now (closed
// shards are marked closed), so that a replay of the first batch reads the same rows.
func (s *Source) InitialOffset(ctx context.Context) (sources.Offset, error) {
	s.mu.Lock()
	err := s.errLocked()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := s.listAll(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.errLocked(); err != nil {
		return nil, err
	}
	now := s.now()
	o := &offset{streams: map[string]*streamOffset{}}
	for _, st := range s.streams {
		o.streams[st.key] = &streamOffset{createdMs: st.createdMs, shards: map[string]position{}}
	}
	for _, sh := range s.shards {
		if !sh.listed {
			continue
		}
		var p position
		switch ip := s.opts.InitialPosition; ip.Kind {
		case TrimHorizon:
			p = trimHorizon()
		case AtTimestamp:
			p = atTimestamp(ip.Timestamp.UnixMilli())
		default: // Latest
			p = atTimestamp(now.UnixMilli())
			if sh.endedPerListing {
				p = closedPos()
			}
		}
		o.streams[sh.st.key].shards[sh.key.id] = p
	}
	enc := o.encode()
	s.setBaseLocked(o, enc)
	return enc, nil
}

// setBaseLocked makes o (encoded as enc) the committed offset and brings every shard's
// buffer in line with it.
func (s *Source) setBaseLocked(o *offset, enc sources.Offset) {
	s.base, s.baseJSON = o, slices.Clone(enc)
	for _, sh := range s.shards {
		p, in := o.pos(sh.key.stream, sh.key.id)
		if !in {
			if !sh.listed {
				// A closed shard that has expired from the stream and was pruned from the
				// offsets: it is never read again.
				s.dropBlocksLocked(sh, len(sh.blocks))
				sh.fetchEnded = true
				continue
			}
			p = trimHorizon()
		}
		s.syncShardLocked(sh, p)
	}
	for _, key := range o.streamKeys() {
		for id, p := range o.streams[key].shards {
			if s.shards[shardKey{key, id}] == nil {
				sh := s.newShardLocked(s.byKey[key], id)
				s.syncShardLocked(sh, p)
			}
		}
	}
	s.scheduleLocked()
	s.signalLocked()
}

// syncShardLocked makes the shard's buffer start at p: buffered data before p (committed) is
// dropped; if the buffer does not continue from p, it is emptied and prefetching restarts at p.
func (s *Source) syncShardLocked(sh *shard, p position) {
	n := 0
	for n < len(sh.blocks) && !p.before(sh.blocks[n].to) {
		n++
	}
	s.dropBlocksLocked(sh, n)
	if len(sh.blocks) > 0 && sh.blocks[0].from != p {
		b := sh.blocks[0]
		if b.from.before(p) && p.before(b.to) && b.rec != nil {
			if k := b.firstAfter(p); k > 0 && b.posOf(k-1) == p {
				rest := b.slice(k, b.rows())
				s.bufBytes += rest.bytes - b.bytes
				b.release()
				sh.blocks[0] = rest
			}
		}
	}
	consistent := (len(sh.blocks) > 0 && sh.blocks[0].from == p) || (len(sh.blocks) == 0 && sh.cursor == p)
	if !consistent {
		s.dropBlocksLocked(sh, len(sh.blocks))
		sh.gen++
		sh.cursor = p
		sh.iterator = ""
		sh.fetchEnded = p.kind == posClosed
		sh.anDone = false
		sh.hasBehind = false
	}
	if p.kind == posClosed {
		sh.fetchEnded = true
	}
}

// dropBlocksLocked releases the shard's first n blocks.
func (s *Source) dropBlocksLocked(sh *shard, n int) {
	for _, b := range sh.blocks[:n] {
		s.bufBytes -= b.bytes
		b.release()
	}
	sh.blocks = slices.Delete(sh.blocks, 0, n)
	sh.released = max(0, sh.released-n)
}

// newShardLocked adds a shard to the registry, positioned where the committed offset says
// (the trim horizon if it does not hold it).
func (s *Source) newShardLocked(st *streamInfo, id string) *shard {
	key := shardKey{st.key, id}
	sh := &shard{key: key, st: st, dec: decoder{mem: s.mem, stream: st.name, shard: id}, pace: s.pacerLocked(key), cursor: trimHorizon()}
	if s.base != nil {
		sh.cursor = s.base.startOf(st.key, id)
		sh.fetchEnded = sh.cursor.kind == posClosed
	}
	s.shards[key] = sh
	return sh
}

// pacerLocked returns the shard's pacer, shared by its prefetching and by re-reads.
func (s *Source) pacerLocked(key shardKey) *pacer {
	p := s.pacers[key]
	if p == nil {
		p = newPacer(s.opts.MinFetchPeriod, s.opts.MaxFetchRate, s.now())
		s.pacers[key] = p
	}
	return p
}

// adoptLocked makes start the committed offset if it is not already: after a restart the
// coordinator's first offset tells the source where to prefetch from.
func (s *Source) adoptLocked(start sources.Offset) error {
	if s.base != nil && bytes.Equal(start, s.baseJSON) {
		return nil
	}
	o, err := s.checkOffsetLocked(start)
	if err != nil {
		return err
	}
	s.setBaseLocked(o, start)
	return nil
}

// checkOffsetLocked decodes an offset and checks it against the configured streams and their
// creation timestamps.
func (s *Source) checkOffsetLocked(b sources.Offset) (*offset, error) {
	o, err := decodeOffset(b)
	if err != nil {
		return nil, err
	}
	have := o.streamKeys()
	var want []string
	for _, st := range s.streams {
		want = append(want, st.key)
	}
	slices.Sort(want)
	if !slices.Equal(have, want) {
		return nil, fmt.Errorf("kinesis: the checkpoint's offsets are for streams [%s], but the source reads [%s]; streams cannot be added to or removed from a query: use a new checkpointLocation",
			strings.Join(have, ", "), strings.Join(want, ", "))
	}
	for _, st := range s.streams {
		if err := st.checkCreated(o.streams[st.key].createdMs); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// checkCreated compares the creation timestamp kept in an offset with the stream's.
func (st *streamInfo) checkCreated(ms int64) error {
	if st.createdMs == 0 || ms == st.createdMs {
		return nil
	}
	return fmt.Errorf("kinesis: stream %s: %w: the checkpoint is for the stream created at %s, the stream now was created at %s; delete the checkpoint or use a new checkpointLocation to read it from scratch",
		st.key, ErrStreamRecreated, time.UnixMilli(ms).UTC().Format(time.RFC3339Nano), time.UnixMilli(st.createdMs).UTC().Format(time.RFC3339Nano))
}

// LatestOffset implements sources.Source: the end of the data made available (see the package
// documentation on maxFetchDuration). After PrepareForAvailableNow it waits until there is
// data or every shard has been read up to the recorded time, and then returns start.
func (s *Source) LatestOffset(ctx context.Context, start sources.Offset, _ sources.ReadLimit) (sources.Offset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.errLocked(); err != nil {
		return nil, err
	}
	if err := s.adoptLocked(start); err != nil {
		return nil, err
	}
	listed := false
	for {
		s.releaseLocked(s.now())
		end := s.endLocked()
		if !bytes.Equal(end, start) || !s.an {
			if bytes.Equal(end, start) {
				return start, nil
			}
			return end, nil
		}
		if s.anFinishedLocked() {
			if listed {
				return start, nil
			}
			// One more listing before stopping, to see the children of shards that closed.
			listed = true
			s.mu.Unlock()
			err := s.listAll(ctx)
			s.mu.Lock()
			if err != nil {
				return nil, err
			}
			if err := s.errLocked(); err != nil {
				return nil, err
			}
			continue
		}
		listed = false
		if err := s.waitChangeLocked(ctx); err != nil {
			return nil, err
		}
		if err := s.errLocked(); err != nil {
			return nil, err
		}
	}
}

// releaseLocked makes buffered blocks available. A shard's pending blocks are released together
// once the oldest has waited maxFetchDuration (one "prefetch step"), or at once when the shard's
// end is buffered, when the buffer is full (prefetching has paused), or, under AvailableNow, when
// the shard has been read up to the recorded time.
func (s *Source) releaseLocked(now time.Time) {
	full := s.bufBytes >= s.opts.FetchBufferSize
	for _, sh := range s.shards {
		if sh.released == len(sh.blocks) {
			continue
		}
		first := sh.blocks[sh.released]
		if full || sh.fetchEnded || (s.an && sh.anDone) || now.Sub(first.fetched) >= s.opts.MaxFetchDuration {
			sh.released = len(sh.blocks)
		}
	}
}

// endLocked returns the offset after every released block, with closed shards that no longer
// exist in the stream pruned. It is cheap when nothing changed: LatestOffset is polled often.
func (s *Source) endLocked() sources.Offset {
	var moved []*shard
	for _, sh := range s.shards {
		if sh.released > 0 && s.base.streams[sh.key.stream] != nil {
			moved = append(moved, sh)
		}
	}
	var pruned []shardKey
	for key, so := range s.base.streams {
		for id, p := range so.shards {
			if p.kind != posClosed {
				continue
			}
			if sh := s.shards[shardKey{key, id}]; sh != nil && !sh.listed && sh.parentOfNone(s) {
				pruned = append(pruned, sh.key)
			}
		}
	}
	if len(moved) == 0 && len(pruned) == 0 {
		return s.baseJSON
	}
	o := s.base.clone()
	for _, sh := range moved {
		o.streams[sh.key.stream].shards[sh.key.id] = sh.blocks[sh.released-1].to
	}
	for _, k := range pruned {
		delete(o.streams[k.stream].shards, k.id)
	}
	return o.encode()
}

// parentOfNone reports whether no listed shard has sh as a parent.
func (sh *shard) parentOfNone(s *Source) bool {
	for _, x := range s.shards {
		if x.listed && x.key.stream == sh.key.stream && slices.Contains(x.parents, sh.key.id) {
			return false
		}
	}
	return true
}

// anFinishedLocked reports whether, under AvailableNow, every shard that may be read has
// been read up to the recorded time and everything read is released.
func (s *Source) anFinishedLocked() bool {
	for _, sh := range s.shards {
		if sh.released < len(sh.blocks) {
			return false
		}
		if s.fetchableLocked(sh) && !sh.anDone {
			return false
		}
	}
	return true
}

// Commit implements sources.Source: buffered data before end is dropped, and children of
// shards that end closes may now be read.
func (s *Source) Commit(_ context.Context, end sources.Offset) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.errLocked(); err != nil {
		return err
	}
	if s.base != nil && bytes.Equal(end, s.baseJSON) {
		return nil
	}
	o, err := s.checkOffsetLocked(end)
	if err != nil {
		return err
	}
	s.setBaseLocked(o, end)
	for _, t := range s.tasks {
		wake(t)
	}
	return nil
}

// AwaitAvailableNow implements sources.AvailableNowWaiter: after PrepareForAvailableNow it
// adopts start (the committed offset) and waits until every shard that may be read has been
// read up to the recorded time and all of it is released, so that LatestOffset(start) offers
// it in one batch (Trigger.Once); or until fetchBufferSize is full, which bounds the batch.
func (s *Source) AwaitAvailableNow(ctx context.Context, start sources.Offset) error {
	return s.awaitUntil(ctx, start, "AwaitAvailableNow", func() bool {
		// Done when everything is fetched, or when the buffer is full: nothing more can be
		// fetched before the batch commits, and the batch holds what fetchBufferSize allows.
		return s.anFinishedLocked() || s.bufBytes >= s.opts.FetchBufferSize
	})
}

// awaitUntil adopts start after PrepareForAvailableNow, then waits until done (called with
// s.mu held, after the ready blocks are released) is true, the source fails or ctx ends.
func (s *Source) awaitUntil(ctx context.Context, start sources.Offset, what string, done func() bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.an {
		return fmt.Errorf("kinesis: %s before PrepareForAvailableNow", what)
	}
	if err := s.errLocked(); err != nil {
		return err
	}
	if err := s.adoptLocked(start); err != nil {
		return err
	}
	for {
		if err := s.errLocked(); err != nil {
			return err
		}
		s.releaseLocked(s.now())
		if done() {
			return nil
		}
		if err := s.waitChangeLocked(ctx); err != nil {
			return err
		}
	}
}

// AwaitAvailableNowBatch implements sources.AvailableNowBatchWaiter: after
// PrepareForAvailableNow it adopts start and waits until every shard that may be read now has
// fetched data for the next batch, or has been read up to the recorded time or to its end (or
// the buffer is full), then releases what is buffered, so that the batch holds a part of every
// shard. It does not wait for the shards to be read through, as AwaitAvailableNow does for
// Trigger.Once: a backlog is read in batches of what one round of fetches brings.
func (s *Source) AwaitAvailableNowBatch(ctx context.Context, start sources.Offset) error {
	return s.awaitUntil(ctx, start, "AwaitAvailableNowBatch", func() bool {
		if s.bufBytes >= s.opts.FetchBufferSize || s.anFinishedLocked() {
			return true
		}
		for _, sh := range s.shards {
			if len(sh.blocks) == 0 && s.fetchableLocked(sh) && !sh.anDone {
				return false // a shard that may be read has nothing for the batch yet
			}
		}
		for _, sh := range s.shards {
			sh.released = len(sh.blocks)
		}
		return true
	})
}

// waitChangeLocked releases s.mu until the buffer changes (s.changed), 50 ms pass, or ctx or
// the source ends; it returns ctx's error.
func (s *Source) waitChangeLocked(ctx context.Context) error {
	ch := s.changed
	s.mu.Unlock()
	timer := time.NewTimer(50 * time.Millisecond)
	select {
	case <-ctx.Done():
	case <-s.ctx.Done():
	case <-ch:
	case <-timer.C:
	}
	timer.Stop()
	s.mu.Lock()
	return ctx.Err()
}

// PrepareForAvailableNow implements sources.AvailableNow: it records the current time; each
// shard is then read up to the records that arrived before it, or to its tip, or to its end,
// and LatestOffset stops advancing once all are.
func (s *Source) PrepareForAvailableNow(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.errLocked(); err != nil {
		return err
	}
	s.an, s.anTime = true, s.now()
	for _, sh := range s.shards {
		sh.anDone = false
		s.cutLocked(sh)
	}
	s.signalLocked()
	return nil
}

// cutLocked applies the AvailableNow cut to the shard's unreleased blocks: the first row that
// arrived at or after the recorded time, and everything after it, is dropped (the next run reads
// it again), the shard's cursor moves back to the last row kept, and the shard is done.
func (s *Source) cutLocked(sh *shard) {
	if !s.an || sh.anDone {
		return
	}
	cut := s.anTime.UnixMicro()
	for i := sh.released; i < len(sh.blocks); i++ {
		b := sh.blocks[i]
		if b.rec == nil || b.maxArrival < cut {
			continue
		}
		ts := b.rec.Column(colArrival).(*array.Timestamp).Values()
		k := slices.IndexFunc(ts, func(t arrow.Timestamp) bool { return int64(t) >= cut })
		var kept []*block
		cursor := b.from
		if k > 0 {
			prefix := b.slice(0, k)
			kept = append(kept, prefix)
			cursor = prefix.to
			s.bufBytes += prefix.bytes
		}
		for _, x := range sh.blocks[i:] {
			s.bufBytes -= x.bytes
			x.release()
		}
		sh.blocks = append(sh.blocks[:i], kept...)
		sh.cursor = cursor
		sh.iterator = ""
		sh.gen++ // a fetch in flight continues from a position that is gone
		sh.fetchEnded = false
		sh.anDone = true
		return
	}
}

// fetchableLocked reports whether the shard may be prefetched: the committed offset is known,
// the shard's end is not buffered, and its parents' ends are committed (so a parent's rows and
// its child's never share a micro-batch, and per-key order holds across resharding).
func (s *Source) fetchableLocked(sh *shard) bool {
	if s.base == nil || sh.fetchEnded {
		return false
	}
	if !sh.listed {
		// Not in the stream's listing: a shard of the offsets that has expired. It is read
		// (and found gone) only if the offsets hold it open.
		if p, in := s.base.pos(sh.key.stream, sh.key.id); !in || p.kind == posClosed {
			return false
		}
	}
	for _, parent := range sh.parents {
		if p, in := s.base.pos(sh.key.stream, parent); in {
			if p.kind != posClosed {
				return false
			}
			continue
		}
		if ps := s.shards[shardKey{sh.key.stream, parent}]; ps != nil && ps.listed {
			return false // a parent that is still to be read
		}
	}
	return true
}

// scheduleLocked gives every shard that may be prefetched to a task, starting tasks as needed,
// and takes shards whose end is buffered off their tasks.
func (s *Source) scheduleLocked() {
	if s.g == nil || s.closed {
		return
	}
	for _, t := range s.tasks {
		t.shards = slices.DeleteFunc(t.shards, func(sh *shard) bool {
			if sh.fetchEnded || s.shards[sh.key] != sh {
				sh.task = nil
				return true
			}
			return false
		})
	}
	var todo []*shard
	for _, sh := range s.shards {
		if sh.task == nil && s.fetchableLocked(sh) {
			todo = append(todo, sh)
		}
	}
	slices.SortFunc(todo, func(a, b *shard) int { return strings.Compare(a.key.String(), b.key.String()) })
	for _, sh := range todo {
		var t *task
		for _, c := range s.tasks {
			if len(c.shards) < int(s.opts.ShardsPerTask) {
				t = c
				break
			}
		}
		if t == nil {
			t = &task{wake: make(chan struct{}, 1)}
			s.tasks = append(s.tasks, t)
			ctx := s.ctx
			s.g.Go(func() error { return s.runTask(ctx, t) })
		}
		t.shards = append(t.shards, sh)
		sh.task = t
		wake(t)
	}
}

func wake(t *task) {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}
