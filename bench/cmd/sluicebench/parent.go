package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/sluicedev/sluice/optspec"
)

// childTimeout bounds one child process.
const childTimeout = 5 * time.Minute

// measurement is one run of a child, as the parent saw it.
type measurement struct {
	result
	MaxRSS      int64 // bytes: the child's peak resident set size
	ProcCPUNs   int64 // user + system time of the whole child process
	ServerCPUNs int64 // user + system time of the server process during the run
}

// parentMain runs the server, then every selected run count times, and reports.
func parentMain(ctx context.Context, cfg config, count int, re *regexp.Regexp, out string, profile, explain bool) error {
	if cfg.Shards < 1 || cfg.RecordsPerShard < 1 || cfg.Rounds < 1 || cfg.RSSShards < 1 || count < 1 {
		return errors.New("-shards, -records-per-shard, -rounds, -rss-shards and -count must be positive")
	}
	if cfg.RecordsPerShard > 10000 {
		fmt.Fprintln(os.Stderr, "sluicebench: warning: more than 10,000 records per shard take several GetRecords answers; the source then paces them at maxFetchRate (2 MiB/s per shard at most), and the pipelines measure the pacing")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sluicebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg.Dir = dir

	cfgJSON, _ := json.Marshal(cfg)
	srv, err := startServer(ctx, self, cfgJSON)
	if err != nil {
		return err
	}
	defer srv.stop()
	cfg.Endpoint, cfg.WideEndpoint = srv.addrs.Main, srv.addrs.Wide
	st, err := srv.stats(ctx)
	if err != nil {
		return err
	}

	var selected []run
	for _, r := range runs {
		if re.MatchString(r.name) {
			selected = append(selected, r)
		}
	}
	if len(selected) == 0 {
		return fmt.Errorf("-run %q matches none of the runs", re)
	}
	started := time.Now()
	rep := &report{cfg: cfg, count: count, explain: explain, stream: st.Main, wide: st.Wide, results: map[string][]measurement{}, date: started}
	for i := range count {
		for _, r := range selected {
			if r.skip != "" {
				continue
			}
			m, err := runChild(ctx, self, r, cfg, srv, "")
			if err != nil {
				return err
			}
			rep.results[r.name] = append(rep.results[r.name], m)
			fmt.Fprintf(os.Stderr, "sluicebench: %d/%d %-16s %6.2fs wall %6.2fs CPU %8.0f records/s %6.0f MiB peak RSS\n",
				i+1, count, r.name, secs(m.WallNs), secs(m.UserNs+m.SysNs), float64(m.Records)/secs(m.WallNs), float64(m.MaxRSS)/(1<<20))
		}
	}
	rep.runs = selected
	rep.elapsed = time.Since(started)

	if profile {
		for _, name := range rep.unmetRuns() {
			r, _ := runByName(name)
			path := filepath.Join(dir, name+".pprof")
			if _, err := runChild(ctx, self, r, cfg, srv, path); err != nil {
				return err
			}
			top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=15", self, path).Output()
			if err != nil {
				return fmt.Errorf("go tool pprof: %w", err)
			}
			rep.profiles = append(rep.profiles, profileTop{name: name, top: string(top)})
		}
	}

	rep.markdown(os.Stdout)
	if out != "" {
		var b bytes.Buffer
		rep.benchstat(&b)
		if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "sluicebench: benchstat lines written to %s (%s in all)\n", out, rep.elapsed.Round(time.Second))
	}
	return nil
}

// runChild runs r in a child process and checks what it reports; with a profile path, the
// child writes a CPU profile there.
func runChild(ctx context.Context, self string, r run, cfg config, srv *server, profile string) (measurement, error) {
	cfg.Profile = profile
	if cfg.MemProfile != "" {
		cfg.MemProfile = filepath.Join(cfg.MemProfile, r.name+".heap")
	}
	cfgJSON, _ := json.Marshal(cfg)
	before, err := srv.stats(ctx)
	if err != nil {
		return measurement{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, childTimeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, self, "-child", r.name, "-config", string(cfgJSON))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if r.memLimit {
		cmd.Env = append(os.Environ(), "GOMEMLIMIT="+memLimitFor(cfg))
	}
	runErr := cmd.Run()
	if stderr.Len() > 0 {
		os.Stderr.Write(stderr.Bytes())
	}
	if runErr != nil {
		return measurement{}, fmt.Errorf("%s: %w", r.name, runErr)
	}
	after, err := srv.stats(ctx)
	if err != nil {
		return measurement{}, err
	}
	var m measurement
	if err := json.Unmarshal(stdout.Bytes(), &m.result); err != nil {
		return measurement{}, fmt.Errorf("%s: the child's result: %w: %q", r.name, err, stdout.Bytes())
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if ru != nil {
		m.MaxRSS = int64(ru.Maxrss) * maxRSSUnit
	}
	m.ProcCPUNs = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Nanoseconds()
	m.ServerCPUNs = after.CPUNs - before.CPUNs
	if put := after.PutRecords - before.PutRecords; r.name == "p4-kinesis-sink" && (put != m.OutRows || after.PutRefuse != before.PutRefuse) {
		return measurement{}, fmt.Errorf("%s: the sink reported %d rows; the server accepted %d records and refused %d calls",
			r.name, m.OutRows, put, after.PutRefuse-before.PutRefuse)
	}
	return m, nil
}

func secs(ns int64) float64 { return float64(ns) / 1e9 }

// memLimitFor is the GOMEMLIMIT of the rss-full-limit run: -rss-memlimit, or fetchBufferSize
// × 5/4 + 40 MiB (the recommendation of sources/kinesis's documentation), in bytes.
func memLimitFor(cfg config) string {
	if cfg.RSSMemLimit != "" {
		return cfg.RSSMemLimit
	}
	buf, _ := optspec.ParseBytes(cfg.RSSBuffer)
	return strconv.FormatInt(buf*5/4+40<<20, 10)
}
