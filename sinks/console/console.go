// Package console provides the "console" sink: it prints each micro-batch as a table, as
// Spark's console sink does. It is for development; it may run without a checkpointLocation.
//
// Importing package pipeline registers the format.
package console

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/optspec"
	"github.com/sluicedev/sluice/sinks"
)

func init() {
	sinks.Register("console", func(kv map[string]string) (sinks.Sink, error) {
		o := DefaultOptions()
		if err := Spec.Parse(&o, kv); err != nil {
			return nil, err
		}
		return New(o), nil
	})
}

// Options configures the console sink.
type Options struct {
	// NumRows is how many rows of each batch to print.
	NumRows int64
	// Truncate shortens cells longer than 20 characters.
	Truncate bool
	// Out receives the output; nil means os.Stdout.
	Out io.Writer
}

// DefaultOptions returns Spark's defaults: 20 rows, truncated cells.
func DefaultOptions() Options { return Options{NumRows: 20, Truncate: true} }

// Spec declares the console sink's options.
var Spec = &optspec.Spec[Options]{Component: "console sink", Options: []optspec.Option[Options]{
	optspec.Int("numRows", "20", "Rows to print per batch.", 0, math.MaxInt32, func(o *Options) *int64 { return &o.NumRows }),
	optspec.Bool("truncate", "true", "Shorten cells longer than 20 characters.", func(o *Options) *bool { return &o.Truncate }),
}}

// Sink is the console sink.
type Sink struct {
	opts   Options
	schema *arrow.Schema
}

// printMu serialises printing: several queries, each with its own Sink, may share Out (by
// default os.Stdout).
var printMu sync.Mutex

// New returns a console sink.
func New(o Options) *Sink {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	return &Sink{opts: o}
}

// Description implements sinks.Sink.
func (s *Sink) Description() string { return "ConsoleSink" }

// AllowsTemporaryCheckpoint implements sinks.TemporaryCheckpointer.
func (s *Sink) AllowsTemporaryCheckpoint() bool { return true }

// Open implements sinks.Sink.
func (s *Sink) Open(_ context.Context, info sinks.Info) error {
	s.schema = info.Schema
	return nil
}

// Close implements sinks.Sink.
func (s *Sink) Close(context.Context) error { return nil }

// Begin implements sinks.Sink.
func (s *Sink) Begin(_ context.Context, batchID int64) (sinks.BatchWriter, error) {
	return &writer{s: s, id: batchID}, nil
}

type writer struct {
	s     *Sink
	id    int64
	rows  [][]string
	total int64
	names []string
}

func (w *writer) Write(_ context.Context, rec arrow.RecordBatch) error {
	if w.names == nil {
		w.names = arrowbatch.FieldNames(rec.Schema())
	}
	for i := 0; i < int(rec.NumRows()) && int64(len(w.rows)) < w.s.opts.NumRows; i++ {
		row := make([]string, rec.NumCols())
		for c := range row {
			row[c] = arrowbatch.FormatValue(rec.Column(c), i)
		}
		w.rows = append(w.rows, row)
	}
	w.total += rec.NumRows()
	return nil
}

func (w *writer) Abort(context.Context) error { return nil }

func (w *writer) Commit(context.Context) error {
	if w.names == nil && w.s.schema != nil {
		w.names = arrowbatch.FieldNames(w.s.schema)
	}
	var b strings.Builder
	b.WriteString("-------------------------------------------\n")
	fmt.Fprintf(&b, "Batch: %d\n", w.id)
	b.WriteString("-------------------------------------------\n")
	Table(&b, w.names, w.rows, w.s.opts.Truncate)
	if w.total > int64(len(w.rows)) {
		rows := "rows"
		if len(w.rows) == 1 {
			rows = "row" // as Spark
		}
		fmt.Fprintf(&b, "only showing top %d %s\n", len(w.rows), rows)
	}
	b.WriteByte('\n')
	printMu.Lock()
	defer printMu.Unlock()
	_, err := io.WriteString(w.s.opts.Out, b.String())
	return err
}

// Table writes rows as Spark's Dataset.show prints them: cells right-aligned when truncating
// (cut to 20 characters), left-aligned otherwise; line breaks, tabs and other control
// characters escaped as a backslash and a letter (Spark's escapeMetaCharacters), and East Asian
// full-width characters counted as two columns (Spark's stringHalfWidth).
func Table(b *strings.Builder, names []string, rows [][]string, truncate bool) {
	cut := func(s string) string {
		s = metaEscaper.Replace(s)
		if truncate && utf8.RuneCountInString(s) > 20 {
			r := []rune(s)
			return string(r[:17]) + "..."
		}
		return s
	}
	width := make([]int, len(names))
	for i, n := range names {
		width[i] = max(3, halfWidth(cut(n)))
	}
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], halfWidth(cut(c)))
		}
	}
	sep := func() {
		b.WriteByte('+')
		for _, w := range width {
			b.WriteString(strings.Repeat("-", w))
			b.WriteByte('+')
		}
		b.WriteByte('\n')
	}
	line := func(cells []string) {
		b.WriteByte('|')
		for i, c := range cells {
			c = cut(c)
			pad := strings.Repeat(" ", width[i]-halfWidth(c))
			if truncate {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
			b.WriteByte('|')
		}
		b.WriteByte('\n')
	}
	sep()
	line(names)
	sep()
	for _, r := range rows {
		line(r)
	}
	sep()
}

// metaEscaper escapes the characters Spark's show() escapes (escapeMetaCharacters).
var metaEscaper = strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`, "\f", `\f`, "\b", `\b`, "\v", `\v`, "\a", `\a`)

// halfWidth is the columns s takes in a terminal as Spark counts them: a full-width character
// (Hangul, CJK, full-width forms) counts two.
func halfWidth(s string) int {
	n := 0
	for _, r := range s {
		n++
		switch {
		case r >= 0x1100 && r <= 0x115F, r >= 0x2E80 && r <= 0xA4CF, r >= 0xAC00 && r <= 0xD7A3,
			r >= 0xF900 && r <= 0xFAFF, r >= 0xFE10 && r <= 0xFE19, r >= 0xFE30 && r <= 0xFE6F,
			r >= 0xFF00 && r <= 0xFF60, r >= 0xFFE0 && r <= 0xFFE6:
			n++
		}
	}
	return n
}
