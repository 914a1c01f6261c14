package kinesis

import (
	"testing"
	"time"
)

// TestPacerCalls drives the pacer with a fake clock: a shard that always has data is called
// once per minFetchPeriod, never more than 5 times in a second.
func TestPacerCalls(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	for _, period := range []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, time.Second} {
		p := newPacer(period, 2.0, t0)
		now := t0
		var calls []time.Time
		for now.Before(t0.Add(10 * time.Second)) {
			now = p.readyAt(now)
			p.call(now)
			p.got(now, 1000)
			calls = append(calls, now)
			now = now.Add(time.Millisecond) // the call's latency
		}
		for i := range calls {
			if i > 0 && calls[i].Sub(calls[i-1]) < period {
				t.Fatalf("period %s: calls %d and %d are %s apart", period, i-1, i, calls[i].Sub(calls[i-1]))
			}
			n := 0
			for _, c := range calls[i:] {
				if c.Sub(calls[i]) < time.Second {
					n++
				}
			}
			if n > 5 {
				t.Fatalf("period %s: %d calls in the second after call %d", period, n, i)
			}
		}
		if want := int(10 * time.Second / period); len(calls) < want-1 || len(calls) > want+1 {
			t.Errorf("period %s: %d calls in 10s, want about %d", period, len(calls), want)
		}
	}
}

// TestPacerBytes checks that large responses slow the calls down to maxFetchRate on average.
func TestPacerBytes(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	for _, rate := range []float64{0.5, 1.0, 2.0} {
		p := newPacer(200*time.Millisecond, rate, t0)
		now := t0
		var total int64
		const resp = 3 * MiB // each answer is 3 MiB
		for now.Before(t0.Add(60 * time.Second)) {
			now = p.readyAt(now)
			p.call(now)
			p.got(now, resp)
			total += resp
		}
		elapsed := now.Sub(t0).Seconds()
		got := float64(total) / MiB / elapsed
		// One second's worth of initial allowance and one response of overshoot at most.
		if limit := rate + (rate+3)/elapsed; got > limit || got < rate*0.8 {
			t.Errorf("rate %.1f MiB/s: %.2f MiB/s over %.0fs", rate, got, elapsed)
		}
	}
}
