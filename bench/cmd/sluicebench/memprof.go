package main

import (
	"fmt"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"time"
)

// memSampler samples the child's memory (runtime/metrics and RSS) while its rounds run and,
// at the largest Go heap it saw, writes a heap profile (-memprofile). At the end it prints to
// stderr where the memory was at the peak: the live heap, the heap's free and unused spans
// (GC slack), stacks and runtime, and the RSS outside the Go runtime (the binary's text and
// data, the C heap).
type memSampler struct {
	path    string
	stop    chan struct{}
	done    chan struct{}
	peak    map[string]uint64
	peakRSS int64
}

var memMetrics = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/total:bytes",
	"/gc/heap/goal:bytes",
	"/gc/heap/live:bytes",
}

func startMemSampler(path string) *memSampler {
	m := &memSampler{path: path, stop: make(chan struct{}), done: make(chan struct{})}
	go m.loop()
	return m
}

func (m *memSampler) loop() {
	defer close(m.done)
	samples := make([]rtmetrics.Sample, len(memMetrics))
	for i, n := range memMetrics {
		samples[i].Name = n
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	var wrote uint64
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		rtmetrics.Read(samples)
		r := rss()
		// Peak as the OS sees it: the mapped, not released, Go memory.
		held := samples[5].Value.Uint64() - samples[3].Value.Uint64()
		if r > m.peakRSS {
			m.peakRSS = r
			m.peak = map[string]uint64{}
			for _, s := range samples {
				m.peak[s.Name] = s.Value.Uint64()
			}
			m.peak["held"] = held
			if m.path != "" && held > wrote+wrote/20 {
				wrote = held
				if f, err := os.Create(m.path); err == nil {
					pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			}
		}
	}
}

// report stops the sampler and prints the peak's decomposition.
func (m *memSampler) report() {
	close(m.stop)
	<-m.done
	runtime.GC()
	if m.peak == nil {
		return
	}
	mib := func(v uint64) string { return fmt.Sprintf("%.0f MiB", float64(v)/(1<<20)) }
	p := m.peak
	other := uint64(m.peakRSS) - min(uint64(m.peakRSS), p["held"])
	fmt.Fprintf(os.Stderr, "sluicebench: memory at peak RSS %s: heap objects %s (live after last GC %s, goal %s), heap free %s, heap unused %s, stacks %s, Go runtime total held %s, RSS outside held Go memory %s; heap profile: %s\n",
		mib(uint64(m.peakRSS)), mib(p["/memory/classes/heap/objects:bytes"]), mib(p["/gc/heap/live:bytes"]), mib(p["/gc/heap/goal:bytes"]),
		mib(p["/memory/classes/heap/free:bytes"]), mib(p["/memory/classes/heap/unused:bytes"]), mib(p["/memory/classes/heap/stacks:bytes"]),
		mib(p["held"]), mib(other), m.path)
}
