package kinesis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strconv"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicedev/sluice/sinks"
)

func init() {
	sinks.Register("kinesis", func(kv map[string]string) (sinks.Sink, error) {
		o := DefaultOptions()
		if err := Spec.Parse(&o, kv); err != nil {
			return nil, err
		}
		return New(o)
	})
}

// The columns the sink reads.
const (
	// DataColumn holds the record's payload: binary or string (also large and view types).
	DataColumn = "data"
	// PartitionKeyColumn holds the partition key: string (also large and view types).
	PartitionKeyColumn = "partitionKey"
	// ExplicitHashKeyColumn optionally holds an explicit hash key (a decimal string) that
	// overrides the partition key's hash; null or "" means none.
	ExplicitHashKeyColumn = "explicitHashKey"
)

// Sink is the Kinesis sink. Build it with New, or through the "kinesis" format.
type Sink struct {
	opts Options

	// Set by Open.
	client API
	logger *slog.Logger
	schema *arrow.Schema
	cols   columns

	shardsMu sync.Mutex // serialises refreshes
	shards   *shardMap  // guarded by shardsMu; nil without aggregation

	mu      sync.Mutex
	metrics map[string]string
}

var (
	_ sinks.Sink           = (*Sink)(nil)
	_ sinks.OptionRedactor = (*Sink)(nil)
)

// columns are the indices of the columns the sink reads.
type columns struct{ data, pk, ehk int } // ehk is -1 when absent

// New returns a Kinesis sink, or an error naming every invalid option. It does no I/O.
func New(o Options) (*Sink, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &Sink{opts: o}, nil
}

// Description implements sinks.Sink: "KinesisSink[stream]".
func (s *Sink) Description() string { return "KinesisSink[" + s.opts.streamLabel() + "]" }

// RedactOptions implements sinks.OptionRedactor: the values of awsAccessKey, awsSecretKey,
// awsSessionToken and roleExternalId (and of unknown keys that look like credentials) are
// replaced.
func (s *Sink) RedactOptions(kv map[string]string) map[string]string { return Spec.Redact(kv) }

// CheckSchema reports whether batches of schema can be written: a data column of binary or
// string type, a partitionKey column of string type, and optionally an explicitHashKey column
// of string type. Other columns are ignored. Open calls it.
func (s *Sink) CheckSchema(schema *arrow.Schema) error {
	_, err := schemaColumns(schema)
	return err
}

func schemaColumns(schema *arrow.Schema) (columns, error) {
	if schema == nil {
		return columns{}, errors.New("kinesis sink: the query's schema is unknown")
	}
	var errs []error
	find := func(name string, required bool, ok func(arrow.DataType) bool, want string) int {
		idx := schema.FieldIndices(name)
		switch {
		case len(idx) == 0 && required:
			errs = append(errs, fmt.Errorf("column %q is missing; the sink writes columns data (%s) and partitionKey (string), and optionally explicitHashKey (string); the query's columns are: %s",
				name, "binary or string", columnList(schema)))
			return -1
		case len(idx) == 0:
			return -1
		case len(idx) > 1:
			errs = append(errs, fmt.Errorf("column %q is ambiguous: %d columns have that name", name, len(idx)))
			return -1
		}
		if t := schema.Field(idx[0]).Type; !ok(t) {
			errs = append(errs, fmt.Errorf("column %q has type %s; it must be %s (cast it first)", name, t, want))
		}
		return idx[0]
	}
	c := columns{
		data: find(DataColumn, true, isBytesType, "binary or string"),
		pk:   find(PartitionKeyColumn, true, isStringType, "string"),
		ehk:  find(ExplicitHashKeyColumn, false, isStringType, "string"),
	}
	if len(errs) > 0 {
		return columns{}, fmt.Errorf("kinesis sink: %w", errors.Join(errs...))
	}
	return c, nil
}

func isStringType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return true
	}
	return false
}

func isBytesType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW:
		return true
	}
	return isStringType(t)
}

func columnList(schema *arrow.Schema) string {
	var b []byte
	for i, f := range schema.Fields() {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, f.Name...)
		b = append(b, ' ')
		b = append(b, f.Type.String()...)
	}
	return string(b)
}

// Open implements sinks.Sink: it checks the schema, builds the client, checks that the stream
// exists (DescribeStreamSummary) and, with aggregation, lists its open shards.
func (s *Sink) Open(ctx context.Context, info sinks.Info) error {
	cols, err := schemaColumns(info.Schema)
	if err != nil {
		return err
	}
	client, err := s.opts.newClient(ctx)
	if err != nil {
		return err
	}
	in := &awskinesis.DescribeStreamSummaryInput{}
	if s.opts.StreamARN != "" {
		in.StreamARN = aws.String(s.opts.StreamARN)
	} else {
		in.StreamName = aws.String(s.opts.StreamName)
	}
	if _, err := client.DescribeStreamSummary(ctx, in); err != nil {
		return fmt.Errorf("kinesis sink: stream %s: %w", s.opts.streamLabel(), err)
	}
	var shards *shardMap
	if s.opts.AggregationEnabled {
		list, err := listOpenShards(ctx, client, &s.opts)
		if err != nil {
			return fmt.Errorf("kinesis sink: list the shards of %s: %w", s.opts.streamLabel(), err)
		}
		shards = &shardMap{shards: list}
	}
	logger := info.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.shardsMu.Lock()
	s.shards = shards
	s.shardsMu.Unlock()
	s.client, s.logger, s.schema, s.cols = client, logger, info.Schema, cols
	return nil
}

// Close implements sinks.Sink. Batch writers finish their calls in Commit or Abort, so there
// is nothing left to release.
func (s *Sink) Close(context.Context) error { return nil }

// Begin implements sinks.Sink. The ctx given to Begin bounds the batch's PutRecords calls,
// which run in the background while Write is called.
func (s *Sink) Begin(ctx context.Context, batchID int64) (sinks.BatchWriter, error) {
	if s.client == nil {
		return nil, errors.New("kinesis sink: Begin before Open")
	}
	return newBatchWriter(ctx, s, batchID), nil
}

// Metrics returns the last committed batch's numbers for progress reports (the coordinator
// puts them in progress.sink.metrics):
//
//   - recordsSent: rows written to the stream;
//   - kinesisRecordsSent: Kinesis records written (fewer than rows with aggregation);
//   - bytesSent: data plus partition key bytes of those Kinesis records;
//   - putRecordsCalls: PutRecords calls made, including retries;
//   - recordsRetried: Kinesis records sent again after a failed entry or call;
//   - recordsThrottled: Kinesis records refused for throttling (ProvisionedThroughputExceeded,
//     also as a whole-call error);
//   - aggregatesResent: aggregated records sent again because they reached a shard other
//     than the one predicted (the stream was resharded).
func (s *Sink) Metrics() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.metrics)
}

func (s *Sink) setMetrics(c *counters) {
	m := map[string]string{
		"recordsSent":        strconv.FormatInt(c.recordsSent.Load(), 10),
		"kinesisRecordsSent": strconv.FormatInt(c.kinesisRecordsSent.Load(), 10),
		"bytesSent":          strconv.FormatInt(c.bytesSent.Load(), 10),
		"putRecordsCalls":    strconv.FormatInt(c.calls.Load(), 10),
		"recordsRetried":     strconv.FormatInt(c.retried.Load(), 10),
		"recordsThrottled":   strconv.FormatInt(c.throttled.Load(), 10),
		"aggregatesResent":   strconv.FormatInt(c.resent.Load(), 10),
	}
	s.mu.Lock()
	s.metrics = m
	s.mu.Unlock()
}

// shardMap returns the current shard map.
func (s *Sink) shardMap() *shardMap {
	s.shardsMu.Lock()
	defer s.shardsMu.Unlock()
	return s.shards
}

// refreshShards lists the shards again unless the map already changed since version.
func (s *Sink) refreshShards(ctx context.Context, version int) (*shardMap, error) {
	s.shardsMu.Lock()
	defer s.shardsMu.Unlock()
	if s.shards != nil && s.shards.version != version {
		return s.shards, nil
	}
	list, err := listOpenShards(ctx, s.client, &s.opts)
	if err != nil {
		return nil, fmt.Errorf("kinesis sink: list the shards of %s: %w", s.opts.streamLabel(), err)
	}
	s.shards = &shardMap{shards: list, version: version + 1}
	s.logger.Info("kinesis sink: shard map refreshed", "stream", s.opts.streamLabel(), "openShards", len(list))
	return s.shards, nil
}
