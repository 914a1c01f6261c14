package kinesis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"golang.org/x/sync/errgroup"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/sources"
)

// maxTipPolls is how many empty answers at a shard's tip a re-read accepts before it decides
// that the records it must read again are gone.
const maxTipPolls = 5

// readRange is one shard's part of a Read.
type readRange struct {
	key      shardKey
	from, to position
}

// Read implements sources.Source. Each shard's rows of [start, end) come from the prefetch
// buffer as zero-copy slices of its batches; a range the buffer does not hold (after a restart,
// or when replaying a batch) is read again from Kinesis, from start's position up to end's, so
// the rows are the same. Shards are read in groups of shardsPerTask, one goroutine each; the
// rows of one shard are emitted in order, by one goroutine. Blocks are coalesced as described
// in the package documentation.
func (s *Source) Read(ctx context.Context, start, end sources.Offset, emit sources.Emit) error {
	s.mu.Lock()
	if err := s.errLocked(); err != nil {
		s.mu.Unlock()
		return err
	}
	so, err := s.checkOffsetLocked(start)
	if err == nil {
		var eo *offset
		if eo, err = s.checkOffsetLocked(end); err == nil {
			var ranges []readRange
			if ranges, err = planRead(so, eo); err == nil {
				bg := s.ctx
				s.mu.Unlock()
				return s.readRanges(ctx, bg, ranges, emit)
			}
		}
	}
	s.mu.Unlock()
	return err
}

// planRead returns the shards that [so, eo) reads, sorted by stream and shard.
func planRead(so, eo *offset) ([]readRange, error) {
	var out []readRange
	for _, key := range eo.streamKeys() {
		for id, to := range eo.streams[key].shards {
			from := so.startOf(key, id)
			if from == to {
				continue
			}
			if to.before(from) || (from.unread() && to.unread()) {
				return nil, fmt.Errorf("kinesis: invalid range for shard %s/%s: from %s to %s", key, id, from, to)
			}
			out = append(out, readRange{shardKey{key, id}, from, to})
		}
	}
	slices.SortFunc(out, func(a, b readRange) int { return strings.Compare(a.key.String(), b.key.String()) })
	return out, nil
}

// readRanges reads the ranges in groups of shardsPerTask, concurrently, and emits them.
func (s *Source) readRanges(ctx, bg context.Context, ranges []readRange, emit sources.Emit) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(bg, cancel) // Close makes Read return
	defer stop()
	g, gctx := errgroup.WithContext(ctx)
	per := int(s.opts.ShardsPerTask)
	for i := 0; i < len(ranges); i += per {
		group := ranges[i:min(i+per, len(ranges))]
		g.Go(func() error {
			var parts []*block
			defer func() {
				for _, b := range parts {
					b.release()
				}
			}()
			for _, r := range group {
				got, err := s.collect(gctx, r)
				parts = append(parts, got...)
				if err != nil {
					return err
				}
			}
			return s.emitCoalesced(parts, emit)
		})
	}
	err := g.Wait()
	if err != nil && bg.Err() != nil {
		s.mu.Lock()
		if e := s.errLocked(); e != nil {
			err = e
		}
		s.mu.Unlock()
	}
	return err
}

// collect returns the blocks of one range, each holding its own reference: slices of the
// buffer where it holds the range, then blocks read again from Kinesis for the rest.
func (s *Source) collect(ctx context.Context, r readRange) ([]*block, error) {
	var out []*block
	cur := r.from
	s.mu.Lock()
	sh := s.shards[r.key]
	if sh != nil {
		for _, b := range sh.blocks {
			if cur == r.to {
				break
			}
			if !cur.before(b.to) {
				continue // the block ends at or before cur
			}
			i := 0
			if b.from != cur {
				if !b.from.before(cur) || b.rec == nil {
					break // a gap: the buffer does not hold cur
				}
				i = b.firstAfter(cur)
				if i == 0 || b.posOf(i-1) != cur {
					break // cur is not a row boundary of the block
				}
			}
			j := b.rows()
			if r.to.before(b.to) {
				j = b.firstAfter(r.to)
			}
			if j <= i {
				// The block's next row after cur is beyond r.to: no rows are left in the range.
				cur = r.to
				break
			}
			piece := b.slice(i, j)
			out = append(out, piece)
			cur = piece.to
		}
	}
	s.mu.Unlock()
	if cur == r.to {
		return out, nil
	}
	more, err := s.reread(ctx, r.key, cur, r.to)
	return append(out, more...), err
}

// reread reads a shard again from Kinesis, from position from up to position to, within the
// shard's rate limits. It fails if the shard no longer holds the records (trimmed by the
// retention period).
func (s *Source) reread(ctx context.Context, key shardKey, from, to position) ([]*block, error) {
	s.mu.Lock()
	st := s.byKey[key.stream]
	sh := s.shards[key]
	if sh == nil {
		sh = &shard{key: key, st: st, dec: decoder{mem: s.mem, stream: st.name, shard: key.id}, pace: s.pacerLocked(key)}
	}
	probe := &shard{key: key, st: st, dec: sh.dec, pace: sh.pace}
	s.mu.Unlock()
	s.log.Debug("kinesis: reading again from Kinesis", "shard", key.String(), "from", from.String(), "to", to.String())

	var out []*block
	fail := func(err error) ([]*block, error) {
		for _, b := range out {
			b.release()
		}
		return nil, err
	}
	cur := from
	it := ""
	failures, throttles, tipPolls := 0, 0, 0
	for cur != to {
		// Wait for the pacer (shared with the shard's prefetching) or a backoff.
		wait := func(until time.Time) error {
			d := until.Sub(s.now())
			if d <= 0 {
				return nil
			}
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}
		// retry applies the prefetching's policy (see fetchError): throttling is retried without
		// limit, transient errors and expired iterators up to maxTransientFailures in a row.
		retry := func(err error, op string) error {
			switch classify(err) {
			case classThrottled:
				s.m.throttled.Add(1)
				throttles++
				return wait(s.now().Add(max(backoff(throttles), s.opts.MinFetchPeriod)))
			case classTransient:
				s.m.retries.Add(1)
			case classExpired:
				s.m.expired.Add(1)
				it = ""
			default:
				return s.apiError(op, st, key.id, err)
			}
			failures++
			if failures >= maxTransientFailures {
				return fmt.Errorf("kinesis: read shard %s again: giving up after %d failures in a row: %w", key, failures, err)
			}
			return wait(s.now().Add(backoff(failures)))
		}
		if it == "" {
			var err error
			it, err = s.getIterator(ctx, probe, cur)
			switch {
			case ctx.Err() != nil:
				return fail(ctx.Err())
			case err == errNotYet:
				if to.kind == posClosed {
					// kinesalite: nothing at or after the timestamp, and the shard is closed.
					cur = to
					out = append(out, &block{from: from, to: to})
					continue
				}
				tipPolls++
				if tipPolls > maxTipPolls {
					return fail(fmt.Errorf("kinesis: read shard %s again from %s to %s: no records after %s: were they trimmed by the stream's retention period?", key, from, to, cur))
				}
				if err := wait(s.now().Add(notYetRetry)); err != nil {
					return fail(err)
				}
				continue
			case err != nil:
				if err := retry(err, "get shard iterator"); err != nil {
					return fail(err)
				}
				continue
			}
		}
		if err := wait(probe.pace.readyAt(s.now())); err != nil {
			return fail(err)
		}
		probe.pace.call(s.now())
		in := &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(int32(s.opts.MaxRecordsPerFetch))}
		if st.arn != "" {
			in.StreamARN = aws.String(st.arn)
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		res, err := s.api.GetRecords(cctx, in)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return fail(ctx.Err())
			}
			if err := retry(err, "get records"); err != nil {
				return fail(err)
			}
			continue
		}
		failures, throttles = 0, 0
		var respBytes int64
		for i := range res.Records {
			respBytes += int64(len(res.Records[i].Data) + len(aws.ToString(res.Records[i].PartitionKey)))
		}
		probe.pace.got(s.now(), respBytes)
		hi := to
		d := probe.dec.decode(res.Records, cur, cur, &hi)
		blk := d.blk
		if blk.rec != nil {
			s.m.rereadRecords.Add(int64(blk.rows()))
			out = append(out, blk)
			cur = blk.to
		}
		switch {
		case d.beyond && to.kind == posAfter:
			if cur != to {
				return fail(fmt.Errorf("kinesis: read shard %s again: the records up to %s are not there (reached %s); were they trimmed by the stream's retention period?", key, to, cur))
			}
		case res.NextShardIterator == nil:
			if to.kind != posClosed {
				return fail(fmt.Errorf("kinesis: read shard %s again: the shard ended at %s before %s", key, cur, to))
			}
			if blk.rec != nil {
				blk.to = closedPos()
			} else {
				out = append(out, &block{from: cur, to: closedPos()})
			}
			cur = to
		case len(res.Records) == 0:
			tipPolls++
			if tipPolls > maxTipPolls && to.kind == posAfter {
				return fail(fmt.Errorf("kinesis: read shard %s again from %s to %s: no records after %s: were they trimmed by the stream's retention period?", key, from, to, cur))
			}
			it = *res.NextShardIterator
		default:
			tipPolls = 0
			it = *res.NextShardIterator
		}
	}
	return out, nil
}

// emitCoalesced emits the blocks' batches, in order. When the blocks average fewer bytes than
// coalesceThresholdBlockSize, consecutive blocks are concatenated into batches of up to
// coalesceBinSize bytes (a block larger than that is emitted alone).
func (s *Source) emitCoalesced(parts []*block, emit sources.Emit) error {
	var recs []arrow.RecordBatch
	var sizes []int64
	var total int64
	for _, b := range parts {
		if b.rec != nil && b.rec.NumRows() > 0 {
			recs = append(recs, b.rec)
			sizes = append(sizes, b.bytes)
			total += b.bytes
		}
	}
	if len(recs) <= 1 || total/int64(len(recs)) >= s.opts.CoalesceThresholdBlockSize {
		for _, r := range recs {
			if err := emit(r); err != nil {
				return err
			}
		}
		return nil
	}
	for i := 0; i < len(recs); {
		j, bin := i+1, sizes[i]
		for j < len(recs) && bin+sizes[j] <= s.opts.CoalesceBinSize {
			bin += sizes[j]
			j++
		}
		if j == i+1 {
			if err := emit(recs[i]); err != nil {
				return err
			}
		} else {
			rec, err := arrowbatch.Concat(s.mem, Schema, recs[i:j])
			if err != nil {
				return fmt.Errorf("kinesis: coalesce blocks: %w", err)
			}
			err = emit(rec)
			rec.Release()
			if err != nil {
				return err
			}
		}
		i = j
	}
	return nil
}
