package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedev/sluice/bench/internal/fakekinesis"
	"github.com/sluicedev/sluice/optspec"
	"github.com/sluicedev/sluice/sources/kinesis"
)

// report holds the measurements of a harness run and prints them.
type report struct {
	cfg          config
	count        int
	explain      bool                 // print the plans
	stream, wide fakekinesis.LogStats // one read of each stream
	runs         []run
	results      map[string][]measurement // by run name, in run order
	profiles     []profileTop
	date         time.Time
	elapsed      time.Duration
}

// profileTop is the top of a CPU profile of one run.
type profileTop struct{ name, top string }

// metric is one column of the results: a value of a measurement.
type metric struct {
	head  string // the table's column
	unit  string // the benchstat unit; "" leaves it out of the benchstat line
	value func(m measurement) float64
	prec  int // decimals in the table
}

var metrics = []metric{
	{"records/s", "records/s", func(m measurement) float64 { return float64(m.Records) / secs(m.WallNs) }, 0},
	{"MB/s", "MB/s", func(m measurement) float64 { return float64(m.DataBytes) / 1e6 / secs(m.WallNs) }, 1},
	{"records/CPU-s", "records/cpu-s", func(m measurement) float64 { return float64(m.Records) / secs(m.UserNs+m.SysNs) }, 0},
	{"CPU s (user+sys)", "cpu-s", func(m measurement) float64 { return secs(m.UserNs + m.SysNs) }, 2},
	{"wall s", "", func(m measurement) float64 { return secs(m.WallNs) }, 2},
	{"server CPU s", "server-cpu-s", func(m measurement) float64 { return secs(m.ServerCPUNs) }, 2},
	{"allocs/record", "allocs/record", func(m measurement) float64 { return float64(m.Mallocs) / float64(m.Records) }, 1},
	{"B/record", "B/record", func(m measurement) float64 { return float64(m.AllocBytes) / float64(m.Records) }, 0},
	{"RSS at start MiB", "start-RSS-MiB", func(m measurement) float64 { return float64(m.StartRSS) / (1 << 20) }, 0},
	{"peak RSS MiB", "peak-RSS-MiB", func(m measurement) float64 { return float64(m.MaxRSS) / (1 << 20) }, 0},
}

// stageNsPerRow is the CPU time of the timed stage per input row.
func stageNsPerRow(m measurement) float64 { return float64(m.StageNs) / float64(m.StageRows) }

// median returns the median of f over ms.
func median(ms []measurement, f func(measurement) float64) float64 {
	v := make([]float64, len(ms))
	for i, m := range ms {
		v[i] = f(m)
	}
	slices.Sort(v)
	if n := len(v); n%2 == 1 {
		return v[n/2]
	} else if n > 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return 0
}

// num formats v with thousands separators and prec decimals.
func num(v float64, prec int) string {
	s := fmt.Sprintf("%.*f", prec, v)
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if neg {
		out = "-" + out
	}
	if frac != "" {
		out += "." + frac
	}
	return out
}

// bar is one line of the performance bar of issue #7.
type bar struct {
	name     string
	measured string
	ratio    float64
	format   string // how ratio is printed
	target   string
	ok       bool
	info     bool     // shown for information, without a target
	missing  string   // why it cannot be computed
	runs     []string // the runs whose profile explains a miss
}

// bars computes the performance bar from the medians.
func (r *report) bars() []bar {
	med := func(name string, f func(measurement) float64) (float64, bool) {
		ms := r.results[name]
		if len(ms) == 0 {
			return 0, false
		}
		return median(ms, f), true
	}
	perCPU := metrics[2].value
	var out []bar
	{
		b := bar{name: "pipeline 1 (source only) vs (c) decode limit, records per CPU-second", target: "≥ 60%", format: "%.0f%%", runs: []string{"p1-source"}}
		p1, ok1 := med("p1-source", perCPU)
		c, ok2 := med("decode-limit", perCPU)
		if ok1 && ok2 {
			b.measured = num(p1, 0) + " vs " + num(c, 0)
			b.ratio = 100 * p1 / c
			b.ok = b.ratio >= 60
		} else {
			b.missing = "needs p1-source and decode-limit"
		}
		out = append(out, b)
	}
	{
		b := bar{name: "pipeline 2 (JSON filter) vs (a) hand-written consumer, records per CPU-second", target: "≥ 2×", format: "%.2f×", runs: []string{"p2-json-filter", "hand-written"}}
		p2, ok1 := med("p2-json-filter", perCPU)
		a, ok2 := med("hand-written", perCPU)
		if ok1 && ok2 {
			b.measured = num(p2, 0) + " vs " + num(a, 0)
			b.ratio = p2 / a
			b.ok = b.ratio >= 2
		} else {
			b.missing = "needs p2-json-filter and hand-written"
		}
		out = append(out, b)
	}
	{
		b := bar{name: "pipeline 2's filter condition: column-wise vs per-row CEL, CPU per row of the evaluation", target: "≥ 10×", format: "%.1f×", runs: []string{"p2-json-filter"}}
		col, ok1 := med("p2-json-filter", func(m measurement) float64 { return m.EvalColNs })
		row, ok2 := med("p2-json-filter", func(m measurement) float64 { return m.EvalRowNs })
		if ok1 && ok2 && col > 0 {
			b.measured = fmt.Sprintf("%.1f ns vs %.1f ns", col, row)
			b.ratio = row / col
			b.ok = b.ratio >= 10
		} else {
			b.missing = "needs p2-json-filter"
		}
		out = append(out, b)
	}
	{
		b := bar{name: "(for information) pipeline 2's Filter operator, column-wise vs (b) per-row: CPU per record in the operator, including the copy of the kept rows", format: "%.1f×", info: true}
		col, ok1 := med("p2-json-filter", stageNsPerRow)
		row, ok2 := med("p2-per-row-cel", stageNsPerRow)
		if ok1 && ok2 {
			b.measured = fmt.Sprintf("%.0f ns vs %.0f ns", col, row)
			b.ratio = row / col
		} else {
			b.missing = "needs p2-json-filter and p2-per-row-cel"
		}
		out = append(out, b)
	}
	{
		// The bar: a full buffer (a consumer slower than the stream), with the documented
		// GOMEMLIMIT. Go's defaults and the fast consumer are shown for information.
		buf, _ := optspec.ParseBytes(r.cfg.RSSBuffer)
		maxRSS := func(m measurement) float64 { return float64(m.MaxRSS) }
		limit := memLimitFor(r.cfg)
		if n, err := strconv.ParseInt(limit, 10, 64); err == nil {
			limit = mib(n)
		}
		for _, c := range []struct {
			run, what string
			info      bool
		}{
			{"rss-full-limit", fmt.Sprintf("with GOMEMLIMIT %s (-rss-memlimit; default fetchBufferSize × 5/4 + 40 MiB)", limit), false},
			{"rss-full", "with Go's defaults (no GOMEMLIMIT, GOGC 100)", true},
		} {
			name := fmt.Sprintf("peak RSS, full buffer (`%s`: a slow consumer, %s) vs fetchBufferSize", c.run, c.what)
			if c.info {
				name = "(for information) " + name
			}
			b := bar{name: name, target: "≤ 1.5×", format: "%.2f×", info: c.info, runs: []string{c.run}}
			if c.info {
				b.target = ""
			}
			rss, ok := med(c.run, maxRSS)
			most, _ := med(c.run, func(m measurement) float64 { return float64(m.BufferedMax) })
			if ok && buf > 0 {
				b.measured = fmt.Sprintf("%s vs %s (at most %s buffered)", mib(int64(rss)), mib(buf), mib(int64(most)))
				b.ratio = rss / float64(buf)
				b.ok = b.ratio <= 1.5
			} else {
				b.missing = "needs " + c.run
			}
			out = append(out, b)
		}
		b := bar{name: "(for information) peak RSS, fast consumer (`rss-wide`, Go's defaults) vs fetchBufferSize", format: "%.2f×", info: true}
		if rss, ok := med("rss-wide", maxRSS); ok && buf > 0 {
			b.measured = mib(int64(rss)) + " vs " + mib(buf)
			b.ratio = rss / float64(buf)
		} else {
			b.missing = "needs rss-wide"
		}
		out = append(out, b)
	}
	return out
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// unmetRuns returns the runs behind the bars that are not met, for profiling.
func (r *report) unmetRuns() []string {
	var names []string
	for _, b := range r.bars() {
		if b.missing == "" && !b.ok && !b.info {
			for _, n := range b.runs {
				if !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
		}
	}
	return names
}

// cpuModel returns the processor's model name, as lscpu's "Model name".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// markdown prints the tables and their notes.
func (r *report) markdown(w io.Writer) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	title := "Results"
	if r.cfg.Quick {
		title += " (-quick: tiny data, not a measurement)"
	}
	p("## %s\n\n", title)
	p("%s; %d cores (%s), %s %s/%s; %d run(s) of each, medians; %s.\n\n",
		r.date.UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH, r.count, r.elapsed.Round(time.Second))
	p("Main stream: %d shards × %s records of %.0f bytes on average (%s MB of data, %.1f%% of level \"error\"), read %d times per run. ",
		r.cfg.Shards, num(float64(r.cfg.RecordsPerShard), 0), float64(r.stream.DataBytes)/float64(r.stream.Records),
		num(float64(r.stream.DataBytes)/1e6, 1), 100*float64(r.stream.Errors)/float64(r.stream.Records), r.cfg.Rounds)
	buf := r.cfg.FetchBuffer
	if buf == "" {
		buf = fmt.Sprintf("the default, %s", mib(kinesis.DefaultFetchBufferSize))
	}
	p("fetchBufferSize of the pipelines: %s. Wide stream (rss-wide): %d shards (%s MB), read once with fetchBufferSize %s.\n\n",
		buf, r.cfg.RSSShards, num(float64(r.wide.DataBytes)/1e6, 0), r.cfg.RSSBuffer)

	p("| run | records |")
	for _, m := range metrics {
		p(" %s |", m.head)
	}
	p(" rows out |\n|---|---:|%s---:|\n", strings.Repeat("---:|", len(metrics)))
	for _, run := range r.runs {
		ms := r.results[run.name]
		if run.skip != "" {
			p("| %s | %s |\n", run.label, run.skip)
			continue
		}
		if len(ms) == 0 {
			continue
		}
		p("| %s (`%s`) | %s |", run.label, run.name, num(float64(ms[0].Records), 0))
		for _, m := range metrics {
			p(" %s |", num(median(ms, m.value), m.prec))
		}
		out := "–"
		if ms[0].OutRows > 0 {
			out = num(float64(ms[0].OutRows), 0)
		}
		p(" %s |\n", out)
	}

	p("\n### The bar (issue #7)\n\n| bar | measured | ratio | target | result |\n|---|---|---:|---|---|\n")
	for _, b := range r.bars() {
		if b.missing != "" {
			p("| %s | not run (%s) | | %s | – |\n", b.name, b.missing, b.target)
			continue
		}
		res := "FAIL"
		switch {
		case b.info:
			res = "–"
		case r.cfg.Quick:
			res = "(-quick)"
		case b.ok:
			res = "PASS"
		}
		p("| %s | %s | "+b.format+" | %s | %s |\n", b.name, b.measured, b.ratio, b.target, res)
	}
	p("\nNotes: records/CPU-s divides by the child's user+system CPU time during its rounds (getrusage RUSAGE_SELF, every thread). " +
		"Peak RSS is the child's ru_maxrss (wait4); \"RSS at start\" is its resident set before the first round (the harness binary " +
		"with every package of the runs linked in). Allocations are runtime.MemStats deltas over the rounds. " +
		"The fake Kinesis server runs in its own process: its CPU time (\"server CPU s\") is not in the runs' CPU time, " +
		"but it shares the cores with them. The filter condition's CPU per row is expr.Program.Eval against Program.EvalRowWise " +
		"over the filter column of a batch pipeline 2's Filter received, repeated on one locked thread (thread CPU time); " +
		"the Filter operator's CPU per record is the thread CPU time inside operators.Filter during the runs, " +
		"without what it emits downstream.\n")
	if r.explain {
		for _, run := range r.runs {
			if ms := r.results[run.name]; len(ms) > 0 {
				p("\nPlan of `%s`:\n\n```\n%s\n```\n", run.name, strings.TrimRight(ms[0].Plan, "\n"))
			}
		}
	}
	for _, pr := range r.profiles {
		p("\nTop of the CPU profile of `%s` (`go tool pprof -top`):\n\n```\n%s```\n", pr.name, pr.top)
	}
}

// benchstat writes the measurements as `go test -bench` lines, one per run of a child.
func (r *report) benchstat(w io.Writer) {
	fmt.Fprintf(w, "goos: %s\ngoarch: %s\npkg: github.com/sluicedev/sluice/bench/cmd/sluicebench\ncpu: %s\n", runtime.GOOS, runtime.GOARCH, cpuModel())
	for i := range r.count {
		for _, run := range r.runs {
			ms := r.results[run.name]
			if i >= len(ms) {
				continue
			}
			m := ms[i]
			fmt.Fprintf(w, "BenchmarkE2E/%s \t1\t%d ns/op", run.name, m.WallNs)
			for _, mt := range metrics {
				if mt.unit != "" {
					fmt.Fprintf(w, "\t%.6g %s", mt.value(m), mt.unit)
				}
			}
			if m.StageRows > 0 {
				fmt.Fprintf(w, "\t%.6g filter-ns/record", stageNsPerRow(m))
			}
			fmt.Fprintln(w)
		}
	}
}
