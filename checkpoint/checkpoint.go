// Package checkpoint keeps a streaming query's write-ahead log: the query's metadata, the
// offsets planned for each micro-batch (offsets/N, written before the batch runs) and the
// batches the sink committed (commits/N, written after). See docs/DESIGN.md for the protocol.
//
// Every file is versioned JSON written atomically through a Store. A file that does not parse,
// or has a version this build does not know, is an error naming the file: a checkpoint is
// never silently reset.
package checkpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
)

// Version is the version of the file formats this package writes and reads.
const Version = 1

// Metadata is the query-level file ("metadata").
type Metadata struct {
	Version int `json:"version"`
	// ID is the query's ID, stable across restarts.
	ID string `json:"id"`
}

// SourceOffsets is one source's range in a batch.
type SourceOffsets struct {
	// Description is the source's description when the batch was planned.
	Description string `json:"description"`
	// Start and End are the source's offsets; the batch covers [Start, End).
	Start json.RawMessage `json:"start"`
	End   json.RawMessage `json:"end"`
}

// Offsets is a batch's plan ("offsets/N"). It holds the start offsets too, so a batch is
// replayed over exactly the same range even when its start was an initial position such as
// "latest".
type Offsets struct {
	Version     int             `json:"version"`
	BatchID     int64           `json:"batchId"`
	TimestampMs int64           `json:"timestampMs"`
	Sources     []SourceOffsets `json:"sources"`
	// WatermarkMs is the event-time watermark in effect for the batch (0 when none).
	WatermarkMs int64 `json:"watermarkMs,omitempty"`
}

// Commit records that the sink committed a batch ("commits/N").
type Commit struct {
	Version     int   `json:"version"`
	BatchID     int64 `json:"batchId"`
	TimestampMs int64 `json:"timestampMs"`
	// NextBatchWatermarkMs is the event-time watermark computed from the batch, which the next
	// batch runs with (0 when none), as Spark's commit metadata: a restart continues from it
	// instead of from the watermark the batch ran with.
	NextBatchWatermarkMs int64 `json:"nextBatchWatermarkMs,omitempty"`
}

// CorruptError reports a checkpoint file that cannot be used.
type CorruptError struct {
	// File is the file's location.
	File string
	// Err says what is wrong with it.
	Err error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("checkpoint: file %s is unusable: %v (the checkpoint is not reset automatically; fix or delete it)", e.File, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Log reads and writes a checkpoint's files.
type Log struct {
	store Store
}

// NewLog returns a Log over store.
func NewLog(store Store) *Log { return &Log{store: store} }

// Store returns the Log's store.
func (l *Log) Store() Store { return l.store }

// The file and directory names inside a checkpoint location.
const (
	MetadataFile = "metadata"
	OffsetsDir   = "offsets"
	CommitsDir   = "commits"
	SourcesDir   = "sources"
)

func (l *Log) where(name string) string { return l.store.String() + "/" + name }

func (l *Log) read(ctx context.Context, name string, v interface{ version() int }) (bool, error) {
	data, err := l.store.ReadFile(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checkpoint: read %s: %w", l.where(name), err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		// Tell a newer format from a damaged file.
		var probe struct {
			Version int `json:"version"`
		}
		if json.Unmarshal(data, &probe) == nil && probe.Version > Version {
			return false, &CorruptError{File: l.where(name), Err: fmt.Errorf("format version %d is newer than this build reads (%d)", probe.Version, Version)}
		}
		return false, &CorruptError{File: l.where(name), Err: fmt.Errorf("invalid JSON: %v", err)}
	}
	// Decoder.More is false before a '}' or ']', so it cannot tell "{...}}" from "{...}":
	// anything but white space after the value is trailing data.
	if _, err := dec.Token(); err != io.EOF {
		return false, &CorruptError{File: l.where(name), Err: errors.New("trailing data after the JSON value")}
	}
	switch ver := v.version(); {
	case ver > Version:
		return false, &CorruptError{File: l.where(name), Err: fmt.Errorf("format version %d is newer than this build reads (%d)", ver, Version)}
	case ver != Version:
		return false, &CorruptError{File: l.where(name), Err: fmt.Errorf("unknown format version %d (this build reads %d)", ver, Version)}
	}
	if c, ok := v.(interface{ compact() error }); ok {
		if err := c.compact(); err != nil {
			return false, &CorruptError{File: l.where(name), Err: err}
		}
	}
	return true, nil
}

func (m *Metadata) version() int { return m.Version }
func (o *Offsets) version() int  { return o.Version }
func (c *Commit) version() int   { return c.Version }

// compactRaw rewrites a JSON value in its compact form: sources compare offsets byte for
// byte, and a file edited by hand (or written indented) must still compare equal. A missing
// offset is an error: the coordinator would hand nil to a source as a position.
func compactRaw(raw *json.RawMessage, what string) error {
	if len(*raw) == 0 {
		return fmt.Errorf("no %s", what)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, *raw); err != nil {
		return err
	}
	*raw = b.Bytes()
	return nil
}

func (o *Offsets) compact() error {
	for i := range o.Sources {
		if err := compactRaw(&o.Sources[i].Start, fmt.Sprintf("start offset for source %d", i)); err != nil {
			return err
		}
		if err := compactRaw(&o.Sources[i].End, fmt.Sprintf("end offset for source %d", i)); err != nil {
			return err
		}
	}
	return nil
}

func (l *Log) write(ctx context.Context, name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := l.store.WriteFile(ctx, name, append(data, '\n')); err != nil {
		return fmt.Errorf("checkpoint: write %s: %w", l.where(name), err)
	}
	return nil
}

// Metadata reads the metadata file; ok is false when there is none yet.
func (l *Log) Metadata(ctx context.Context) (m Metadata, ok bool, err error) {
	ok, err = l.read(ctx, MetadataFile, &m)
	if ok && m.ID == "" {
		return m, false, &CorruptError{File: l.where(MetadataFile), Err: errors.New("empty query id")}
	}
	return m, ok, err
}

// WriteMetadata writes the metadata file.
func (l *Log) WriteMetadata(ctx context.Context, m Metadata) error {
	m.Version = Version
	return l.write(ctx, MetadataFile, &m)
}

func batchName(dir string, id int64) string { return path.Join(dir, strconv.FormatInt(id, 10)) }

// Offsets reads offsets/id; ok is false when it does not exist.
func (l *Log) Offsets(ctx context.Context, id int64) (o Offsets, ok bool, err error) {
	name := batchName(OffsetsDir, id)
	ok, err = l.read(ctx, name, &o)
	if ok && o.BatchID != id {
		return o, false, &CorruptError{File: l.where(name), Err: fmt.Errorf("holds batch %d", o.BatchID)}
	}
	return o, ok, err
}

// WriteOffsets writes offsets/N for o.BatchID.
func (l *Log) WriteOffsets(ctx context.Context, o Offsets) error {
	o.Version = Version
	return l.write(ctx, batchName(OffsetsDir, o.BatchID), &o)
}

// HasCommit reports whether commits/id exists and is valid.
func (l *Log) HasCommit(ctx context.Context, id int64) (bool, error) {
	_, ok, err := l.Commit(ctx, id)
	return ok, err
}

// Commit reads commits/id; ok is false when it does not exist.
func (l *Log) Commit(ctx context.Context, id int64) (c Commit, ok bool, err error) {
	name := batchName(CommitsDir, id)
	ok, err = l.read(ctx, name, &c)
	if ok && c.BatchID != id {
		return c, false, &CorruptError{File: l.where(name), Err: fmt.Errorf("holds batch %d", c.BatchID)}
	}
	return c, ok, err
}

// WriteCommit writes commits/N for c.BatchID.
func (l *Log) WriteCommit(ctx context.Context, c Commit) error {
	c.Version = Version
	return l.write(ctx, batchName(CommitsDir, c.BatchID), &c)
}

// Latest returns the highest batch ID with a file in dir (OffsetsDir or CommitsDir); ok is
// false when there is none. A file whose name is not a batch ID is an error.
func (l *Log) Latest(ctx context.Context, dir string) (id int64, ok bool, err error) {
	ids, err := l.ids(ctx, dir)
	if err != nil || len(ids) == 0 {
		return 0, false, err
	}
	return ids[len(ids)-1], true, nil
}

func (l *Log) ids(ctx context.Context, dir string) ([]int64, error) {
	names, err := l.store.List(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list %s: %w", l.where(dir), err)
	}
	ids := make([]int64, 0, len(names))
	for _, n := range names {
		id, err := strconv.ParseInt(n, 10, 64)
		// Only the name batchName writes is a batch id: "07" or "+7" would be listed as batch 7
		// while offsets/7 does not exist.
		if err != nil || id < 0 || strconv.FormatInt(id, 10) != n {
			return nil, &CorruptError{File: l.where(path.Join(dir, n)), Err: errors.New("file name is not a batch id")}
		}
		ids = append(ids, id)
	}
	slices.Sort(ids) // List sorts by name; batch order is numeric.
	return ids, nil
}

// Purge removes offsets and commits of batches below keepFrom.
func (l *Log) Purge(ctx context.Context, keepFrom int64) error {
	for _, dir := range []string{CommitsDir, OffsetsDir} {
		ids, err := l.ids(ctx, dir)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if id >= keepFrom {
				break
			}
			if err := l.store.Remove(ctx, batchName(dir, id)); err != nil {
				return fmt.Errorf("checkpoint: purge %s: %w", l.where(batchName(dir, id)), err)
			}
		}
	}
	return nil
}

// InitialOffset is a source's initial offset, kept once taken ("sources/<index>/initial"), so
// that a query stopped before its first batch starts from the same place when restarted.
type InitialOffset struct {
	Version     int             `json:"version"`
	Description string          `json:"description"`
	Offset      json.RawMessage `json:"offset"`
}

func (o *InitialOffset) version() int   { return o.Version }
func (o *InitialOffset) compact() error { return compactRaw(&o.Offset, "offset") }

func initialName(index int) string {
	return path.Join(SourcesDir, strconv.Itoa(index), "initial")
}

// InitialOffset reads the initial offset of source index; ok is false when none was kept.
func (l *Log) InitialOffset(ctx context.Context, index int) (o InitialOffset, ok bool, err error) {
	ok, err = l.read(ctx, initialName(index), &o)
	return o, ok, err
}

// WriteInitialOffset keeps the initial offset of source index.
func (l *Log) WriteInitialOffset(ctx context.Context, index int, o InitialOffset) error {
	o.Version = Version
	return l.write(ctx, initialName(index), &o)
}
