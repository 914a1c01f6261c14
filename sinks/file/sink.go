package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedev/sluice/sinks"
)

func init() {
	for _, f := range []Format{Parquet, JSON} {
		sinks.Register(string(f), func(kv map[string]string) (sinks.Sink, error) {
			o := DefaultOptions(f)
			if err := Spec(f).Parse(&o, kv); err != nil {
				return nil, err
			}
			return New(o)
		})
	}
}

// Sink is the file sink. Build it with New, or through the "parquet" and "json" formats.
type Sink struct {
	opts Options
	loc  location

	// Set by Open.
	st         storage
	mem        memory.Allocator
	logger     *slog.Logger
	queryID    string
	schema     *arrow.Schema // of the input
	dataSchema *arrow.Schema // without the partition columns
	partIdx    []int         // partition columns, in PartitionBy order
	dataIdx    []int         // the other columns

	mu        sync.Mutex
	opened    bool
	last      int64 // highest committed batch; valid when hasLast
	hasLast   bool
	swept     bool // the orphan sweep ran since Open
	needSweep bool // an attempt left files it could not delete
	metrics   map[string]string
	// Encoded bytes and rows of the files written so far, for estimating file sizes.
	sizeBytes, sizeRows int64

	beforeManifest func(batchID int64) error // test hook
}

var (
	_ sinks.Sink           = (*Sink)(nil)
	_ sinks.Idempotent     = (*Sink)(nil)
	_ sinks.OutputModes    = (*Sink)(nil)
	_ sinks.OptionRedactor = (*Sink)(nil)
)

// New returns a file sink, or an error naming every invalid option. It does no I/O.
func New(o Options) (*Sink, error) {
	if o.Compression == "" {
		o.Compression = DefaultOptions(o.Format).Compression
	}
	if o.RowGroupSize == 0 {
		o.RowGroupSize = DefaultRowGroupSize
	}
	if o.UploadPartSize == 0 {
		o.UploadPartSize = DefaultUploadPartSize
	}
	if o.UploadConcurrency == 0 {
		o.UploadConcurrency = DefaultUploadConcurrency
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	loc, _ := parsePath(o.Path)
	o.PartitionBy = slices.Clone(o.PartitionBy)
	return &Sink{opts: o, loc: loc}, nil
}

// Description implements sinks.Sink: "FileSink[parquet, s3://bucket/prefix/]".
func (s *Sink) Description() string {
	return fmt.Sprintf("FileSink[%s, %s]", s.opts.Format, s.loc)
}

// RedactOptions implements sinks.OptionRedactor: the values of awsAccessKey, awsSecretKey,
// awsSessionToken and roleExternalId (and of unknown keys that look like credentials) are
// replaced.
func (s *Sink) RedactOptions(kv map[string]string) map[string]string {
	return Spec(s.opts.Format).Redact(kv)
}

// SupportsOutputMode implements sinks.OutputModes: only append, as Spark's file sink.
func (s *Sink) SupportsOutputMode(m sinks.OutputMode) bool { return m == sinks.Append }

// CheckSchema reports whether the sink can write batches of schema: the partition columns
// exist, have a partitionable type (string, integer, boolean, float, date, timestamp) and do
// not make up every column, and (for Parquet) the other columns map to Parquet types. Open
// calls it.
func (s *Sink) CheckSchema(schema *arrow.Schema) error {
	_, _, _, err := s.layout(schema)
	return err
}

func (s *Sink) layout(schema *arrow.Schema) (data *arrow.Schema, partIdx, dataIdx []int, err error) {
	if schema == nil {
		return nil, nil, nil, errors.New("file sink: the query's schema is unknown")
	}
	var errs []error
	isPart := map[int]bool{}
	for _, c := range s.opts.PartitionBy {
		idx := schema.FieldIndices(c)
		switch {
		case len(idx) == 0:
			errs = append(errs, fmt.Errorf("partition column %q does not exist (columns: %s)", c, columnList(schema)))
			continue
		case len(idx) > 1:
			errs = append(errs, fmt.Errorf("partition column %q is ambiguous: %d columns have that name", c, len(idx)))
			continue
		}
		f := schema.Field(idx[0])
		if !partitionable(f.Type) {
			errs = append(errs, fmt.Errorf("partition column %q has type %s; partition columns must be strings, integers, booleans, floats, dates or timestamps", c, f.Type))
		}
		partIdx = append(partIdx, idx[0])
		isPart[idx[0]] = true
	}
	var fields []arrow.Field
	for i, f := range schema.Fields() {
		if !isPart[i] {
			dataIdx = append(dataIdx, i)
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("every column is a partition column: at least one column must be stored in the files"))
	}
	md := schema.Metadata()
	data = arrow.NewSchema(fields, &md)
	if s.opts.Format == Parquet && len(fields) > 0 {
		if err := checkParquetSchema(data); err != nil {
			errs = append(errs, fmt.Errorf("the columns cannot be written as Parquet: %w", err))
		}
	}
	if len(errs) > 0 {
		return nil, nil, nil, fmt.Errorf("%s sink: %w", s.opts.Format, errors.Join(errs...))
	}
	return data, partIdx, dataIdx, nil
}

func columnList(schema *arrow.Schema) string {
	var b []byte
	for i, f := range schema.Fields() {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, f.Name...)
	}
	return string(b)
}

// Open implements sinks.Sink: it checks the schema, connects to the storage (building the S3
// client), reads the manifest log to learn the last committed batch, and checks that the
// output at the path was written with the same format and partition columns.
func (s *Sink) Open(ctx context.Context, info sinks.Info) error {
	data, partIdx, dataIdx, err := s.layout(info.Schema)
	if err != nil {
		return err
	}
	var st storage
	if s.loc.isS3() {
		client, err := s.opts.newS3Client(ctx)
		if err != nil {
			return fmt.Errorf("%s sink: %w", s.opts.Format, err)
		}
		st = newS3Storage(client, s.loc, s.opts.UploadPartSize, s.opts.UploadConcurrency)
	} else {
		ls, err := newLocalStorage(s.loc.local)
		if err != nil {
			return fmt.Errorf("%s sink: %w", s.opts.Format, err)
		}
		st = ls
	}
	ids, err := manifestIDs(ctx, st)
	if err != nil {
		return fmt.Errorf("%s sink: read the manifest log of %s: %w", s.opts.Format, st, err)
	}
	m, last, hasLast, torn, err := readNewestManifest(ctx, st, ids)
	if err != nil {
		return err
	}
	if torn {
		// The interrupted manifest of an uncommitted batch; that batch is replayed and writes it
		// again.
		tornName := manifestName(ids[len(ids)-1])
		if info.Logger != nil {
			info.Logger.Warn("file sink: removing the incomplete manifest of an uncommitted batch", "manifest", st.String()+"/"+tornName)
		}
		if err := st.remove(ctx, tornName); err != nil {
			return fmt.Errorf("%s sink: remove the incomplete manifest %s: %w", s.opts.Format, tornName, err)
		}
	}
	if hasLast && m != nil {
		if m.Format != s.opts.Format || !slices.Equal(m.PartitionBy, s.opts.PartitionBy) {
			return fmt.Errorf("%s sink: %s holds %s output partitioned by %v (batch %d), but this query writes %s partitioned by %v: use another path",
				s.opts.Format, st, m.Format, m.PartitionBy, last, s.opts.Format, s.opts.PartitionBy)
		}
	}
	mem := info.Allocator
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	logger := info.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st, s.mem, s.logger, s.queryID = st, mem, logger, info.QueryID
	s.schema, s.dataSchema, s.partIdx, s.dataIdx = info.Schema, data, partIdx, dataIdx
	s.last, s.hasLast = last, hasLast
	s.opened, s.swept, s.needSweep = true, false, false
	return nil
}

// Close implements sinks.Sink. It has nothing to release: every batch writer finishes its
// uploads in Commit or Abort.
func (s *Sink) Close(context.Context) error { return nil }

// LastBatchID implements sinks.Idempotent: the highest batch with a manifest, as read at Open
// and advanced by each Commit.
func (s *Sink) LastBatchID(context.Context) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.opened {
		return 0, false, errors.New("file sink: LastBatchID before Open")
	}
	return s.last, s.hasLast, nil
}

// Metrics returns the last committed batch's numbers for progress reports: numFiles,
// numBytes and numRows written.
func (s *Sink) Metrics() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.metrics)
}

// Begin implements sinks.Sink. A batch at or below the last committed one is already in the
// output: its writer discards what it is given and commits nothing (the coordinator does not
// begin such batches; this guards direct callers). The ctx given to Begin bounds the batch's
// background uploads.
func (s *Sink) Begin(ctx context.Context, batchID int64) (sinks.BatchWriter, error) {
	s.mu.Lock()
	opened, skip := s.opened, s.hasLast && batchID <= s.last
	s.mu.Unlock()
	if !opened {
		return nil, errors.New("file sink: Begin before Open")
	}
	if batchID < 0 {
		return nil, fmt.Errorf("file sink: negative batch ID %d", batchID)
	}
	if skip {
		s.logger.Info("file sink: batch already committed; skipping it", "batchId", batchID, "path", s.st.String())
		return skipWriter{}, nil
	}
	uctx, cancel := context.WithCancel(ctx)
	return &batchWriter{s: s, id: batchID, attempt: newUUID(), ctx: uctx, cancel: cancel,
		open: map[string]*openFile{}}, nil
}

// measured records the size of a finished file.
func (s *Sink) measured(bytes, rows int64) {
	if rows <= 0 {
		return
	}
	s.mu.Lock()
	s.sizeBytes += bytes
	s.sizeRows += rows
	s.mu.Unlock()
}

// encodedRowSize returns the average encoded size of a row so far, or 0 before any file.
func (s *Sink) encodedRowSize() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sizeRows == 0 {
		return 0
	}
	return float64(s.sizeBytes) / float64(s.sizeRows)
}

// skipWriter takes a batch the output already holds.
type skipWriter struct{}

func (skipWriter) Write(context.Context, arrow.RecordBatch) error { return nil }
func (skipWriter) Commit(context.Context) error                   { return nil }
func (skipWriter) Abort(context.Context) error                    { return nil }

// committed records that batch id was committed with files, and sweeps orphans when due.
func (s *Sink) committed(ctx context.Context, m *Manifest) {
	var bytes, rows int64
	for _, f := range m.Files {
		bytes += f.Size
		rows += f.Rows
	}
	s.mu.Lock()
	s.last, s.hasLast = m.BatchID, true
	s.metrics = map[string]string{
		"numFiles": strconv.Itoa(len(m.Files)),
		"numBytes": strconv.FormatInt(bytes, 10),
		"numRows":  strconv.FormatInt(rows, 10),
	}
	sweep := !s.swept || s.needSweep
	s.mu.Unlock()
	if !sweep {
		return
	}
	n, err := s.sweep(ctx, m.BatchID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.needSweep = true
		s.logger.Warn("file sink: could not delete the files of failed attempts; will retry after the next batch", "path", s.st.String(), "err", err)
		return
	}
	s.swept, s.needSweep = true, false
	if n > 0 {
		s.logger.Info("file sink: deleted files of failed attempts", "path", s.st.String(), "files", n)
	}
}

// sweep deletes the orphans of failed attempts: data files (and local temporary files) of
// batches up to upTo that have a manifest which does not list them. Files of batches without
// a manifest, or above upTo, are left alone; so is everything that does not look like a file
// this sink writes. It is safe while this query is the only writer of the path.
func (s *Sink) sweep(ctx context.Context, upTo int64) (int, error) {
	objs, err := s.st.list(ctx, "")
	if err != nil {
		return 0, err
	}
	listed := map[int64]map[string]bool{}
	n := 0
	var errs []error
	for _, o := range objs {
		name := o.name
		var batch int64
		final := name
		if isMetadataTemp(name) {
			// A manifest's temporary file left by a crash: never read by anyone.
			if err := s.st.remove(ctx, name); err != nil {
				errs = append(errs, err)
			} else {
				n++
			}
			continue
		}
		p, ok := parseDataFileName(name)
		if !ok || p.batch > upTo {
			continue
		}
		batch, final = p.batch, p.final
		files, seen := listed[batch]
		if !seen {
			m, ok, err := readManifest(ctx, s.st, batch)
			if err != nil {
				return n, err
			}
			if ok {
				files = map[string]bool{}
				for _, f := range m.Files {
					files[f.Path] = true
				}
			}
			listed[batch] = files
		}
		if files == nil || (files[final] && !p.temp) {
			continue // no manifest: not provably an orphan; or a committed file
		}
		if err := s.st.remove(ctx, name); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
