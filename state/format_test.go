package state

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/internal/golden"
)

func seq(entries ...entry) func(func(entry) bool) { return slices.Values(entries) }

func put(k, v string) entry { return entry{key: []byte(k), value: []byte(v)} }
func tomb(k string) entry   { return entry{key: []byte(k), deleted: true} }

// goldenFiles are the files pinned under testdata/: a change of the format shows there.
var goldenFiles = []struct {
	name    string
	kind    byte
	version int64
	entries []entry
}{
	{"delta.golden", kindDelta, 12, []entry{put("", "empty key"), put("apple", "1"), tomb("banana"), put("cherry", ""), put("\xff", strings.Repeat("v", 130))}},
	{"snapshot.golden", kindSnapshot, 300, []entry{put("a", "x"), put("b", "yy")}},
	{"empty-delta.golden", kindDelta, 1, nil},
	{"snapshot-manifest.golden", kindParts, 40, slices.Collect(manifestEntries([]partRef{{count: 3, sum: 0x01020304}, {count: 300, sum: 0xfffefdfc}}))},
}

// TestFormatGolden pins the bytes of the state files: a checkpoint written by one build must
// load in the next. Change the format only with a new format version.
func TestFormatGolden(t *testing.T) {
	for _, g := range goldenFiles {
		t.Run(g.name, func(t *testing.T) {
			data, err := encodeFile(g.kind, g.version, int64(len(g.entries)), seq(g.entries...), 0)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, g.name, hex.Dump(data))
			f, err := parseFile(data)
			if err != nil {
				t.Fatalf("parseFile: %v", err)
			}
			if f.kind != g.kind || f.version != g.version {
				t.Errorf("parseFile: %s of version %d; want %s of version %d", kindName(f.kind), f.version, kindName(g.kind), g.version)
			}
			got := slices.Collect(f.entries())
			if diff := cmp.Diff(g.entries, got, cmp.AllowUnexported(entry{}), cmpEmptyBytes); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
}

// cmpEmptyBytes treats nil and empty byte slices as equal.
var cmpEmptyBytes = cmp.Comparer(func(a, b []byte) bool { return string(a) == string(b) })

func TestEncodeRejects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kind    byte
		n       int64
		entries []entry
		want    string
	}{
		{"keys out of order", kindDelta, 2, []entry{put("b", ""), put("a", "")}, `key "a" after "b"`},
		{"duplicate key", kindDelta, 2, []entry{put("a", ""), tomb("a")}, `key "a" after "a"`},
		{"tombstone in a snapshot", kindSnapshot, 1, []entry{tomb("a")}, "tombstone"},
		{"fewer entries than counted", kindSnapshot, 3, []entry{put("a", "")}, "1 entries, expected 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := encodeFile(tc.kind, 1, tc.n, seq(tc.entries...), 0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("encodeFile: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	valid, err := encodeFile(kindDelta, 3, 2, seq(put("a", "1"), tomb("b")), 0)
	if err != nil {
		t.Fatal(err)
	}
	// reseal replaces the checksum after a change, to reach the checks behind it.
	reseal := func(b []byte) []byte {
		b = b[:len(b)-checksumSize]
		return append(b, encodeChecksum(b)...)
	}
	edit := func(fn func([]byte) []byte) []byte { return fn(slices.Clone(valid)) }
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"magic", edit(func(b []byte) []byte { b[0] = 'X'; return b }), "bad magic"},
		{"checksum", edit(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), "checksum mismatch"},
		{"damaged entry", edit(func(b []byte) []byte { b[9] ^= 1; return b }), "checksum mismatch"},
		{"newer format", edit(func(b []byte) []byte { b[4] = 2; return reseal(b) }), "format version 2 is newer"},
		{"older format", edit(func(b []byte) []byte { b[4] = 0; return reseal(b) }), "unknown format version 0"},
		{"kind", edit(func(b []byte) []byte { b[5] = 'x'; return reseal(b) }), "unknown file kind"},
		{"tombstone in a snapshot", edit(func(b []byte) []byte { b[5] = kindSnapshot; return reseal(b) }), "a snapshot holds a tombstone"},
		{"count too large", edit(func(b []byte) []byte { b[7] = 3; return reseal(b) }), "entry 2: bad key length"},
		{"count beyond the file", edit(func(b []byte) []byte { b[7] = 100; return reseal(b) }), "does not fit"},
		{"trailing data", edit(func(b []byte) []byte { b[7] = 1; return reseal(b) }), "trailing data"},
		{"key length beyond the file", edit(func(b []byte) []byte { b[8] = 50; return reseal(b) }), "key length 50 exceeds"},
		{"keys out of order", edit(func(b []byte) []byte { b[9] = 'c'; return reseal(b) }), `key "b" is not after the previous key "c"`},
		{"varint not in its shortest form", edit(func(b []byte) []byte { b = slices.Insert(b, 7, 0); b[6] |= 0x80; return reseal(b) }), "bad state version (varint not in its shortest form)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFile(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseFile: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

// FuzzParseFile feeds the decoder of state files arbitrary bytes: it must never panic, and
// what it accepts must encode back to the same bytes.
func FuzzParseFile(f *testing.F) {
	for _, g := range goldenFiles {
		data, err := encodeFile(g.kind, g.version, int64(len(g.entries)), seq(g.entries...), 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte{})
	f.Add([]byte("SLST\x01d\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Without a valid checksum the fuzzer rarely gets past it: check both the bytes as
		// they are and resealed.
		for _, b := range [][]byte{data, resealed(data)} {
			file, err := parseFile(b)
			if err != nil {
				continue
			}
			got, err := encodeFile(file.kind, file.version, file.count, file.entries(), 0)
			if err != nil {
				t.Fatalf("an accepted file does not encode: %v", err)
			}
			if string(got) != string(b) {
				t.Fatalf("re-encoding differs:\n%x\n%x", b, got)
			}
		}
	})
}

func resealed(data []byte) []byte {
	if len(data) < checksumSize {
		return data
	}
	b := slices.Clone(data[:len(data)-checksumSize])
	return append(b, encodeChecksum(b)...)
}

func TestParseFileName(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kind    byte
		version int64
		ok      bool
	}{
		{"1.delta", kindDelta, 1, true},
		{"120.snapshot", kindSnapshot, 120, true},
		{"0.delta", 0, 0, false},
		{"-1.delta", 0, 0, false},
		{"01.delta", 0, 0, false},
		{"1.delta.tmp", 0, 0, false},
		{"x.snapshot", 0, 0, false},
		{"1", 0, 0, false},
		{"9223372036854775808.delta", 0, 0, false},
	} {
		kind, v, ok := parseFileName(tc.name)
		if kind != tc.kind || v != tc.version || ok != tc.ok {
			t.Errorf("parseFileName(%q) = %q, %d, %v; want %q, %d, %v", tc.name, kind, v, ok, tc.kind, tc.version, tc.ok)
		}
	}
}

// TestSnapshotWriterBounded checks that the snapshot writer holds one part at a time however
// many entries it writes, that its parts and manifest parse back to the entries, and that a
// snapshot that fits in one part is the bytes encodeFile makes.
func TestSnapshotWriterBounded(t *testing.T) {
	const n, partBytes = 100_000, 4096
	var all []entry
	for i := range n {
		all = append(all, entry{key: fmt.Appendf(nil, "key-%08d", i), value: fmt.Appendf(nil, "value-%d", i*i)})
	}
	files := map[int][]byte{}
	w := newSnapshotWriter(7, partBytes, func(part int, data []byte) error {
		files[part] = slices.Clone(data)
		return nil
	})
	for _, e := range all {
		if err := w.add(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.finish(n); err != nil {
		t.Fatal(err)
	}
	// One part, its header and checksum, and the entry that did not fit.
	if limit := partBytes + maxHeaderSize + checksumSize + 40; w.maxBuf > limit {
		t.Errorf("the writer held %d bytes; want at most %d", w.maxBuf, limit)
	}
	manifest, err := parseFile(files[0])
	if err != nil || manifest.kind != kindParts || manifest.version != 7 {
		t.Fatalf("manifest: %v, %s of version %d", err, kindName(manifest.kind), manifest.version)
	}
	parts, err := parseManifest(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != len(files)-1 || len(parts) < n*20/partBytes {
		t.Fatalf("manifest lists %d parts; %d written", len(parts), len(files)-1)
	}
	var got []entry
	for i, p := range parts {
		f, err := parseFile(files[i+1])
		if err != nil || f.kind != kindSnapshot || f.version != 7 || f.count != p.count || f.sum != p.sum {
			t.Fatalf("part %d: %v, %+v; manifest says %+v", i+1, err, f, p)
		}
		got = slices.AppendSeq(got, f.entries())
	}
	if diff := cmp.Diff(all, got, cmp.AllowUnexported(entry{}), cmpEmptyBytes); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}

	for _, partBytes := range []int{0, 1 << 20} {
		var whole []byte
		w := newSnapshotWriter(7, partBytes, func(part int, data []byte) error {
			if part != 0 || whole != nil {
				t.Errorf("small snapshot written as part %d", part)
			}
			whole = slices.Clone(data)
			return nil
		})
		for _, e := range all[:1000] {
			if err := w.add(e); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.finish(1000); err != nil {
			t.Fatal(err)
		}
		want, err := encodeFile(kindSnapshot, 7, 1000, slices.Values(all[:1000]), 0)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(whole, want) {
			t.Errorf("part size %d: a snapshot in one part differs from encodeFile's", partBytes)
		}
	}

	w = newSnapshotWriter(7, partBytes, func(int, []byte) error { return nil })
	if err := w.add(put("b", "1")); err != nil {
		t.Fatal(err)
	}
	if err := w.add(put("a", "1")); err == nil {
		t.Error("the writer took a key out of order")
	}
	if err := w.add(tomb("c")); err == nil {
		t.Error("the writer took a tombstone")
	}
	if err := w.finish(2); err == nil {
		t.Error("finish took a wrong entry count")
	}
}
