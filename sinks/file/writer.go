package file

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
)

// chunkRows is the most rows handed to an encoder at once, so that files roll close to
// maxBytesPerFile.
const chunkRows = 4096

// probeRows is the size of a file's first chunk when files roll by size.
const probeRows = 256

// dataFileName returns the name of file n of an attempt at a batch:
// part-<batch>-<n>-<attempt>.<ext>, the numbers zero-padded to 5 digits.
func dataFileName(batch int64, n int, attempt, ext string) string {
	return fmt.Sprintf("part-%05d-%05d-%s%s", batch, n, attempt, ext)
}

var dataFileRE = regexp.MustCompile(`^(\.?)part-([0-9]{1,19})-([0-9]+)-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(\.[a-z0-9.]+)$`)

type dataFile struct {
	batch int64
	temp  bool   // a local temporary file (".part-....tmp")
	final string // the committed name the file has or would have
}

// parseDataFileName recognises the names of the sink's data files and of their local
// temporary files, anywhere below the root (but not in the metadata directory).
func parseDataFileName(name string) (dataFile, bool) {
	if strings.HasPrefix(name, MetadataDir+"/") {
		return dataFile{}, false
	}
	dir, base := path.Split(name)
	temp := false
	if strings.HasPrefix(base, ".") {
		trimmed, ok := strings.CutSuffix(base, tempSuffix)
		if !ok {
			return dataFile{}, false
		}
		base, temp = trimmed[1:], true
	}
	m := dataFileRE.FindStringSubmatch(base)
	if m == nil || m[1] != "" {
		return dataFile{}, false
	}
	b, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return dataFile{}, false
	}
	return dataFile{batch: b, temp: temp, final: dir + base}, true
}

// isMetadataTemp reports whether name is a temporary file of the manifest log.
func isMetadataTemp(name string) bool {
	base, ok := strings.CutPrefix(name, MetadataDir+"/")
	return ok && !strings.Contains(base, "/") && strings.HasPrefix(base, ".") && strings.HasSuffix(base, tempSuffix)
}

// batchWriter writes one attempt at one micro-batch. Files are named after the batch and the
// attempt, written in place (S3: uploaded; local: to hidden temporary files renamed when a
// file is complete) and become part of the output only when Commit writes the manifest.
type batchWriter struct {
	s       *Sink
	id      int64
	attempt string
	ctx     context.Context // bounds the uploads
	cancel  context.CancelFunc

	rowSize  float64              // expected encoded bytes per row (Parquet)
	open     map[string]*openFile // by partition directory
	done     []FileEntry          // complete files of this attempt
	seq      int
	err      error // sticky: the attempt failed
	finished bool
}

type openFile struct {
	entry FileEntry
	obj   object
	enc   encoder
}

// Write implements sinks.BatchWriter: rows go to the open file of their partition, rolling
// to a new file at maxRecordsPerFile rows or maxBytesPerFile bytes.
func (w *batchWriter) Write(_ context.Context, rec arrow.RecordBatch) error {
	if w.err != nil {
		return w.err
	}
	if w.finished {
		return errors.New("file sink: Write after Commit or Abort")
	}
	if !rec.Schema().Equal(w.s.schema) {
		return fmt.Errorf("file sink: batch schema %s differs from the query's %s", rec.Schema(), w.s.schema)
	}
	if err := w.write(rec); err != nil {
		w.err = fmt.Errorf("%s sink: batch %d: %w", w.s.opts.Format, w.id, err)
		return w.err
	}
	return nil
}

func (w *batchWriter) write(rec arrow.RecordBatch) error {
	if rec.NumRows() == 0 {
		return nil
	}
	s := w.s
	if w.rowSize == 0 {
		w.rowSize = s.encodedRowSize()
		if w.rowSize == 0 {
			// No file written yet: assume rows encode to their Arrow size (too much, as
			// Parquet compresses; the first files may come out smaller than maxBytesPerFile).
			w.rowSize = float64(arrowSize(rec)) / float64(rec.NumRows())
		}
	}
	if len(s.partIdx) == 0 {
		return w.writeGroup("", nil, rec)
	}
	groups, order := w.split(rec)
	for _, dir := range order {
		g := groups[dir]
		part, err := w.rowsOf(rec, g.rows)
		if err != nil {
			return err
		}
		err = w.writeGroup(dir, g.values, part)
		part.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

type group struct {
	values []*string
	rows   []int
}

// split groups the rows of rec by partition directory, in order of first appearance.
func (w *batchWriter) split(rec arrow.RecordBatch) (map[string]*group, []string) {
	s := w.s
	groups := map[string]*group{}
	var order []string
	cols := make([]arrow.Array, len(s.partIdx))
	for i, c := range s.partIdx {
		cols[i] = rec.Column(c)
	}
	vals := make([]*string, len(cols))
	strs := make([]string, len(cols))
	var prev *group
	for r := 0; r < int(rec.NumRows()); r++ {
		same := prev != nil
		for i, c := range cols {
			v, ok := partitionValue(c, r)
			if ok {
				strs[i] = v
				vals[i] = &strs[i]
			} else {
				vals[i] = nil
			}
			if same {
				pv := prev.values[i]
				same = (pv == nil) == !ok && (pv == nil || *pv == v)
			}
		}
		if same {
			prev.rows = append(prev.rows, r)
			continue
		}
		dir := partitionDir(s.opts.PartitionBy, vals)
		g := groups[dir]
		if g == nil {
			g = &group{values: make([]*string, len(vals))}
			for i, v := range vals {
				if v != nil {
					c := *v
					g.values[i] = &c
				}
			}
			groups[dir] = g
			order = append(order, dir)
		}
		g.rows = append(g.rows, r)
		prev = g
	}
	return groups, order
}

// rowsOf returns the given rows of rec (ascending) as a new batch: a zero-copy slice when
// they are contiguous, else gathered with compute.Take.
func (w *batchWriter) rowsOf(rec arrow.RecordBatch, rows []int) (arrow.RecordBatch, error) {
	first, last := rows[0], rows[len(rows)-1]
	if last-first+1 == len(rows) {
		return rec.NewSlice(int64(first), int64(last+1)), nil
	}
	b := array.NewInt32Builder(w.s.mem)
	defer b.Release()
	b.Reserve(len(rows))
	for _, r := range rows {
		b.UnsafeAppend(int32(r))
	}
	idx := b.NewInt32Array()
	defer idx.Release()
	ctx := compute.WithAllocator(context.Background(), w.s.mem)
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i := range cols {
		c, err := compute.TakeArray(ctx, rec.Column(i), idx)
		if err != nil {
			return nil, fmt.Errorf("gather rows of column %q: %w", rec.ColumnName(i), err)
		}
		cols[i] = c
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(len(rows))), nil
}

// writeGroup writes rows of one partition (all columns of the input) to its files.
func (w *batchWriter) writeGroup(dir string, values []*string, rec arrow.RecordBatch) error {
	s := w.s
	n := rec.NumRows()
	for off := int64(0); off < n; {
		f := w.open[dir]
		if f == nil {
			var err error
			if f, err = w.newFile(dir, values); err != nil {
				return err
			}
		}
		take := min(n-off, chunkRows)
		if s.opts.MaxRecordsPerFile > 0 {
			take = min(take, s.opts.MaxRecordsPerFile-f.entry.Rows)
		}
		if s.opts.MaxBytesPerFile > 0 {
			// About as many rows as still fit, at the file's own rate once it has one.
			per, size := w.rowSize, f.enc.size()
			if f.entry.Rows > 0 && size > 0 {
				per = float64(size) / float64(f.entry.Rows)
			}
			if f.entry.Rows == 0 {
				take = min(take, probeRows) // measure the rate on a few rows first
			}
			if per > 0 {
				// Rows that fit by the estimate (of the file, or of the batch for a new
				// file), at least one: wide rows must not overshoot by a whole probe.
				left := float64(s.opts.MaxBytesPerFile - size)
				take = min(take, max(1, int64(left/per)+1))
			}
		}
		part := rec.NewSlice(off, off+take)
		data := project(part, s.dataSchema, s.dataIdx)
		part.Release()
		err := f.enc.write(data)
		data.Release()
		if err != nil {
			return fmt.Errorf("write %s: %w", f.entry.Path, err)
		}
		f.entry.Rows += take
		off += take
		if (s.opts.MaxRecordsPerFile > 0 && f.entry.Rows >= s.opts.MaxRecordsPerFile) ||
			(s.opts.MaxBytesPerFile > 0 && f.enc.size() >= s.opts.MaxBytesPerFile) {
			if err := w.closeFile(dir, f); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *batchWriter) newFile(dir string, values []*string) (*openFile, error) {
	s := w.s
	name := dir + dataFileName(w.id, w.seq, w.attempt, extension(s.opts.Format, s.opts.Compression))
	w.seq++
	obj, err := s.st.create(w.ctx, name)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	enc, err := newEncoder(s.opts.Format, obj, s.dataSchema, s.mem, s.opts.Compression, s.opts.RowGroupSize)
	if err != nil {
		_ = obj.abort()
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	if pe, ok := enc.(*parquetEncoder); ok {
		pe.bytesPerRow = w.rowSize
	}
	f := &openFile{entry: FileEntry{Path: name, Partition: values}, obj: obj, enc: enc}
	w.open[dir] = f
	return f, nil
}

// closeFile finishes a file and makes it complete in the storage (not yet in the output).
func (w *batchWriter) closeFile(dir string, f *openFile) error {
	delete(w.open, dir)
	if err := f.enc.close(); err != nil {
		f.enc.abort()
		_ = f.obj.abort()
		return fmt.Errorf("finish %s: %w", f.entry.Path, err)
	}
	if err := f.obj.commit(); err != nil {
		return fmt.Errorf("finish %s: %w", f.entry.Path, err)
	}
	f.entry.Size = f.enc.written()
	w.done = append(w.done, f.entry)
	w.s.measured(f.entry.Size, f.entry.Rows)
	return nil
}

// Commit implements sinks.BatchWriter: it finishes every open file, makes the files durable
// (local: fsync of their directories), then writes the batch's manifest, atomically and
// without replacing an existing one. The batch is committed when the manifest exists. Then,
// once per Open (or after an attempt that could not clean up), it deletes orphans of failed
// attempts (see sweep). On an error before the manifest write the attempt's files are
// deleted; after it, they are left for the sweep, since the manifest may have been written.
func (w *batchWriter) Commit(ctx context.Context) error {
	if w.err != nil {
		w.abort(ctx)
		return w.err
	}
	if w.finished {
		return errors.New("file sink: Commit after Commit or Abort")
	}
	s := w.s
	fail := func(err error) error {
		w.err = fmt.Errorf("%s sink: commit batch %d: %w", s.opts.Format, w.id, err)
		return w.err
	}
	dirs := make([]string, 0, len(w.open))
	for d := range w.open {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	for _, d := range dirs {
		if err := w.closeFile(d, w.open[d]); err != nil {
			w.abort(ctx)
			return fail(err)
		}
	}
	names := make([]string, len(w.done))
	for i, f := range w.done {
		names[i] = f.Path
	}
	if err := s.st.sync(ctx, names); err != nil {
		w.abort(ctx)
		return fail(err)
	}
	m := &Manifest{Version: ManifestVersion, BatchID: w.id, QueryID: s.queryID, AttemptID: w.attempt,
		TimestampMs: time.Now().UnixMilli(), Format: s.opts.Format,
		PartitionBy: s.opts.PartitionBy, Files: w.done}
	if m.PartitionBy == nil {
		m.PartitionBy = []string{}
	}
	if m.Files == nil {
		m.Files = []FileEntry{}
	}
	data, err := encodeManifest(m)
	if err != nil {
		w.abort(ctx)
		return fail(err)
	}
	w.finished = true
	defer w.cancel()
	err = nil
	if s.beforeManifest != nil {
		err = s.beforeManifest(w.id)
	}
	if err == nil {
		err = s.st.put(ctx, manifestName(w.id), data, true)
	}
	if err != nil {
		s.mu.Lock()
		s.needSweep = true
		s.mu.Unlock()
		if errors.Is(err, errExists) {
			return fail(fmt.Errorf("another writer committed batch %d to %s first (one query per path): %w", w.id, s.st, err))
		}
		return fail(fmt.Errorf("write manifest: %w", err))
	}
	s.committed(ctx, m)
	return nil
}

// Abort implements sinks.BatchWriter: it stops the uploads and deletes the attempt's files.
// Files it cannot delete are never listed in a manifest and are deleted by a later sweep.
func (w *batchWriter) Abort(ctx context.Context) error {
	if w.finished {
		return nil
	}
	return w.abort(ctx)
}

func (w *batchWriter) abort(ctx context.Context) error {
	w.finished = true
	var errs []error
	for d, f := range w.open {
		f.enc.abort()
		errs = append(errs, f.obj.abort())
		delete(w.open, d)
	}
	w.cancel()
	for _, f := range w.done {
		errs = append(errs, w.s.st.remove(context.WithoutCancel(ctx), f.Path))
	}
	w.done = nil
	if err := errors.Join(errs...); err != nil {
		w.s.mu.Lock()
		w.s.needSweep = true
		w.s.mu.Unlock()
		return fmt.Errorf("%s sink: abort batch %d: %w", w.s.opts.Format, w.id, err)
	}
	return nil
}

// arrowSize returns the bytes of the buffers rec references (whole buffers, also for slices).
func arrowSize(rec arrow.RecordBatch) int64 {
	var n int64
	var walk func(d arrow.ArrayData)
	walk = func(d arrow.ArrayData) {
		for _, b := range d.Buffers() {
			if b != nil {
				n += int64(b.Len())
			}
		}
		for _, c := range d.Children() {
			walk(c)
		}
	}
	for _, c := range rec.Columns() {
		walk(c.Data())
	}
	return n
}
