package kinesis

import (
	"time"

	"golang.org/x/time/rate"
)

// maxResponseBytes is the most data one GetRecords call returns (10 MiB).
const maxResponseBytes = 10 * MiB

// pacer enforces the read limits of one shard: at least MinFetchPeriod between GetRecords
// calls (so at most 5 calls per second), and on average at most MaxFetchRate bytes per second.
// It takes the time as an argument everywhere, so tests drive it with a fake clock. It is
// safe for concurrent use: the shard's prefetching task and a re-read by Read share it.
type pacer struct {
	calls *rate.Limiter // one token per call, refilled every MinFetchPeriod
	bytes *rate.Limiter // response bytes; a large response puts it into debt
}

// newPacer returns a pacer that allows a call at now and holds one second's worth of bytes.
func newPacer(minPeriod time.Duration, mibPerSec float64, now time.Time) *pacer {
	bps := mibPerSec * MiB
	p := &pacer{
		calls: rate.NewLimiter(rate.Every(minPeriod), 1),
		// The bucket must hold the largest response, or ReserveN would refuse it; it starts
		// with one second's worth rather than full, so a fresh shard does not burst 10 MiB.
		bytes: rate.NewLimiter(rate.Limit(bps), maxResponseBytes),
	}
	if start := maxResponseBytes - int(bps); start > 0 {
		p.bytes.ReserveN(now, start)
	}
	return p
}

// readyAt returns the earliest time, not before now, at which the next call is allowed.
func (p *pacer) readyAt(now time.Time) time.Time {
	t := now
	if tok := p.calls.TokensAt(now); tok < 1 {
		t = later(t, now.Add(seconds((1-tok)/float64(p.calls.Limit()))))
	}
	if tok := p.bytes.TokensAt(now); tok < 0 {
		t = later(t, now.Add(seconds(-tok/float64(p.bytes.Limit()))))
	}
	return t
}

// call records a GetRecords call made at now.
func (p *pacer) call(now time.Time) { p.calls.ReserveN(now, 1) }

// got records that a response of n bytes arrived at now.
func (p *pacer) got(now time.Time, n int64) {
	for n > 0 { // at most 10 MiB per response, but be safe with anything
		k := min(n, int64(maxResponseBytes))
		p.bytes.ReserveN(now, int(k))
		n -= k
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
