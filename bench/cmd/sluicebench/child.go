package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedev/sluice/bench/internal/fakekinesis"
)

// result is what a child prints on stdout: its measurements, added up over its rounds.
type result struct {
	Name      string `json:"name"`
	Rounds    int    `json:"rounds"`
	Records   int64  `json:"records"`   // records read
	DataBytes int64  `json:"dataBytes"` // their data bytes
	OutRows   int64  `json:"outRows"`   // rows kept by the filter, written or put (0: not applicable)

	WallNs     int64  `json:"wallNs"`
	UserNs     int64  `json:"userNs"`
	SysNs      int64  `json:"sysNs"`
	Mallocs    uint64 `json:"mallocs"`
	AllocBytes uint64 `json:"allocBytes"`
	GCs        uint32 `json:"gcs"`

	// StageNs is the CPU time of the timed stage (pipeline 2's Filter), StageRows the rows it
	// was given.
	StageNs   int64 `json:"stageNs,omitempty"`
	StageRows int64 `json:"stageRows,omitempty"`
	// EvalColNs and EvalRowNs are the CPU time per row of pipeline 2's filter condition over
	// a batch the Filter received, evaluated column-wise and row by row (see celEval).
	EvalColNs float64 `json:"evalColNs,omitempty"`
	EvalRowNs float64 `json:"evalRowNs,omitempty"`
	EvalRows  int64   `json:"evalRows,omitempty"`

	// StartRSS is the resident set size in bytes before the first round.
	StartRSS int64 `json:"startRSS"`
	// BufferedMax is the largest totalPrefetchedBytes of the source seen (full-buffer runs).
	BufferedMax int64 `json:"bufferedMax,omitempty"`

	Plan string `json:"plan,omitempty"` // the query's Explain, or what the baseline does
}

// env is a child's view of its run.
type env struct {
	cfg      config
	endpoint string // the stream's server
	// fetchBuffer is the source's fetchBufferSize option ("": its default).
	fetchBuffer string
	stats       fakekinesis.LogStats // one read of the stream
	shards      int                  // the stream's shards
	rounds      int
	log         *slog.Logger
	res         result

	// sample is pipeline 2's filter column from a batch its Filter received (see celEval);
	// sampled makes it once.
	sample  arrow.RecordBatch
	sampled sync.Once
	// scratch holds the decode limit's buffers between rounds.
	scratch chan *scratch
	// words is the number of words of the stream's messages, for pipeline 5.
	words int64
}

// childMain is a child process: it runs one pipeline or baseline and prints its result.
func childMain(ctx context.Context, name, cfgJSON string) error {
	var cfg config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		return fmt.Errorf("-config: %w", err)
	}
	r, ok := runByName(name)
	if !ok || r.fn == nil {
		return fmt.Errorf("no run %q", name)
	}
	e := &env{cfg: cfg, endpoint: cfg.Endpoint, fetchBuffer: cfg.FetchBuffer, rounds: cfg.Rounds,
		log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	shards := cfg.Shards
	if r.wide {
		e.endpoint, e.fetchBuffer, e.rounds, shards = cfg.WideEndpoint, cfg.RSSBuffer, 1, cfg.RSSShards
	}
	if r.rounds > 0 {
		e.rounds = r.rounds
	}
	e.shards = shards
	// The stream's contents are deterministic: the child computes what a read must find.
	e.stats = fakekinesis.NewLogs(fakekinesis.LogConfig{Stream: streamName, Shards: shards, RecordsPerShard: cfg.RecordsPerShard, RecordSize: cfg.RecordSize}).Stats()
	e.res.Name = name
	e.res.StartRSS = rss()
	if cfg.Profile != "" {
		f, err := os.Create(cfg.Profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var ms *memSampler
	if cfg.MemProfile != "" {
		ms = startMemSampler(cfg.MemProfile)
	}
	for round := range e.rounds {
		if err := r.fn(ctx, e); err != nil {
			return fmt.Errorf("%s, round %d: %w", name, round+1, err)
		}
		e.res.Rounds++
	}
	pprof.StopCPUProfile() // the profile is of the rounds only
	if ms != nil {
		ms.report()
	}
	if r.after != nil {
		if err := r.after(ctx, e); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return json.NewEncoder(os.Stdout).Encode(e.res)
}

// measure runs f, one round's measured part, and adds its wall time, CPU time and heap
// allocations to the result.
func (e *env) measure(f func() error) error {
	var m0, m1 runtime.MemStats
	var ru0, ru1 syscall.Rusage
	runtime.ReadMemStats(&m0)
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru0); err != nil {
		return err
	}
	t0 := time.Now()
	err := f()
	wall := time.Since(t0)
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru1); err != nil {
		return err
	}
	runtime.ReadMemStats(&m1)
	e.res.WallNs += wall.Nanoseconds()
	e.res.UserNs += ru1.Utime.Nano() - ru0.Utime.Nano()
	e.res.SysNs += ru1.Stime.Nano() - ru0.Stime.Nano()
	e.res.Mallocs += m1.Mallocs - m0.Mallocs
	e.res.AllocBytes += m1.TotalAlloc - m0.TotalAlloc
	e.res.GCs += m1.NumGC - m0.NumGC
	return err
}

// check compares what a round read with one read of the stream.
func (e *env) check(records, dataBytes int64) error {
	if records != e.stats.Records || (dataBytes >= 0 && dataBytes != e.stats.DataBytes) {
		return fmt.Errorf("read %d records of %d bytes; the stream holds %d records of %d bytes", records, dataBytes, e.stats.Records, e.stats.DataBytes)
	}
	e.res.Records += records
	e.res.DataBytes += e.stats.DataBytes
	return nil
}

// checkOut compares the rows a round kept, wrote or put with want.
func (e *env) checkOut(what string, got, want int64) error {
	if got != want {
		return fmt.Errorf("%s %d rows; want %d", what, got, want)
	}
	e.res.OutRows += got
	return nil
}

// rss returns the resident set size of the process in bytes, or 0 where /proc is not.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
