package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// MetadataDir is the directory below the sink's path that holds the manifest log: one file
// per committed micro-batch, named after the batch ID.
const MetadataDir = "_sluice_metadata"

// ManifestVersion is the version of the manifest format this package writes and reads.
const ManifestVersion = 1

// Manifest lists the files of one committed micro-batch. It is stored as JSON in
// <path>/_sluice_metadata/<batchId>.
type Manifest struct {
	// Version is ManifestVersion.
	Version int `json:"version"`
	// BatchID is the micro-batch's ID; it matches the file name.
	BatchID int64 `json:"batchId"`
	// QueryID is the ID of the query that wrote the batch.
	QueryID string `json:"queryId"`
	// AttemptID tells apart the attempts at writing one batch; it is part of the file names.
	AttemptID string `json:"attemptId"`
	// TimestampMs is when the batch was committed, in Unix milliseconds.
	TimestampMs int64 `json:"timestampMs"`
	// Format is "parquet" or "json".
	Format Format `json:"format"`
	// PartitionBy lists the partition columns, in directory order.
	PartitionBy []string `json:"partitionBy"`
	// Files are the batch's data files.
	Files []FileEntry `json:"files"`
}

// FileEntry is one data file of a committed batch.
type FileEntry struct {
	// Path is the file's path relative to the sink's path, '/'-separated, e.g.
	// "day=2024-05-01/part-00007-00000-<uuid>.snappy.parquet".
	Path string `json:"path"`
	// Size is the file's size in bytes.
	Size int64 `json:"size"`
	// Rows is the number of rows in the file.
	Rows int64 `json:"rows"`
	// Partition holds the values of the partition columns, in PartitionBy order, as they
	// appear in the directory names before escaping; nil stands for null or "" (both are
	// written as DefaultPartitionName, as in Hive).
	Partition []*string `json:"partition,omitempty"`
}

// CorruptError reports a manifest that cannot be trusted: it does not parse, has unknown
// fields, an unknown version, or a batch ID that does not match its name.
type CorruptError struct {
	// File names the manifest.
	File string
	// Err says what is wrong.
	Err error
}

// Error implements error, naming the manifest.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("file sink: corrupt manifest %s: %v", e.File, e.Err)
}

// Unwrap returns Err.
func (e *CorruptError) Unwrap() error { return e.Err }

// manifestName returns the storage name of batch id's manifest.
func manifestName(id int64) string { return MetadataDir + "/" + strconv.FormatInt(id, 10) }

// encodeManifest renders m as the manifest file's content.
func encodeManifest(m *Manifest) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// decodeManifest parses a manifest file, strictly.
func decodeManifest(name string, id int64, data []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, &CorruptError{File: name, Err: err}
	}
	if dec.More() {
		return nil, &CorruptError{File: name, Err: errors.New("unexpected data after the JSON object")}
	}
	switch {
	case m.Version != ManifestVersion:
		return nil, &CorruptError{File: name, Err: fmt.Errorf("version %d; this sluice reads version %d", m.Version, ManifestVersion)}
	case m.BatchID != id:
		return nil, &CorruptError{File: name, Err: fmt.Errorf("holds batch %d", m.BatchID)}
	case m.Format != Parquet && m.Format != JSON:
		return nil, &CorruptError{File: name, Err: fmt.Errorf("unknown format %q", m.Format)}
	}
	for i, f := range m.Files {
		if !validRelPath(f.Path) {
			return nil, &CorruptError{File: name, Err: fmt.Errorf("file %d has an invalid path %q", i, f.Path)}
		}
		if len(f.Partition) != len(m.PartitionBy) {
			return nil, &CorruptError{File: name, Err: fmt.Errorf("file %q has %d partition values for %d partition columns", f.Path, len(f.Partition), len(m.PartitionBy))}
		}
	}
	return &m, nil
}

// validRelPath reports whether p is a clean relative '/'-separated path outside MetadataDir.
func validRelPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasPrefix(p, MetadataDir+"/") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

var manifestNameRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,18})$`)

// manifestIDs lists the batch IDs that have a manifest, ascending. Other names in the
// metadata directory (temporary files) are ignored.
func manifestIDs(ctx context.Context, st storage) ([]int64, error) {
	objs, err := st.list(ctx, MetadataDir+"/")
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, o := range objs {
		base := strings.TrimPrefix(o.name, MetadataDir+"/")
		if !manifestNameRE.MatchString(base) {
			continue
		}
		id, err := strconv.ParseInt(base, 10, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// readManifest reads and checks batch id's manifest; ok is false when there is none.
func readManifest(ctx context.Context, st storage, id int64) (*Manifest, bool, error) {
	name := manifestName(id)
	data, err := st.get(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	m, err := decodeManifest(st.String()+"/"+name, id, data)
	if err != nil {
		return nil, false, err
	}
	return m, true, nil
}

// readNewestManifest reads the manifest of the highest batch in ids. An unreadable newest
// manifest is a torn write of a batch that was never committed: the sink writes manifest N
// only from Commit(N), the coordinator starts batch N+1 only after Commit(N) returned, and
// only a completed write returns. On S3 a PutObject is atomic and this cannot happen; on
// stores that expose an interrupted upload (s3rver does) it can. Such a manifest is reported
// (empty, or JSON cut short) as torn (ok false, torn true) so that the caller treats batch N as not committed; an
// unreadable older manifest stays an error.
func readNewestManifest(ctx context.Context, st storage, ids []int64) (m *Manifest, last int64, ok, torn bool, err error) {
	if len(ids) == 0 {
		return nil, 0, false, false, nil
	}
	last = ids[len(ids)-1]
	m, ok, err = readManifest(ctx, st, last)
	var ce *CorruptError
	if errors.As(err, &ce) && isTorn(ctx, st, last) {
		if len(ids) == 1 {
			return nil, 0, false, true, nil
		}
		prev := ids[len(ids)-2]
		m, ok, err = readManifest(ctx, st, prev)
		return m, prev, ok, true, err
	}
	return m, last, ok, false, err
}

// isTorn reports whether manifest id is an incomplete write: empty or cut short (not a whole
// JSON value). A whole manifest with wrong content is corruption, not a torn write.
func isTorn(ctx context.Context, st storage, id int64) bool {
	data, err := st.get(ctx, manifestName(id))
	return err == nil && !json.Valid(data)
}

// Table is what a file sink has committed at a path: the manifests of its batches. Readers
// that take their file list from a Table never see a file of a failed or unfinished attempt.
type Table struct {
	// Path is the sink's path.
	Path string
	// Batches are the committed batches' manifests, by ascending batch ID.
	Batches []Manifest

	st storage
}

// ReadManifest reads the manifest log of the file sink output at path (a local directory or
// s3://bucket/prefix) and returns every committed batch. For an S3 path, optFns configure
// the client as for the sink (Region, Endpoint, PathStyleAccess, the credentials, AWSConfig
// or S3Client); Path, Format and the writing options are ignored. A path without a manifest
// log yields an empty Table.
func ReadManifest(ctx context.Context, path string, optFns ...func(*Options)) (*Table, error) {
	o := DefaultOptions(Parquet)
	for _, f := range optFns {
		f(&o)
	}
	o.Path = path
	loc, err := parsePath(path)
	if err != nil {
		return nil, fmt.Errorf("file sink: path %q: %w", path, err)
	}
	var st storage
	if loc.isS3() {
		client, err := o.newS3Client(ctx)
		if err != nil {
			return nil, fmt.Errorf("file sink: %w", err)
		}
		st = newS3Storage(client, loc, DefaultUploadPartSize, 1)
	} else {
		st = &localStorage{root: loc.local}
	}
	ids, err := manifestIDs(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("file sink: read manifests of %s: %w", st, err)
	}
	t := &Table{Path: path, st: st}
	if _, _, _, torn, err := readNewestManifest(ctx, st, ids); err != nil {
		return nil, err
	} else if torn {
		ids = ids[:len(ids)-1] // an interrupted, uncommitted write: not part of the table
	}
	for _, id := range ids {
		m, ok, err := readManifest(ctx, st, id)
		if err != nil {
			return nil, err
		}
		if ok {
			t.Batches = append(t.Batches, *m)
		}
	}
	return t, nil
}

// Files returns the files of every committed batch, in batch order.
func (t *Table) Files() []FileEntry {
	var out []FileEntry
	for _, b := range t.Batches {
		out = append(out, b.Files...)
	}
	return out
}

// LastBatchID returns the highest committed batch ID; ok is false when none is committed.
func (t *Table) LastBatchID() (id int64, ok bool) {
	if len(t.Batches) == 0 {
		return 0, false
	}
	return t.Batches[len(t.Batches)-1].BatchID, true
}

// ReadFile returns the content of a committed file (f.Path relative to the table's path).
func (t *Table) ReadFile(ctx context.Context, f FileEntry) ([]byte, error) {
	if !validRelPath(f.Path) {
		return nil, fmt.Errorf("file sink: invalid file path %q", f.Path)
	}
	data, err := t.st.get(ctx, f.Path)
	if err != nil {
		return nil, fmt.Errorf("file sink: read %s: %w", f.Path, err)
	}
	return data, nil
}
