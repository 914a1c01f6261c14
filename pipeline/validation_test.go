package pipeline_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/sluicedev/sluice/internal/testkit"

	"github.com/sluicedev/sluice/internal/golden"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedev/sluice/optspec"
	"github.com/sluicedev/sluice/pipeline"
	"github.com/sluicedev/sluice/sinks"
	"github.com/sluicedev/sluice/sources"
	"github.com/sluicedev/sluice/sources/rate"
)

// secretSource is a registered test format with a secret option.
type secretOpts struct{ Key, Secret, Token string }

var secretSpec = &optspec.Spec[secretOpts]{Component: "secret source", Options: []optspec.Option[secretOpts]{
	func() optspec.Option[secretOpts] {
		o := optspec.NonEmpty("accessKey", "", "Access key.", func(o *secretOpts) *string { return &o.Key })
		o.Secret = true
		return o
	}(),
	func() optspec.Option[secretOpts] {
		o := optspec.NonEmpty("secretKey", "", "Secret key.", func(o *secretOpts) *string { return &o.Secret })
		o.Secret, o.Required = true, true
		return o
	}(),
}}

type secretSource struct {
	*rate.MicroBatch
}

func (secretSource) RedactOptions(kv map[string]string) map[string]string {
	return secretSpec.Redact(kv)
}

func testRegistries(t *testing.T) (*sources.Registry, *sinks.Registry) {
	srcs, snks := &sources.Registry{}, &sinks.Registry{}
	srcs.Register("secret", func(kv map[string]string) (sources.Source, error) {
		var o secretOpts
		if err := secretSpec.Parse(&o, kv); err != nil {
			return nil, err
		}
		mb, err := rate.NewMicroBatch(rate.MicroBatchOptions{RowsPerBatch: 1, NumPartitions: 1, AdvanceMillisPerBatch: 1})
		return secretSource{mb}, err
	})
	fs, _ := sources.Default.Lookup("rate")
	srcs.Register("rate", fs)
	for _, name := range []string{"console", "memory"} {
		f, _ := sinks.Default.Lookup(name)
		snks.Register(name, f)
	}
	return srcs, snks
}

// TestValidation: Start reports every problem of a query at once, before any I/O, each naming
// what is wrong. The messages are kept in testdata/validation.golden.
func TestValidation(t *testing.T) {
	srcs, snks := testRegistries(t)
	p := pipeline.New(pipeline.WithSourceRegistry(srcs), pipeline.WithSinkRegistry(snks), pipeline.WithLogger(testkit.Logger(t)))
	ratePlus := func() *pipeline.Stream { return p.ReadStream().Format("rate").Load() }
	other := pipeline.New().ReadStream().Format("rate").Load()
	otherSchema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.BinaryTypes.String}}, nil)
	cases := []struct {
		name string
		w    func() *pipeline.DataStreamWriter
	}{
		{"unknown source format", func() *pipeline.DataStreamWriter {
			return p.ReadStream().Format("kinesis").Load().WriteStream().Format("console")
		}},
		{"unknown sink format", func() *pipeline.DataStreamWriter { return ratePlus().WriteStream().Format("parquet") }},
		{"bad source options", func() *pipeline.DataStreamWriter {
			return p.ReadStream().Format("rate").Option("rowsPerSecnd", "5").Option("numPartitions", "-1").Option("rampUpTime", "soon").Load().WriteStream().Format("console")
		}},
		{"missing required and secret value", func() *pipeline.DataStreamWriter {
			return p.ReadStream().Format("secret").Option("accessKey", "").Load().WriteStream().Format("console")
		}},
		{"bad sink option", func() *pipeline.DataStreamWriter {
			return ratePlus().WriteStream().Format("console").Option("numRows", "many").Option("truncate", "maybe")
		}},
		{"complete mode without aggregation", func() *pipeline.DataStreamWriter {
			return ratePlus().WriteStream().Format("console").OutputMode("complete")
		}},
		{"unknown output mode", func() *pipeline.DataStreamWriter {
			return ratePlus().WriteStream().Format("console").OutputMode("upsert")
		}},
		{"checkpoint required", func() *pipeline.DataStreamWriter {
			return ratePlus().WriteStream().ForeachBatch(func(context.Context, arrow.RecordBatch, int64) error { return nil })
		}},
		{"memory needs a name", func() *pipeline.DataStreamWriter { return ratePlus().WriteStream().Format("memory") }},
		{"no sink", func() *pipeline.DataStreamWriter { return ratePlus().WriteStream() }},
		{"two sinks", func() *pipeline.DataStreamWriter {
			return ratePlus().WriteStream().Format("console").ForeachBatch(func(context.Context, arrow.RecordBatch, int64) error { return nil })
		}},
		{"negative trigger", func() *pipeline.DataStreamWriter {
			return ratePlus().WriteStream().Format("console").Trigger(pipeline.ProcessingTime(-1))
		}},
		{"union across pipelines and schemas", func() *pipeline.DataStreamWriter {
			mapped := ratePlus().MapBatch(func(_ context.Context, in arrow.RecordBatch) (arrow.RecordBatch, error) { return in, nil }, otherSchema)
			return ratePlus().Union(other, mapped).WriteStream().Format("console")
		}},
		{"sink refuses the schema", func() *pipeline.DataStreamWriter {
			return ratePlus().WriteStream().Sink(pickySink{newRecorder(false)}).Option("checkpointLocation", "unused")
		}},
		{"everything at once", func() *pipeline.DataStreamWriter {
			return p.ReadStream().Format("kinesis").Load().Union(p.ReadStream().Format("rate").Option("numPartitions", "x").Load()).
				WriteStream().Format("console").Option("numRows", "-3").OutputMode("complete").Trigger(pipeline.ProcessingTime(-1))
		}},
	}
	var out strings.Builder
	for _, c := range cases {
		_, err := c.w().Start(context.Background())
		var ve *pipeline.ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: got %v; want a *ValidationError", c.name, err)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: the error shows a secret: %v", c.name, err)
		}
		out.WriteString("== " + c.name + "\n" + err.Error() + "\n")
	}
	golden.Check(t, "validation.golden", out.String())
}

// pickySink wants a column named data.
type pickySink struct{ *recorder }

func (pickySink) CheckSchema(s *arrow.Schema) error {
	if len(s.FieldIndices("data")) == 0 {
		return errors.New(`column "data" is missing`)
	}
	return nil
}

// TestExplain: Explain prints the plan with options, secrets redacted.
func TestExplain(t *testing.T) {
	srcs, snks := testRegistries(t)
	mem := testkit.CheckedAlloc(t)
	p := pipeline.New(pipeline.WithSourceRegistry(srcs), pipeline.WithSinkRegistry(snks), pipeline.WithAllocator(mem), pipeline.WithLogger(testkit.Logger(t)))
	a := p.ReadStream().Format("secret").Option("accessKey", "AKIAEXAMPLE").Option("SecretKey", "s3cr3t").Load()
	b := p.ReadStream().Format("rate").Option("rowsPerSecond", "5").Load()
	q, err := a.Union(b).MapBatch(func(_ context.Context, in arrow.RecordBatch) (arrow.RecordBatch, error) { return in, nil }).
		WriteStream().Format("console").Option("numRows", "3").Option("checkpointLocation", "CHECKPOINT").
		QueryName("explained").Trigger(pipeline.ProcessingTime(1e9)).Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll("CHECKPOINT")
	defer q.Stop(context.Background())
	got := strings.ReplaceAll(q.Explain(), q.ID(), "ID")
	if strings.Contains(got, "s3cr3t") || strings.Contains(got, "AKIAEXAMPLE") {
		t.Errorf("Explain shows the secret:\n%s", got)
	}
	golden.Check(t, "explain.golden", got)
}

// TestValidationNoSpuriousProblems: each problem is reported once, by the stage that has it.
func TestValidationNoSpuriousProblems(t *testing.T) {
	for _, tt := range []struct {
		name  string
		build func(*pipeline.Stream) *pipeline.Stream
		want  []string
	}{
		{"aggregation after ErrorColumn, with a watermark", func(s *pipeline.Stream) *pipeline.Stream {
			return s.WithWatermark("timestamp", 0).OnError(pipeline.ErrorColumn("err")).GroupBy("timestamp").Count()
		}, []string{"an aggregation cannot keep the rows that fail in an error column"}},
		{"empty error column", func(s *pipeline.Stream) *pipeline.Stream {
			return s.OnError(pipeline.ErrorColumn("")).WithColumn("x", "10/value")
		}, []string{`OnError(ErrorColumn("")): ErrorColumn: the column name is empty`}},
		{"nil side output", func(s *pipeline.Stream) *pipeline.Stream {
			return s.OnError(pipeline.SideOutput(nil)).Filter("value > 0")
		}, []string{"OnError(SideOutput(nil)): SideOutput: the function is nil"}},
		{"side output and _error", func(s *pipeline.Stream) *pipeline.Stream {
			side := pipeline.SideOutput(func(context.Context, arrow.RecordBatch) error { return nil })
			return s.WithColumn("_error", `"mine"`).OnError(side).WithColumn("x", "10/value")
		}, []string{`WithColumn(x = 10/value): the stream has a column named "_error"`}},
		{"invalid alias", func(s *pipeline.Stream) *pipeline.Stream {
			return s.Select("value AS 1bad")
		}, []string{"invalid alias \"1bad\": an alias is a name of letters, digits and _ not starting with a digit, or any name in backticks (AS `1bad`)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := pipeline.New()
			defer p.Close(context.Background())
			s := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "3").Load()
			_, err := tt.build(s).WriteStream().Format("console").Trigger(pipeline.AvailableNow()).Start(context.Background())
			var ve *pipeline.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Start: %v; want a ValidationError", err)
			}
			if len(ve.Problems) != len(tt.want) {
				t.Errorf("%d problems; want %d: %v", len(ve.Problems), len(tt.want), err)
			}
			for i, w := range tt.want {
				if i < len(ve.Problems) && !strings.Contains(ve.Problems[i].Error(), w) {
					t.Errorf("problem %d: %v; want %q", i+1, ve.Problems[i], w)
				}
			}
		})
	}
}
