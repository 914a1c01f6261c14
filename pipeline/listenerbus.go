package pipeline

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
)

// listenerBusCapacity is how many events may wait for the listeners before new progress events
// are dropped: Spark's spark.scheduler.listenerbus.eventqueue.capacity default.
const listenerBusCapacity = 10_000

// listenerBus delivers a pipeline's listener events in order on one goroutine, so that a slow
// listener delays other listener calls but never a query's batches, as Spark's listener bus.
// The goroutine runs only while events wait; an idle bus holds none.
type listenerBus struct {
	logger *slog.Logger

	mu      sync.Mutex
	queue   []busEvent
	running bool
	dropped int64
	idle    chan struct{} // closed when the queue is empty and no event is being delivered
	g       uint64        // the delivering goroutine's ID while running
}

// busEvent is one queued delivery. A droppable event (progress) is dropped when the queue is
// full; the others (started, terminated, and the signals that let Start and AwaitTermination
// wait for them) are always queued, so the bus can exceed its capacity by them.
type busEvent struct {
	deliver   func()
	droppable bool
}

func newListenerBus(logger *slog.Logger) *listenerBus {
	idle := make(chan struct{})
	close(idle)
	return &listenerBus{logger: logger, idle: idle}
}

// post queues an event and starts the delivering goroutine if it is not running.
func (b *listenerBus) post(ev busEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ev.droppable && len(b.queue) >= listenerBusCapacity {
		b.dropped++
		if b.dropped == 1 || b.dropped%1000 == 0 {
			b.logger.Error("sluice: a listener is too slow; progress events are dropped", "queued", len(b.queue), "dropped", b.dropped)
		}
		return
	}
	b.queue = append(b.queue, ev)
	if !b.running {
		b.running = true
		b.idle = make(chan struct{})
		go b.run()
	}
}

func (b *listenerBus) run() {
	g := goroutineID()
	b.mu.Lock()
	b.g = g
	b.mu.Unlock()
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.running = false
			b.g = 0
			close(b.idle)
			b.mu.Unlock()
			return
		}
		ev := b.queue[0]
		b.queue[0] = busEvent{}
		b.queue = b.queue[1:]
		if len(b.queue) == 0 {
			b.queue = nil // let a burst's backing array go
		}
		b.mu.Unlock()
		ev.deliver()
	}
}

// drain waits until every event posted so far has been delivered, or ctx ends.
func (b *listenerBus) drain(ctx context.Context) error {
	for {
		b.mu.Lock()
		idle := b.idle
		b.mu.Unlock()
		select {
		case <-idle:
			b.mu.Lock()
			again := b.running
			b.mu.Unlock()
			if !again {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// delivering reports whether the calling goroutine is the bus's: a listener calling Start, Stop
// or AwaitTermination must not wait for an event queued behind the one it is handling.
func (b *listenerBus) delivering() bool {
	b.mu.Lock()
	g := b.g
	b.mu.Unlock()
	return g != 0 && g == goroutineID()
}

// goroutineID returns the calling goroutine's ID, read from its stack header
// ("goroutine 42 [running]:").
func goroutineID() uint64 {
	var buf [64]byte
	s := buf[:runtime.Stack(buf[:], false)]
	s = bytes.TrimPrefix(s, []byte("goroutine "))
	if i := bytes.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	id, _ := strconv.ParseUint(string(s), 10, 64)
	return id
}
