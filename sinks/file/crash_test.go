package file_test

import (
	"bufio"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	filesink "github.com/sluicedev/sluice/sinks/file"
)

// TestSIGKILLRestart kills a rate → parquet query process (internal/testprog/filesinkcrash: partitioned,
// many small files per batch) with SIGKILL at random moments, restarts it on the same
// checkpoint and path each time, and finally drains it with AvailableNow. The committed files
// (those the manifests list) must hold every value exactly once, with no gap, and after the
// final run's sweep no file outside the manifests may remain.
func TestSIGKILLRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a program")
	}
	bin := filepath.Join(t.TempDir(), "crashprog")
	build := exec.Command("go", "build", "-o", bin, "github.com/sluicedev/sluice/internal/testprog/filesinkcrash")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, format := range []string{"parquet", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			cp, out := filepath.Join(tmp, "checkpoint"), filepath.Join(tmp, "out")
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
			start := func(args ...string) *exec.Cmd {
				cmd := exec.Command(bin, append([]string{"-checkpoint", cp, "-out", out, "-format", format}, args...)...)
				cmd.Stderr = os.Stderr
				stdout, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				line, err := bufio.NewReader(stdout).ReadString('\n')
				if err != nil || strings.TrimSpace(line) != "started" {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("process did not start: %q %v", line, err)
				}
				return cmd
			}
			kills := 6
			orphansSeen := 0
			for i := range kills {
				cmd := start()
				time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				err := cmd.Wait()
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
					t.Fatalf("run %d ended before the kill: %v", i, err)
				}
				orphansSeen += len(uncommitted(t, out))
			}
			cmd := start("-available-now")
			if err := cmd.Wait(); err != nil {
				t.Fatalf("final run: %v", err)
			}

			mem := checkedAlloc(t)
			var values []int64
			tbl, err := filesink.ReadManifest(t.Context(), out)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range tbl.Files() {
				data, err := tbl.ReadFile(t.Context(), f)
				if err != nil {
					t.Fatal(err)
				}
				_, vals, _ := filesink.ParsePartitionDir(f.Path)
				var got []int64
				if format == "json" {
					for _, row := range readJSON(t, data, false) {
						n, _ := row["value"].(interface{ Int64() (int64, error) }).Int64()
						got = append(got, n)
					}
				} else {
					_, rows := readParquet(t, mem, data)
					for _, r := range rows {
						got = append(got, r["value"].(int64))
					}
				}
				for _, v := range got {
					if want := []string{"0", "1", "2"}[v%3]; *vals[0] != want {
						t.Errorf("value %d in %s; want bucket=%s", v, f.Path, want)
					}
				}
				values = append(values, got...)
			}
			slices.Sort(values)
			if len(values) < 100 {
				t.Fatalf("only %d rows committed over %d runs", len(values), kills+1)
			}
			for i, v := range values {
				if v != int64(i) {
					t.Fatalf("after %d kills: %d rows in %d batches; row %d is %d (want %d): a row was lost or duplicated",
						kills, len(values), len(tbl.Batches), i, v, i)
				}
			}
			if left := uncommitted(t, out); len(left) > 0 {
				t.Errorf("files outside the manifests after the final run: %v", left)
			}
			t.Logf("%d kills; %d rows in %d batches and %d files, each exactly once; %d uncommitted files seen after kills, all swept",
				kills, len(values), len(tbl.Batches), len(tbl.Files()), orphansSeen)
		})
	}
}

// uncommitted lists the files below out, outside the metadata directory, that no manifest
// lists (orphans of killed attempts, temporary files).
func uncommitted(t *testing.T, out string) []string {
	t.Helper()
	tbl, err := filesink.ReadManifest(t.Context(), out)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, f := range tbl.Files() {
		listed[f.Path] = true
	}
	var left []string
	for _, n := range dataFiles(listFiles(t, out)) {
		if !listed[n] {
			left = append(left, n)
		}
	}
	return left
}
