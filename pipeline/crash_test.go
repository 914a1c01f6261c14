package pipeline_test

import (
	"encoding/json"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicedev/sluice/internal/testkit"
)

// TestSIGKILLRestart kills a running query process with SIGKILL at random moments, restarts it
// on the same checkpoint each time, and finally drains it with AvailableNow: the idempotent
// sink's output must hold every row exactly once, with no gap.
func TestSIGKILLRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a program")
	}
	tmp := t.TempDir()
	bin := testkit.BuildProgram(t, "github.com/sluicedev/sluice/internal/testprog/crashy")
	cp, out := filepath.Join(tmp, "checkpoint"), filepath.Join(tmp, "out")
	kills := 6
	runKilled(t, bin, kills, "-checkpoint", cp, "-out", out)

	files, _ := filepath.Glob(filepath.Join(out, "batch-*.jsonl"))
	var values []int64
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if line == "" {
				continue
			}
			var row struct{ Value int64 }
			if err := json.Unmarshal([]byte(line), &row); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			values = append(values, row.Value)
		}
	}
	slices.Sort(values)
	if len(values) < 100 {
		t.Fatalf("only %d rows written over %d runs", len(values), kills+1)
	}
	for i, v := range values {
		if v != int64(i) {
			t.Fatalf("after %d kills: %d rows in %d batch files; row %d is %d (want %d): a row was lost or duplicated", kills, len(values), len(files), i, v, i)
		}
	}
	t.Logf("%d kills; %d rows in %d batches, each exactly once", kills, len(values), len(files))
}

// TestSIGKILLStateful kills stateful queries with SIGKILL at random moments and restarts them
// on the same checkpoint, then drains them: the output must equal what one run over the same
// input computes, in every output mode (see internal/testprog/crashy for the queries).
func TestSIGKILLStateful(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a program")
	}
	bin := testkit.BuildProgram(t, "github.com/sluicedev/sluice/internal/testprog/crashy")
	for _, mode := range []string{"update", "complete", "append", "dedup"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			perBatch := "100"
			if mode == "dedup" {
				perBatch = "101" // pairs (value / 2) straddle batches
			}
			batches := runKilled(t, bin, 5, "-checkpoint", filepath.Join(dir, "cp"), "-out", filepath.Join(dir, "out"), "-query", mode, "-per-batch", perBatch)
			checkStateful(t, mode, batches)
		})
	}
}

// runKilled runs the program kills times, killing it with SIGKILL after a random moment, then
// once more with -available-now to the end, and returns the rows of each batch file it wrote.
func runKilled(t *testing.T, bin string, kills int, args ...string) map[int64][]map[string]any {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	var out string
	for i, a := range args {
		if a == "-out" {
			out = args[i+1]
		}
	}
	run := func(extra ...string) *exec.Cmd {
		return testkit.StartChild(t, os.Stderr, bin, append(append([]string(nil), args...), extra...)...)
	}
	for i := range kills {
		cmd := run()
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		if killed, err := testkit.KillChild(cmd); !killed {
			t.Fatalf("run %d ended before the kill: %v", i, err)
		}
	}
	if err := run("-available-now").Wait(); err != nil {
		t.Fatalf("final run: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(out, "batch-*.jsonl"))
	batches := map[int64][]map[string]any{}
	for _, f := range files {
		id, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "batch-"), ".jsonl"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		batches[id] = []map[string]any{}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if line == "" {
				continue
			}
			var row map[string]any
			if err := json.Unmarshal([]byte(line), &row); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			batches[id] = append(batches[id], row)
		}
	}
	return batches
}

// checkStateful compares a crashy stateful run's output with the result computed directly
// from the rate-micro-batch source's rows (value i, event time i/100 seconds).
func checkStateful(t *testing.T, mode string, batches map[int64][]map[string]any) {
	t.Helper()
	ids := slices.Sorted(maps.Keys(batches))
	if len(ids) < 3 {
		t.Fatalf("only %d batches written", len(ids))
	}
	for i, id := range ids {
		if id != int64(i) {
			t.Fatalf("batch files %v: batch %d is missing", ids, i)
		}
	}
	num := func(row map[string]any, k string) int64 { return int64(row[k].(float64)) }
	type agg struct{ count, sum, min, max int64 }
	switch mode {
	case "update", "complete":
		final := map[int64]agg{}
		if mode == "update" {
			for _, id := range ids {
				for _, r := range batches[id] {
					final[num(r, "key")] = agg{num(r, "count"), num(r, "sum(value)"), num(r, "min"), num(r, "max")}
				}
			}
		} else {
			for _, r := range batches[ids[len(ids)-1]] {
				final[num(r, "key")] = agg{num(r, "count"), num(r, "sum(value)"), num(r, "min"), num(r, "max")}
			}
		}
		var rows int64
		for _, a := range final {
			rows += a.count
		}
		// Every batch holds 100 rows: values 0..rows-1, all counted exactly once.
		if rows != int64(len(ids))*100 {
			t.Fatalf("%d rows counted over %d batches; want %d", rows, len(ids), len(ids)*100)
		}
		want := map[int64]agg{}
		for v := range rows {
			a := want[v%37]
			if a.count == 0 {
				a.min = v
			}
			a.count++
			a.sum += v
			a.max = v
			want[v%37] = a
		}
		if diff := cmp.Diff(want, final, cmp.AllowUnexported(agg{})); diff != "" {
			t.Fatalf("counts after kills (-want +got):\n%s", diff)
		}
	case "append":
		got := map[int64]agg{}
		for _, id := range ids {
			for _, r := range batches[id] {
				s, err := time.Parse(time.RFC3339Nano, strings.Replace(r["window"].(map[string]any)["start"].(string), " ", "T", 1))
				if err != nil {
					t.Fatal(err)
				}
				k := s.UnixMilli() / 2000
				if _, dup := got[k]; dup {
					t.Fatalf("window %d emitted twice", k)
				}
				got[k] = agg{num(r, "count"), num(r, "sum(value)"), num(r, "min"), num(r, "max")}
			}
		}
		want := map[int64]agg{}
		for k := range int64(len(got)) {
			want[k] = agg{200, 100 * (400*k + 199), 200 * k, 200*k + 199}
		}
		if len(got) < 2 {
			t.Fatalf("only %d windows emitted", len(got))
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(agg{})); diff != "" {
			t.Fatalf("windows after kills (-want +got):\n%s", diff)
		}
	case "dedup":
		var pairs []int64
		for _, id := range ids {
			for _, r := range batches[id] {
				pairs = append(pairs, num(r, "pair"))
			}
		}
		slices.Sort(pairs)
		for i, v := range pairs {
			if v != int64(i) {
				t.Fatalf("pair %d is %d: a row was lost or passed twice (%d pairs)", i, v, len(pairs))
			}
		}
		if want := (int64(len(ids))*101 + 1) / 2; int64(len(pairs)) != want {
			t.Fatalf("%d pairs over %d batches of 101 rows; want %d", len(pairs), len(ids), want)
		}
	}
}
