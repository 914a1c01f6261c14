package kinesis

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluicedev/sluice/internal/localaws"
	"github.com/sluicedev/sluice/internal/testkit"
)

// TestSIGKILL runs a checkpointed query in another process (internal/testprog/kinesisreader) and kills it
// with SIGKILL several times while records keep arriving; after a last restart, its idempotent
// directory sink holds every record exactly once, in per-key order.
func TestSIGKILL(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	t.Parallel()
	ep := localaws.KinesaliteEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 3)
	dir := t.TempDir()
	bin := testkit.BuildProgram(t, "github.com/sluicedev/sluice/internal/testprog/kinesisreader")
	cp, out := filepath.Join(dir, "checkpoint"), filepath.Join(dir, "out")
	start := func() *exec.Cmd {
		return testkit.StartChild(t, os.Stderr, bin, "-endpoint", ep, "-stream", name, "-checkpoint", cp, "-out", out)
	}
	kill := func(cmd *exec.Cmd) { testkit.KillChild(cmd) }
	var want []localaws.Record
	for round := range 4 {
		rs := records("r"+string(rune('a'+round)), 800, 25)
		localaws.PutRecords(t, c, name, rs)
		want = append(want, rs...)
		cmd := start()
		// Kill it at a different moment each round: soon after it started reading, or later.
		deadline := time.Now().Add(30 * time.Second)
		for countRows(t, out) < len(want)-800+200*(round+1) && time.Now().Before(deadline) {
			time.Sleep(time.Duration(5+round*7) * time.Millisecond)
		}
		kill(cmd)
		t.Logf("round %d: killed with %d of %d rows written", round, countRows(t, out), len(want))
	}
	cmd := start()
	deadline := time.Now().Add(time.Minute)
	for countRows(t, out) < len(want) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	kill(cmd)
	checkExactlyOnce(t, readRows(t, out), want)
}

func readRows(t *testing.T, dir string) []row {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	// Batch order: numeric file names.
	byID := map[int]string{}
	maxID := -1
	for _, n := range names {
		var id int
		if _, err := fmtSscan(strings.TrimSuffix(filepath.Base(n), ".jsonl"), &id); err == nil {
			byID[id] = n
			maxID = max(maxID, id)
		}
	}
	var rows []row
	for id := 0; id <= maxID; id++ {
		n, ok := byID[id]
		if !ok {
			continue // a batch with no rows writes an empty file; none is missing
		}
		f, err := os.Open(n)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r struct{ PK, Data, Shard, Seq string }
			var raw map[string]string
			if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
				t.Fatal(err)
			}
			r.PK, r.Data, r.Shard, r.Seq = raw["pk"], raw["data"], raw["shard"], raw["seq"]
			rows = append(rows, row{PartitionKey: r.PK, Data: r.Data, ShardID: r.Shard, Seq: r.Seq})
		}
		f.Close()
	}
	return rows
}

func countRows(t *testing.T, dir string) int { return len(readRows(t, dir)) }
