// Command sluicebench is the end-to-end benchmark harness of issue #7: it runs Sluice
// pipelines and the baselines they are measured against side by side, over the same fake
// Kinesis stream, each in its own child process, and prints a markdown table of records/s,
// MB/s, records per CPU-second, allocations per record and peak RSS, followed by the
// performance bar (the ratios of issue #7, each PASS or FAIL). It also writes the results as
// `go test -bench` lines, for benchstat.
//
//	go run ./bench/cmd/sluicebench                      # `make bench` adds -count 3 -profile
//	go run ./bench/cmd/sluicebench -quick               # tiny data: CI's smoke run
//	go run ./bench/cmd/sluicebench -run 'p2|hand'       # some of the runs
//
// The runs (see runs.go and bench/README.md): decode-limit (c), p1-source, p2-json-filter,
// p2-per-row-cel (b), hand-written (a), p3-parquet, p4-kinesis-sink, p5-wordcount (not run until
// pipeline.Stream.GroupBy exists) and rss-wide (pipeline 1 on a wide stream, for memory). The
// harness is for Linux (getrusage, wait4's ru_maxrss in KiB, the thread CPU clock).
//
// # Processes
//
// The parent starts one server process (this program with -serve) holding two fake streams of
// bench/internal/fakekinesis.Logs on loopback ports: the main stream (-shards shards of
// -records-per-shard JSON log events of about -record-size bytes, ~10% of level "error"), and a
// wide stream for the memory run (-rss-shards shards). Then, for every run, it starts a child
// process (this program with -child NAME), which reads the stream -rounds times and prints its
// measurements as JSON on stdout. The server is a separate process so that a child's CPU time
// is the consumer's alone; it shares the machine's cores with the child, and its CPU time per
// run is reported beside the child's.
//
// A round is one complete read of the stream from its trim horizon: for a pipeline, a new
// query with a new checkpoint directory (and output directory), Trigger AvailableNow, run to
// its end; for a baseline, its loop over all shards. The shards of the fake stream are closed,
// so every reader sees their end after one GetRecords answer of up to 10,000 records per
// shard: Kinesis' per-shard read limits, which the source enforces (5 calls/s, maxFetchRate
// MiB/s), never pace a round, and the numbers are the consumer's CPU.
//
// # Measurements
//
// Within the child, each round is timed alone (setup, validation and clean-up are not): wall
// time, user and system CPU time (getrusage RUSAGE_SELF, so every thread of the child), heap
// allocations (runtime.ReadMemStats). Peak RSS is the child's ru_maxrss as the parent's wait4
// reports it, so each run has its own. records/s and MB/s divide by wall time; records per
// CPU-second by user+system time; MB are 10^6 bytes of record data (decoded). For the filter
// stage of pipeline 2 and its per-row variant, the child also adds up the CPU time of the
// Filter operator alone (the thread's CPU time during Process, less the time its emit spends
// downstream). After its rounds, pipeline 2's child times the filter condition alone,
// column-wise (expr.Program.Eval) and row by row (Program.EvalRowWise), over the filter column
// of a batch its Filter received.
//
// With -profile, the runs behind each unmet bar run once more with a CPU profile of their
// rounds, and the report ends with `go tool pprof -top` of each.
//
// Every run checks what it read: every record of the stream each round, and the rows its
// filter kept, written or put (against the server's counts for the Kinesis sink). A run that
// reads anything else fails the harness.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
	"time"
)

// config is what the parent passes to the server and to every child, as JSON.
type config struct {
	Shards          int    `json:"shards"`
	RecordsPerShard int    `json:"recordsPerShard"`
	RecordSize      int    `json:"recordSize"`
	Rounds          int    `json:"rounds"`
	FetchBuffer     string `json:"fetchBuffer,omitempty"` // fetchBufferSize of the main runs; "" is the source's default
	RSSShards       int    `json:"rssShards"`
	RSSBuffer       string `json:"rssBuffer"`
	// RSSPause: the slow consumer of the full-buffer runs holds a micro-batch until the
	// buffer is full or has not grown for this long.
	RSSPause time.Duration `json:"rssPause"`
	// RSSMemLimit is the GOMEMLIMIT of rss-full-limit.
	RSSMemLimit string `json:"rssMemLimit"`
	Quick       bool   `json:"quick,omitempty"`

	// Set by the parent for the children.
	Endpoint     string `json:"endpoint,omitempty"`     // the main stream's server
	WideEndpoint string `json:"wideEndpoint,omitempty"` // the wide stream's server
	Dir          string `json:"dir,omitempty"`          // a directory the child may write in
	Profile      string `json:"profile,omitempty"`      // write a CPU profile of the rounds here
	MemProfile   string `json:"memProfile,omitempty"`   // sample memory; write a heap profile at its peak here
}

func main() {
	var (
		memDir string
		cfg    config
		count  = flag.Int("count", 1, "run each pipeline and baseline this many times (the table shows medians)")
		runRE  = flag.String("run", "", "run only the pipelines and baselines whose name matches this regular expression")
		out    = flag.String("o", filepath.Join(os.TempDir(), "sluicebench.txt"), "write the results as `go test -bench` lines (for benchstat) to this file")
		quick  = flag.Bool("quick", false, "tiny data, one round, no timing claims: a smoke run for CI")
		prof   = flag.Bool("profile", false, "after the measured runs, profile the runs behind each unmet bar once more and print their top frames")
		plans  = flag.Bool("explain", false, "print each pipeline's plan (Query.Explain) after the tables")
		child  = flag.String("child", "", "internal: run one pipeline or baseline (the parent starts children)")
		serve  = flag.Bool("serve", false, "internal: serve the fake streams (the parent starts the server)")
		cfgArg = flag.String("config", "", "internal: the configuration, as JSON, of -child and -serve")
	)
	flag.IntVar(&cfg.Shards, "shards", 4, "shards of the main stream")
	flag.IntVar(&cfg.RecordsPerShard, "records-per-shard", 10000, "records per shard (one GetRecords answer holds up to 10,000)")
	flag.IntVar(&cfg.RecordSize, "record-size", 1000, "bytes of each record's JSON event")
	flag.IntVar(&cfg.Rounds, "rounds", 10, "complete reads of the stream per run")
	flag.StringVar(&cfg.FetchBuffer, "fetch-buffer", "", "fetchBufferSize of the main pipeline runs (default: the source's, 20gb)")
	flag.StringVar(&memDir, "memprofile", "", "sample each child's memory, print where it was at its peak RSS and write a heap profile at that peak to `dir`/NAME.heap")
	flag.IntVar(&cfg.RSSShards, "rss-shards", 100, "shards of the wide stream of the memory runs (rss-*)")
	flag.StringVar(&cfg.RSSBuffer, "rss-buffer", "512mb", "fetchBufferSize of the memory runs (rss-*); the wide stream should hold about twice as much")
	flag.DurationVar(&cfg.RSSPause, "rss-pause", 300*time.Millisecond, "the slow consumer of the full-buffer memory runs (rss-full*) holds each micro-batch until the buffer is full or has not grown for this long")
	flag.StringVar(&cfg.RSSMemLimit, "rss-memlimit", "", "GOMEMLIMIT of rss-full-limit (default: fetchBufferSize × 5/4 + 40 MiB)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case *serve:
		err = serveMain(ctx, *cfgArg)
	case *child != "":
		err = childMain(ctx, *child, *cfgArg)
	default:
		if *quick {
			cfg.Quick = true
			cfg.Shards, cfg.RecordsPerShard, cfg.Rounds = 2, 1000, 1
			cfg.RSSShards, cfg.RSSBuffer, cfg.RSSPause = 4, "2mb", 20*time.Millisecond
			*count = 1
		}
		var re *regexp.Regexp
		cfg.MemProfile = memDir
		if re, err = regexp.Compile(*runRE); err == nil {
			err = parentMain(ctx, cfg, *count, re, *out, *prof, *plans)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluicebench:", err)
		if errors.Is(err, context.Canceled) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}
