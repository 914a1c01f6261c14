package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEscapePathName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain-value_1.0", "plain-value_1.0"},
		{"a/b=c", "a%2Fb%3Dc"},
		{"2024-05-01 10:00:00", "2024-05-01 10%3A00%3A00"},
		{"100%", "100%25"},
		{"tab\there", "tab%09here"},
		{`"#'*?\{[]^`, "%22%23%27%2A%3F%5C%7B%5B%5D%5E"},
		{"ünïcode", "ünïcode"},
	} {
		if got := escapePathName(tc.in); got != tc.want {
			t.Errorf("escapePathName(%q) = %q; want %q", tc.in, got, tc.want)
		}
		if back := unescapePathName(tc.want); back != tc.in {
			t.Errorf("unescapePathName(%q) = %q; want %q", tc.want, back, tc.in)
		}
	}
}

func TestParseDataFileName(t *testing.T) {
	const u = "0b1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
	for _, tc := range []struct {
		name string
		ok   bool
		want dataFile
	}{
		{"part-00007-00001-" + u + ".snappy.parquet", true, dataFile{batch: 7, final: "part-00007-00001-" + u + ".snappy.parquet"}},
		{"day=x/part-123456-00000-" + u + ".json.gz", true, dataFile{batch: 123456, final: "day=x/part-123456-00000-" + u + ".json.gz"}},
		{"day=x/.part-00002-00000-" + u + ".json.tmp", true, dataFile{batch: 2, temp: true, final: "day=x/part-00002-00000-" + u + ".json"}},
		{"day=x/.part-00002-00000-" + u + ".json", false, dataFile{}},
		{"part-00002-00000-notauuid.json", false, dataFile{}},
		{"_sluice_metadata/part-00002-00000-" + u + ".json", false, dataFile{}},
		{"other.parquet", false, dataFile{}},
	} {
		got, ok := parseDataFileName(tc.name)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseDataFileName(%q) = %+v, %v; want %+v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if name := dataFileName(3, 12, u, ".parquet"); name != "part-00003-00012-"+u+".parquet" {
		t.Errorf("dataFileName = %q", name)
	}
	if !isMetadataTemp("_sluice_metadata/.3.0011aabb.tmp") || isMetadataTemp("_sluice_metadata/3") || isMetadataTemp("x/.3.tmp") {
		t.Error("isMetadataTemp")
	}
}

func TestPartitionDirRoundTrip(t *testing.T) {
	a, b := "a/b=c", "2024"
	dir := partitionDir([]string{"k=1", "y"}, []*string{&a, nil})
	if dir != "k%3D1=a%2Fb%3Dc/y=__HIVE_DEFAULT_PARTITION__/" {
		t.Errorf("partitionDir = %q", dir)
	}
	cols, vals, err := ParsePartitionDir(dir + "part-x")
	if err != nil || !cmp.Equal(cols, []string{"k=1", "y"}) || *vals[0] != a || vals[1] != nil {
		t.Errorf("ParsePartitionDir = %v %v %v", cols, vals, err)
	}
	if _, _, err := ParsePartitionDir("nokey/part-x"); err == nil {
		t.Error("ParsePartitionDir accepted a directory without =")
	}
	_ = b
}

// FuzzDecodeManifest: manifests are outside bytes; decoding never panics, and what decodes
// encodes and decodes to the same manifest.
func FuzzDecodeManifest(f *testing.F) {
	f.Add([]byte(`{"version":1,"batchId":3,"queryId":"q","attemptId":"a","timestampMs":1,"format":"parquet","partitionBy":["day"],"files":[{"path":"day=1/part-x","size":10,"rows":2,"partition":["1"]}]}`))
	f.Add([]byte(`{"version":1,"batchId":3,"format":"json","partitionBy":[],"files":[]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeManifest("m", 3, data)
		if err != nil {
			if !strings.Contains(err.Error(), "corrupt manifest m") {
				t.Fatalf("error %q does not name the manifest", err)
			}
			return
		}
		enc, err := encodeManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := decodeManifest("m", 3, enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !cmp.Equal(m, m2) {
			t.Fatalf("round trip differs: %s", cmp.Diff(m, m2))
		}
	})
}

// FuzzPartitionPath: any partition value survives escaping into a directory and parsing back.
func FuzzPartitionPath(f *testing.F) {
	f.Add("col", "a/b=c%")
	f.Add("k", "")
	f.Add("é", "\x00\x7f")
	f.Fuzz(func(t *testing.T, col, val string) {
		if col == "" {
			return
		}
		dir := partitionDir([]string{col}, []*string{&val})
		if strings.Count(dir, "/") != 1 || strings.Count(dir, "=") != 1 {
			t.Fatalf("directory %q for %q=%q is not one col=value segment", dir, col, val)
		}
		cols, vals, err := ParsePartitionDir(dir + "f")
		if err != nil {
			t.Fatal(err)
		}
		if cols[0] != col {
			t.Fatalf("column %q came back as %q", col, cols[0])
		}
		if val == "" || val == DefaultPartitionName {
			return // both read back as null, as in Hive
		}
		if vals[0] == nil || *vals[0] != val {
			t.Fatalf("value %q came back as %v", val, vals[0])
		}
	})
}

// TestTornNewestManifest: an unreadable newest manifest is an interrupted write of an
// uncommitted batch (stores like s3rver expose one when the writer dies mid-upload): Open
// removes it and reports the batch before it as the last; ReadManifest leaves it out. An
// unreadable older manifest stays an error.
func TestTornNewestManifest(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		ids      []int64
		torn     int64
		wantLast int64
		wantOK   bool
	}{
		{"only manifest torn", []int64{0}, 0, 0, false},
		{"newest torn", []int64{0, 1, 2}, 2, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			st := &localStorage{root: dir}
			for _, id := range c.ids {
				data := []byte(`{"version":1,"batc`) // cut short
				if id != c.torn {
					var err error
					data, err = encodeManifest(&Manifest{Version: ManifestVersion, BatchID: id, Format: Parquet})
					if err != nil {
						t.Fatal(err)
					}
				}
				if err := os.MkdirAll(filepath.Join(dir, MetadataDir), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, MetadataDir, strconv.FormatInt(id, 10)), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tbl, err := ReadManifest(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			last, ok := tbl.LastBatchID()
			if last != c.wantLast || ok != c.wantOK {
				t.Errorf("ReadManifest: last %d %v; want %d %v", last, ok, c.wantLast, c.wantOK)
			}
			ids, _ := manifestIDs(ctx, st)
			if _, _, _, torn, err := readNewestManifest(ctx, st, ids); !torn || err != nil {
				t.Errorf("readNewestManifest: torn %v err %v; want torn", torn, err)
			}
		})
	}
	t.Run("older torn is an error", func(t *testing.T) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, MetadataDir), 0o755)
		good, _ := encodeManifest(&Manifest{Version: ManifestVersion, BatchID: 1, Format: Parquet})
		os.WriteFile(filepath.Join(dir, MetadataDir, "0"), []byte("{"), 0o644) // torn, but not the newest
		os.WriteFile(filepath.Join(dir, MetadataDir, "1"), good, 0o644)
		var ce *CorruptError
		if _, err := ReadManifest(ctx, dir); !errors.As(err, &ce) {
			t.Errorf("got %v; want a CorruptError for manifest 0", err)
		}
	})
}
