package pipeline_test

import (
	"bufio"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGKILLRestart kills a running query process with SIGKILL at random moments, restarts it
// on the same checkpoint each time, and finally drains it with AvailableNow: the idempotent
// sink's output must hold every row exactly once, with no gap.
func TestSIGKILLRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a program")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "crashy")
	build := exec.Command("go", "build", "-o", bin, "github.com/sluicedev/sluice/internal/testprog/crashy")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cp, out := filepath.Join(tmp, "checkpoint"), filepath.Join(tmp, "out")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	start := func(args ...string) (*exec.Cmd, *bufio.Reader) {
		cmd := exec.Command(bin, append([]string{"-checkpoint", cp, "-out", out}, args...)...)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(stdout)
		line, err := r.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "started" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("process did not start: %q %v", line, err)
		}
		return cmd, r
	}
	kills := 6
	for i := range kills {
		cmd, _ := start()
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("run %d ended before the kill: %v", i, err)
		}
	}
	cmd, _ := start("-available-now")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("final run: %v", err)
	}

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
