package file_test

import (
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicedev/sluice/internal/testkit"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicedev/sluice/internal/localaws"
	filesink "github.com/sluicedev/sluice/sinks/file"
)

// TestSIGKILLRestart kills a rate → parquet query process (internal/testprog/filesinkcrash: partitioned,
// many small files per batch) with SIGKILL at random moments, restarts it on the same
// checkpoint and path each time, and finally drains it with AvailableNow. The committed files
// (those the manifests list) must hold every value exactly once, with no gap, and after the
// final run's sweep no file outside the manifests may remain. It runs on local disk and, in
// subtest s3, on s3rver (a bucket of its own, a prefix per format).
func TestSIGKILLRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a program")
	}
	bin := testkit.BuildProgram(t, "github.com/sluicedev/sluice/internal/testprog/filesinkcrash")
	for _, format := range []string{"parquet", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			out := filepath.Join(tmp, "out")
			crashCycle(t, bin, format, filepath.Join(tmp, "checkpoint"), crashTarget{
				out:  out,
				list: func(t *testing.T) []string { return dataFiles(listFiles(t, out)) },
			})
		})
	}
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		ep := localaws.S3Endpoint(t)
		bucket, s3opt := s3Bucket(t)
		client := s3.NewFromConfig(localaws.AWSConfig(ep), func(o *s3.Options) { o.UsePathStyle = true })
		for _, format := range []string{"parquet", "json"} {
			t.Run(format, func(t *testing.T) {
				t.Parallel()
				prefix := "crash-" + format + "/"
				crashCycle(t, bin, format, filepath.Join(t.TempDir(), "checkpoint"), crashTarget{
					out: "s3://" + bucket + "/" + prefix,
					args: []string{"-endpoint", ep, "-region", localaws.Region, "-path-style",
						"-access-key", localaws.AccessKeyID, "-secret-key", localaws.SecretAccessKey},
					opts: []func(*filesink.Options){s3opt},
					list: func(t *testing.T) []string { return dataFiles(s3List(t, client, bucket, prefix)) },
				})
			})
		}
	})
}

// crashTarget is the output of one crash cycle.
type crashTarget struct {
	out  string                      // the program's -out: a directory or s3://bucket/prefix
	args []string                    // further flags of the program (the S3 connection)
	opts []func(*filesink.Options)   // ReadManifest's options for out
	list func(t *testing.T) []string // the data files below out (relative, outside the metadata directory)
}

// crashCycle starts the program six times on checkpoint and tgt, SIGKILLs each run at a
// random moment, drains the query with -available-now, and checks the committed files: every
// value exactly once, with no gap, each in its bucket= directory, and no uncommitted data file
// left after the final run. The program's stderr goes to t.Log.
func crashCycle(t *testing.T, bin, format, checkpoint string, tgt crashTarget) {
	t.Helper()
	const kills = 6
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	start := func(args ...string) *exec.Cmd {
		args = slices.Concat([]string{"-checkpoint", checkpoint, "-out", tgt.out, "-format", format}, tgt.args, args)
		return testkit.StartChild(t, nil, bin, args...)
	}
	orphansSeen := 0
	for i := range kills {
		cmd := start()
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		if killed, err := testkit.KillChild(cmd); !killed {
			t.Fatalf("run %d ended before the kill: %v", i, err)
		}
		orphansSeen += len(uncommitted(t, tgt))
	}
	cmd := start("-available-now")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("final run: %v", err)
	}

	mem := testkit.CheckedAlloc(t)
	var values []int64
	tbl, err := filesink.ReadManifest(t.Context(), tgt.out, tgt.opts...)
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
	if left := uncommitted(t, tgt); len(left) > 0 {
		t.Errorf("files outside the manifests after the final run: %v", left)
	}
	t.Logf("%d kills; %d rows in %d batches and %d files, each exactly once; %d uncommitted files seen after kills, all swept",
		kills, len(values), len(tbl.Batches), len(tbl.Files()), orphansSeen)
}

// uncommitted lists the data files below tgt.out that no manifest lists (orphans of killed
// attempts, temporary files).
func uncommitted(t *testing.T, tgt crashTarget) []string {
	t.Helper()
	tbl, err := filesink.ReadManifest(t.Context(), tgt.out, tgt.opts...)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, f := range tbl.Files() {
		listed[f.Path] = true
	}
	var left []string
	for _, n := range tgt.list(t) {
		if !listed[n] {
			left = append(left, n)
		}
	}
	return left
}

// s3List returns every key of bucket below prefix (which ends in "/"), relative to it, sorted.
func s3List(t *testing.T, client *s3.Client, bucket, prefix string) []string {
	t.Helper()
	var out []string
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			out = append(out, strings.TrimPrefix(aws.ToString(o.Key), prefix))
		}
	}
	slices.Sort(out)
	return out
}
