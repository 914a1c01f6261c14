package kinesis

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Timeouts of single calls. A call that times out is a transient failure.
const (
	callTimeout = 30 * time.Second
	// atTimestampTimeout bounds GetShardIterator(AT_TIMESTAMP). kinesalite never answers it
	// when no record at or after the timestamp exists yet; a timeout then means "nothing
	// there yet", as an InvalidArgumentException for a future timestamp does.
	atTimestampTimeout = 3 * time.Second
	// notYetRetry is the wait before asking again for an at-timestamp iterator.
	notYetRetry = 500 * time.Millisecond
)

// errNotYet says that no record exists yet at or after an at-timestamp position.
var errNotYet = errors.New("kinesis: no record at or after the timestamp yet")

// counters are the source's cumulative metrics.
type counters struct {
	throttled      atomic.Int64 // calls refused with a throttling error
	retries        atomic.Int64 // calls retried after a transient error
	expired        atomic.Int64 // shard iterators that expired and were made again
	getRecords     atomic.Int64 // GetRecords calls
	fetchedRecords atomic.Int64 // user records prefetched
	fetchedBytes   atomic.Int64 // payload bytes prefetched
	rereadRecords  atomic.Int64 // user records read again from Kinesis by Read
	expiredShards  atomic.Int64 // shards that expired before they were read to the end

	// inflight is the payload bytes that the GetRecords calls of the prefetching tasks in
	// flight are expected to add to the buffer (see reservation); largest is the payload of
	// the largest answer so far; answered is set by the first answer. They change only under
	// Source.mu.
	inflight atomic.Int64
	largest  atomic.Int64
	answered atomic.Bool
}

// maxAnswerBytes is the most payload one GetRecords answer may hold (Kinesis' limit).
const maxAnswerBytes = 10 << 20

// reservation is what a prefetching call reserves of the buffer: the payload of the largest
// answer so far, or Kinesis' limit until the first answer.
func (m *counters) reservation() int64 {
	if !m.answered.Load() {
		return maxAnswerBytes
	}
	return m.largest.Load()
}

// address sets the stream of a request: its ARN if the stream was given by ARN, else its name.
func (st *streamInfo) address(name, arn **string) {
	if st.arn != "" {
		*arn = aws.String(st.arn)
	} else {
		*name = aws.String(st.name)
	}
}

// describe returns the stream's creation timestamp in milliseconds.
func (s *Source) describe(ctx context.Context, st *streamInfo) (int64, error) {
	in := &kinesis.DescribeStreamSummaryInput{}
	st.address(&in.StreamName, &in.StreamARN)
	var out *kinesis.DescribeStreamSummaryOutput
	err := s.retry(ctx, func(ctx context.Context) (err error) {
		out, err = s.api.DescribeStreamSummary(ctx, in)
		return err
	})
	if err != nil {
		return 0, s.apiError("describe", st, "", err)
	}
	if out.StreamDescriptionSummary == nil || out.StreamDescriptionSummary.StreamCreationTimestamp == nil {
		return 0, fmt.Errorf("kinesis: describe stream %s: the answer has no StreamCreationTimestamp", st.key)
	}
	return out.StreamDescriptionSummary.StreamCreationTimestamp.UnixMilli(), nil
}

// listShards returns all the stream's shards (ListShards, paginated). The next pages are
// asked for with NextToken alone: Kinesis refuses NextToken together with StreamName.
func (s *Source) listShards(ctx context.Context, st *streamInfo) ([]types.Shard, error) {
	var shards []types.Shard
	err := s.retry(ctx, func(ctx context.Context) error {
		shards = shards[:0]
		in := &kinesis.ListShardsInput{}
		st.address(&in.StreamName, &in.StreamARN)
		for {
			out, err := s.api.ListShards(ctx, in)
			if err != nil {
				return err
			}
			shards = append(shards, out.Shards...)
			if out.NextToken == nil || *out.NextToken == "" {
				return nil
			}
			in = &kinesis.ListShardsInput{NextToken: out.NextToken}
		}
	})
	if err != nil {
		return nil, s.apiError("list shards of", st, "", err)
	}
	return shards, nil
}

// retry runs call until it succeeds, retrying throttling without limit and transient errors
// (an expired ListShards token restarts the listing) up to maxTransientFailures times in a row.
func (s *Source) retry(ctx context.Context, call func(context.Context) error) error {
	failures := 0
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		err := call(cctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		switch classify(err) {
		case classThrottled:
			s.m.throttled.Add(1)
		case classTransient:
			s.m.retries.Add(1)
			failures++
		default:
			var expiredToken *types.ExpiredNextTokenException
			if !errors.As(err, &expiredToken) {
				return err
			}
			failures++
		}
		if failures >= transientLimit(ctx) {
			return err
		}
		t := time.NewTimer(retryBackoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// transientLimitKey holds, in a context, how many transient failures in a row retry accepts
// (maxTransientFailures when absent).
type transientLimitKey struct{}

// openTransientFailures is retry's limit while the source opens: a Start against an endpoint
// that does not answer fails in about 1.5 s, with the error, instead of after a minute of
// retries (a running query keeps maxTransientFailures).
const openTransientFailures = 5

func transientLimit(ctx context.Context) int {
	if n, ok := ctx.Value(transientLimitKey{}).(int); ok {
		return n
	}
	return maxTransientFailures
}

// retryBackoff is the wait of retry before attempt+1 (a variable for tests).
var retryBackoff = backoff

// apiError wraps the error of a call about a stream (and shard) with what the user needs:
// ErrStreamNotFound, or ErrAccessDenied with the permissions the source needs.
func (s *Source) apiError(op string, st *streamInfo, shardID string, err error) error {
	what := "stream " + st.key
	if shardID != "" {
		what += " shard " + shardID
	}
	switch classify(err) {
	case classNotFound:
		return fmt.Errorf("kinesis: %s %s: %w: %w", op, what, ErrStreamNotFound, err)
	case classDenied:
		return fmt.Errorf("kinesis: %s %s: %w (the source needs %s on the stream): %w", op, what, ErrAccessDenied, permissions, err)
	case classNoCredentials:
		return fmt.Errorf("kinesis: %s %s: %w (%s): %w", op, what, ErrNoCredentials, credentialsHint, err)
	}
	return fmt.Errorf("kinesis: %s %s: %w", op, what, err)
}

// listAll lists every stream's shards and updates the registry. It fails with
// ErrStreamRecreated when a stream's creation timestamp is not the one the offsets or an
// earlier listing saw.
func (s *Source) listAll(ctx context.Context) error {
	type listing struct {
		st      *streamInfo
		created int64
		shards  []types.Shard
	}
	var ls []listing
	for _, st := range s.streams {
		created, err := s.describe(ctx, st)
		if err != nil {
			return err
		}
		shards, err := s.listShards(ctx, st)
		if err != nil {
			return err
		}
		ls = append(ls, listing{st, created, shards})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	for _, l := range ls {
		st := l.st
		if st.createdMs != 0 && st.createdMs != l.created {
			return fmt.Errorf("kinesis: stream %s: %w while the query ran (created at %s, now at %s)", st.key, ErrStreamRecreated,
				time.UnixMilli(st.createdMs).UTC().Format(time.RFC3339Nano), time.UnixMilli(l.created).UTC().Format(time.RFC3339Nano))
		}
		st.createdMs = l.created
		if s.base != nil {
			if err := st.checkCreated(s.base.streams[st.key].createdMs); err != nil {
				return err
			}
		}
		seen := make(map[string]bool, len(l.shards))
		for _, x := range l.shards {
			id := aws.ToString(x.ShardId)
			if id == "" {
				continue
			}
			seen[id] = true
			sh := s.shards[shardKey{st.key, id}]
			if sh == nil {
				sh = s.newShardLocked(st, id)
			}
			sh.listed = true
			sh.parents = sh.parents[:0]
			for _, p := range []*string{x.ParentShardId, x.AdjacentParentShardId} {
				if aws.ToString(p) != "" {
					sh.parents = append(sh.parents, *p)
				}
			}
			sh.endedPerListing = x.SequenceNumberRange != nil && x.SequenceNumberRange.EndingSequenceNumber != nil
		}
		for k, sh := range s.shards {
			if k.stream == st.key && !seen[k.id] {
				sh.listed = false
			}
		}
	}
	s.scheduleLocked()
	s.signalLocked()
	return nil
}

// discoveryLoop lists the shards every ShardFetchInterval, and at once when a shard's end is
// reached, to find children (kinesalite does not return ChildShards).
func (s *Source) discoveryLoop(ctx context.Context) error {
	t := time.NewTicker(s.opts.ShardFetchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.discover:
		}
		err := s.listAll(ctx)
		if err == nil || ctx.Err() != nil || errors.Is(err, errClosed) {
			continue
		}
		switch classify(err) {
		case classThrottled, classTransient:
			// retry gave up for now; the next tick tries again
			s.log.Warn("kinesis: listing shards failed; will retry", "err", err)
			continue
		}
		s.fail(err)
		return err
	}
}

// getIterator returns a shard iterator at position p.
func (s *Source) getIterator(ctx context.Context, sh *shard, p position) (string, error) {
	return s.iteratorAt(ctx, sh.key, sh.st, p, callTimeout, atTimestampTimeout)
}

// iteratorAt returns a shard iterator of shard key at position p, with timeout for the call
// (atTimestampTimeout for an at-timestamp iterator). An at-timestamp position in the future,
// or whose call timed out, is errNotYet (kinesalite hangs such calls).
func (s *Source) iteratorAt(ctx context.Context, key shardKey, st *streamInfo, p position, timeout, atTimestampTimeout time.Duration) (string, error) {
	in := &kinesis.GetShardIteratorInput{ShardId: aws.String(key.id)}
	st.address(&in.StreamName, &in.StreamARN)
	switch p.kind {
	case posTrimHorizon:
		in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
	case posAtTimestamp:
		if time.UnixMilli(p.tsMs).After(s.now()) {
			return "", errNotYet
		}
		in.ShardIteratorType = types.ShardIteratorTypeAtTimestamp
		in.Timestamp = aws.Time(time.UnixMilli(p.tsMs))
		timeout = atTimestampTimeout
	case posAfter:
		// AT, not AFTER: the record at p may be a KPL aggregate read only in part; the user
		// records that p covers are skipped when decoding.
		in.ShardIteratorType = types.ShardIteratorTypeAtSequenceNumber
		in.StartingSequenceNumber = aws.String(p.seq)
	default:
		return "", fmt.Errorf("kinesis: no iterator for shard %s at %s", key, p)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := s.api.GetShardIterator(cctx, in)
	if err != nil {
		if p.kind == posAtTimestamp && ctx.Err() == nil && cctx.Err() != nil {
			return "", errNotYet
		}
		return "", err
	}
	if aws.ToString(out.ShardIterator) == "" {
		return "", fmt.Errorf("kinesis: get shard iterator %s: the answer has no iterator", key)
	}
	return *out.ShardIterator, nil
}

// fetchSnap is what a fetch reads of a shard's state before it calls Kinesis.
type fetchSnap struct {
	gen      uint64
	cursor   position
	iterator string
}

// runTask is a prefetching goroutine: it reads its shards in turn, each as soon as its pacer,
// its backoff and the buffer allow.
func (s *Source) runTask(ctx context.Context, t *task) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		s.mu.Lock()
		now := s.now()
		sh, at := s.pickLocked(t, now)
		var snap fetchSnap
		ready := sh != nil && !at.After(now)
		var reserved int64
		if ready {
			snap = fetchSnap{gen: sh.gen, cursor: sh.cursor, iterator: sh.iterator}
			reserved = s.m.reservation()
			s.m.inflight.Add(reserved)
		}
		s.mu.Unlock()
		if ready {
			err := s.fetchOnce(ctx, sh, snap)
			if reserved > 0 {
				s.unreserve(reserved)
			}
			if ctx.Err() != nil {
				// Closed, or another task failed. Checked whatever fetchOnce returned: once the
				// source is closed it returns nil without a backoff (fetchError), and the shard
				// would be ready again at once.
				return nil
			}
			if err != nil {
				s.fail(err)
				return err
			}
			continue
		}
		if sh != nil {
			timer.Reset(at.Sub(now))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// unreserve gives back what a call reserved in runTask, and wakes the tasks that may have
// waited for it.
func (s *Source) unreserve(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m.inflight.Add(-n)
	for _, t := range s.tasks {
		wake(t)
	}
}

// pickLocked returns the task's shard that may be fetched soonest and when; nil when none
// may be fetched until something changes (the buffer is full, or every shard is done).
//
// The buffer counts as full when what it holds plus what the calls in flight are expected to
// add reaches FetchBufferSize: each call reserves the payload of the largest answer so far
// (Kinesis' 10 MB limit until the first answer). So the buffer exceeds FetchBufferSize by
// about one answer at most, not one per task, and no more GetRecords answers are read and
// decoded at once than the buffer has room for.
func (s *Source) pickLocked(t *task, now time.Time) (*shard, time.Time) {
	if s.bufBytes+s.m.inflight.Load() >= s.opts.FetchBufferSize {
		return nil, time.Time{}
	}
	var best *shard
	var bestAt time.Time
	for _, sh := range t.shards {
		if !s.fetchableLocked(sh) || (s.an && sh.anDone) {
			continue
		}
		at := later(sh.pace.readyAt(now), sh.retryAt)
		if best == nil || at.Before(bestAt) {
			best, bestAt = sh, at
		}
	}
	return best, bestAt
}

// fetchOnce makes one GetRecords call for the shard (after a GetShardIterator if needed) and
// buffers what it returns. It returns only fatal errors.
func (s *Source) fetchOnce(ctx context.Context, sh *shard, snap fetchSnap) error {
	it := snap.iterator
	if it == "" {
		start := s.now()
		var err error
		if it, err = s.getIterator(ctx, sh, snap.cursor); err != nil {
			return s.fetchError(ctx, sh, snap, "get shard iterator", start, err)
		}
		s.mu.Lock()
		if sh.gen == snap.gen {
			sh.iterator = it
		}
		s.mu.Unlock()
	}
	callStart := s.now()
	sh.pace.call(callStart)
	in := &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(int32(s.opts.MaxRecordsPerFetch))}
	if sh.st.arn != "" {
		in.StreamARN = aws.String(sh.st.arn)
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	out, err := s.getRecords(cctx, &sh.dec, in, snap.cursor, snap.cursor, nil)
	cancel()
	s.m.getRecords.Add(1)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return s.fetchError(ctx, sh, snap, "get records", callStart, err)
	}
	sh.pace.got(s.now(), out.bytes)
	blk := out.blk
	blk.fetched = s.now()
	ended := out.next == nil

	s.mu.Lock()
	defer s.mu.Unlock()
	if sh.gen != snap.gen || s.closed {
		blk.release()
		return nil
	}
	sh.failures, sh.throttles = 0, 0
	s.m.answered.Store(true)
	if out.bytes > s.m.largest.Load() {
		s.m.largest.Store(out.bytes)
	}
	if out.msBehind != nil {
		sh.msBehind, sh.hasBehind = *out.msBehind, true
	}
	if ended {
		blk.to = closedPos()
	}
	if blk.rec != nil || ended {
		sh.blocks = append(sh.blocks, blk)
		s.bufBytes += blk.bytes
		sh.cursor = blk.to
		s.m.fetchedRecords.Add(int64(blk.rows()))
		s.m.fetchedBytes.Add(blk.bytes)
	}
	if ended {
		sh.fetchEnded = true
		sh.iterator = ""
		s.log.Debug("kinesis: shard read to its end", "shard", sh.key.String())
		s.requestDiscovery()
		s.scheduleLocked()
	} else {
		sh.iterator = *out.next
	}
	if s.an {
		s.cutLocked(sh)
		atTip := out.records == 0 && (out.msBehind == nil || *out.msBehind == 0)
		if !sh.anDone && atTip && !callStart.Before(s.anTime) {
			sh.anDone = true
		}
	}
	s.signalLocked()
	return nil
}

// fetchError handles a failed call of the shard's prefetching: it schedules a retry, makes a
// new iterator, or returns a fatal error.
func (s *Source) fetchError(ctx context.Context, sh *shard, snap fetchSnap, op string, callStart time.Time, err error) error {
	class := classify(err)
	if errors.Is(err, errNotYet) {
		class = classNotYet
	}
	created := int64(0)
	if class == classNotFound {
		// The stream, or only the shard, is gone.
		c, derr := s.describe(ctx, sh.st)
		if derr != nil {
			return derr
		}
		created = c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh.gen != snap.gen || s.closed {
		return nil
	}
	now := s.now()
	switch class {
	case classThrottled:
		s.m.throttled.Add(1)
		sh.throttles++
		sh.retryAt = now.Add(max(backoff(sh.throttles), s.opts.MinFetchPeriod))
		s.log.Debug("kinesis: throttled; backing off", "shard", sh.key.String(), "op", op, "until", sh.retryAt)
	case classTransient:
		s.m.retries.Add(1)
		sh.failures++
		if sh.failures >= maxTransientFailures {
			return fmt.Errorf("kinesis: %s %s: giving up after %d failures in a row: %w", op, sh.key, sh.failures, err)
		}
		sh.retryAt = now.Add(backoff(sh.failures))
		s.log.Debug("kinesis: transient error; retrying", "shard", sh.key.String(), "op", op, "err", err)
	case classExpired:
		// Make a new iterator from the position after the last buffered row.
		s.m.expired.Add(1)
		sh.iterator = ""
		sh.failures++
		if sh.failures >= maxTransientFailures {
			return fmt.Errorf("kinesis: %s %s: iterators keep expiring: %w", op, sh.key, err)
		}
		if sh.failures > 1 {
			sh.retryAt = now.Add(backoff(sh.failures))
		}
	case classNotYet:
		sh.retryAt = now.Add(notYetRetry)
		if p := snap.cursor; p.kind == posAtTimestamp && time.UnixMilli(p.tsMs).After(now) {
			sh.retryAt = time.UnixMilli(p.tsMs)
		}
		if s.an && !callStart.Before(s.anTime) {
			sh.anDone = true // nothing at or after the position: the shard is at its tip
			s.signalLocked()
		}
	case classNotFound:
		if err := sh.st.checkCreated(created); err != nil {
			return err
		}
		// The stream is there but the shard is not: it expired from the stream's retention
		// before it was read to its end. Its children must not wait for it forever.
		s.m.expiredShards.Add(1)
		s.log.Warn("kinesis: shard no longer exists (it expired from the stream's retention period before it was read to its end); its unread records are lost",
			"shard", sh.key.String(), "position", sh.cursor.String())
		sh.blocks = append(sh.blocks, &block{from: sh.cursor, to: closedPos(), fetched: now})
		sh.cursor = closedPos()
		sh.fetchEnded = true
		sh.iterator = ""
		s.scheduleLocked()
		s.signalLocked()
	default:
		return s.apiError(op, sh.st, sh.key.id, err)
	}
	return nil
}
