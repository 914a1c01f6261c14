package file

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/sluicedev/sluice/arrowbatch"
)

// encoder writes rows of one schema into one file.
type encoder interface {
	// write appends the rows of rec, which it borrows.
	write(rec arrow.RecordBatch) error
	// size estimates the file's size so far: bytes written plus bytes still buffered.
	size() int64
	// close finishes the file (Parquet footer, gzip trailer) without closing the object.
	close() error
	// written returns the bytes that reached the object.
	written() int64
	// abort releases the encoder's resources; the file's content is discarded.
	abort()
}

// countingWriter counts what reaches the object and can be switched to discard.
type countingWriter struct {
	w       io.Writer
	n       int64
	discard bool
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.discard {
		return len(p), nil
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// extension returns the file name extension of a format and codec, as Spark names them:
// ".snappy.parquet", ".zstd.parquet", ".parquet", ".json", ".json.gz".
func extension(f Format, codec string) string {
	switch f {
	case Parquet:
		if codec == None {
			return ".parquet"
		}
		return "." + codec + ".parquet"
	default:
		if codec == Gzip {
			return ".json.gz"
		}
		return ".json"
	}
}

// parquetProps returns the writer properties of the sink's Parquet files.
func parquetProps(mem memory.Allocator, codec string) (*parquet.WriterProperties, pqarrow.ArrowWriterProperties) {
	c := compress.Codecs.Snappy
	switch codec {
	case Zstd:
		c = compress.Codecs.Zstd
	case None:
		c = compress.Codecs.Uncompressed
	}
	props := parquet.NewWriterProperties(
		parquet.WithAllocator(mem),
		parquet.WithCompression(c),
		parquet.WithDictionaryDefault(true),
		parquet.WithStats(true),
		parquet.WithCreatedBy("sluice"),
	)
	return props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem), pqarrow.WithStoreSchema())
}

// checkParquetSchema reports whether schema can be written to Parquet.
func checkParquetSchema(schema *arrow.Schema) error {
	props, aprops := parquetProps(memory.DefaultAllocator, Snappy)
	_, err := pqarrow.ToParquet(schema, props, aprops)
	return err
}

type parquetEncoder struct {
	cw           *countingWriter
	fw           *pqarrow.FileWriter
	rowGroupSize int64
	rgRows       int64 // rows in the buffered row group
	// bytesPerRow is the expected encoded size of a row, for the part of the buffered row
	// group that is not in pages yet (the writer sets it from earlier files, or from the
	// Arrow size of the input).
	bytesPerRow float64
}

func newParquetEncoder(w io.Writer, schema *arrow.Schema, mem memory.Allocator, codec string, rowGroupSize int64) (*parquetEncoder, error) {
	cw := &countingWriter{w: w}
	props, aprops := parquetProps(mem, codec)
	fw, err := pqarrow.NewFileWriter(schema, cw, props, aprops)
	if err != nil {
		return nil, err
	}
	return &parquetEncoder{cw: cw, fw: fw, rowGroupSize: rowGroupSize}, nil
}

func (e *parquetEncoder) write(rec arrow.RecordBatch) error {
	if err := e.fw.WriteBuffered(rec); err != nil {
		return err
	}
	e.rgRows += rec.NumRows()
	if e.rowGroupBytes() >= e.rowGroupSize {
		e.rgRows = 0
		return e.fw.NewBufferedRowGroupChecked() // flushes the full row group
	}
	return nil
}

// rowGroupBytes estimates the encoded size of the buffered row group: the pages it holds, or
// its rows at bytesPerRow, whichever is more. Column writers keep up to a page (1 MiB) and a
// dictionary per column outside the pages, so the pages alone lag behind.
func (e *parquetEncoder) rowGroupBytes() int64 {
	return max(e.fw.RowGroupTotalBytesWritten(), int64(float64(e.rgRows)*e.bytesPerRow))
}

func (e *parquetEncoder) size() int64 { return e.cw.n + e.rowGroupBytes() }

func (e *parquetEncoder) close() error { return e.fw.Close() }

func (e *parquetEncoder) written() int64 { return e.cw.n }

func (e *parquetEncoder) abort() {
	e.cw.discard = true
	_ = e.fw.Close() // releases the buffers
}

// jsonEncoder writes newline-delimited JSON objects, keys in column order. Scalar values are
// rendered by arrowbatch.AppendJSON (binary as base64, timestamps as RFC 3339 strings); NaN
// and infinities, which JSON lacks, as the strings "NaN", "Infinity" and "-Infinity" (as
// Spark writes them); nested values (lists, structs, maps) as JSON arrays and objects.
type jsonEncoder struct {
	cw   *countingWriter
	gz   *gzip.Writer
	bw   *bufio.Writer
	keys [][]byte // `"name":` per column
	line []byte
}

func newJSONEncoder(w io.Writer, schema *arrow.Schema, codec string) *jsonEncoder {
	e := &jsonEncoder{cw: &countingWriter{w: w}}
	var out io.Writer = e.cw
	if codec == Gzip {
		e.gz = gzip.NewWriter(e.cw)
		out = e.gz
	}
	e.bw = bufio.NewWriterSize(out, 256<<10)
	for i, f := range schema.Fields() {
		k, _ := json.Marshal(f.Name)
		if i > 0 {
			k = append([]byte{','}, k...)
		}
		e.keys = append(e.keys, append(k, ':'))
	}
	return e
}

func (e *jsonEncoder) write(rec arrow.RecordBatch) error {
	cols := rec.Columns()
	for r := 0; r < int(rec.NumRows()); r++ {
		b := append(e.line[:0], '{')
		for c, col := range cols {
			b = append(b, e.keys[c]...)
			var err error
			if b, err = arrowbatch.AppendJSON(b, col, r); err != nil {
				return fmt.Errorf("column %q: %w", rec.ColumnName(c), err)
			}
		}
		b = append(b, '}', '\n')
		e.line = b
		if _, err := e.bw.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func (e *jsonEncoder) size() int64 {
	if e.gz != nil {
		// Compressed bytes so far; what is buffered is not compressed yet and counts little.
		return e.cw.n
	}
	return e.cw.n + int64(e.bw.Buffered())
}

func (e *jsonEncoder) close() error {
	err := e.bw.Flush()
	if e.gz != nil {
		err = errors.Join(err, e.gz.Close())
	}
	return err
}

func (e *jsonEncoder) written() int64 { return e.cw.n }

func (e *jsonEncoder) abort() { e.cw.discard = true }

// newEncoder returns the encoder of format f writing rows of schema to w.
func newEncoder(f Format, w io.Writer, schema *arrow.Schema, mem memory.Allocator, codec string, rowGroupSize int64) (encoder, error) {
	if f == Parquet {
		return newParquetEncoder(w, schema, mem, codec, rowGroupSize)
	}
	return newJSONEncoder(w, schema, codec), nil
}

// project returns the columns idx of rec as a new batch of schema; the caller releases it.
func project(rec arrow.RecordBatch, schema *arrow.Schema, idx []int) arrow.RecordBatch {
	cols := make([]arrow.Array, len(idx))
	for i, c := range idx {
		cols[i] = rec.Column(c)
	}
	return array.NewRecordBatch(schema, cols, rec.NumRows())
}
