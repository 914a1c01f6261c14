package kinesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedev/sluice/arrowbatch"
	"github.com/sluicedev/sluice/internal/kpl"
	"github.com/sluicedev/sluice/sources"
)

var (
	_ sources.DocumentSource = (*Source)(nil)
	_ sources.SchemaInferrer = (*Source)(nil)
)

// Documents implements sources.DocumentSource: with format=json the data column holds one JSON
// object per record, which the query decodes with Options.JSONSchema, the schema given with
// DataStreamReader.Schema, or the one InferSchema infers.
func (s *Source) Documents() (sources.Documents, bool) {
	if s.opts.Format != FormatJSON {
		return sources.Documents{}, false
	}
	return sources.Documents{Format: string(FormatJSON), Column: Schema.Field(colData).Name,
		Schema: s.opts.JSONSchema, Infer: s.opts.InferSchema}, true
}

// RecordKey implements sources.RecordKeyer: a record is named by its shard and sequence number
// in the errors of its row.
func (s *Source) RecordKey() []string {
	return []string{Schema.Field(colShardID).Name, Schema.Field(colSequenceNumber).Name}
}

// Sampling limits.
const (
	// sampleCallTimeout bounds one call made while sampling.
	sampleCallTimeout = 30 * time.Second
	// sampleAtTimestampTimeout bounds GetShardIterator(AT_TIMESTAMP): kinesalite does not answer
	// it when no record exists at or after the time, which means nothing to sample there.
	sampleAtTimestampTimeout = 3 * time.Second
	// maxSampleEmptyPolls is how many empty answers in a row a shard that Kinesis says is behind
	// its tip may give before sampling gives up on it (Kinesis may answer empty pages before
	// the records of an old position).
	maxSampleEmptyPolls = 20
)

// sampleShard is a shard being sampled.
type sampleShard struct {
	key   shardKey
	st    *streamInfo
	pace  *pacer
	from  position // the position after the last record sampled
	it    string
	done  bool
	empty int // empty answers in a row
}

// InferSchema implements sources.SchemaInferrer: it reads the first inferSchemaSampleSize
// records from start (nil: from initialPosition), spread over the shards, with the shards' own
// rate limits, and infers the schema of their JSON documents as Spark does (see
// arrowbatch.JSONInferrer). It reads the shards' records directly, without buffering them:
// the batches read them again. A shard is sampled up to its tip (an empty answer with
// MillisBehindLatest 0) or its end. With initialPosition latest and no checkpoint there is
// nothing to sample yet, which is an error, as is a sample without a JSON object.
func (s *Source) InferSchema(ctx context.Context, start sources.Offset) (*arrow.Schema, error) {
	if s.opts.Format != FormatJSON {
		return nil, errors.New("kinesis: InferSchema needs format=json")
	}
	shards, err := s.sampleShards(start)
	if err != nil {
		return nil, err
	}
	var inf arrowbatch.JSONInferrer
	want := int(s.opts.InferSchemaSampleSize)
	if want == 0 {
		want = DefaultInferSchemaSampleSize
	}
	got := 0
	for got < want {
		active := 0
		for _, sh := range shards {
			if !sh.done {
				active++
			}
		}
		if active == 0 {
			break
		}
		for _, sh := range shards {
			if sh.done || got >= want {
				continue
			}
			quota := (want - got + active - 1) / active
			n, err := s.sample(ctx, sh, quota, inf.Add)
			if err != nil {
				return nil, err
			}
			got += n
		}
	}
	objects, skipped := inf.Documents()
	if got == 0 {
		return nil, fmt.Errorf("kinesis: inferSchema: %s has no records from where the query starts (%s) to infer the JSON schema from; give the schema with DataStreamReader.Schema(...)%s",
			s.desc, s.startDescription(start), s.emptySampleAdvice(start))
	}
	schema, err := inf.Schema()
	if err != nil {
		return nil, fmt.Errorf("kinesis: inferSchema: %d records sampled from %s: %w; give the schema with DataStreamReader.Schema(...)", got, s.desc, err)
	}
	s.log.Info("kinesis: inferred the JSON schema", "records", got, "skipped", skipped, "objects", objects, "columns", schema.NumFields())
	return schema, nil
}

// emptySampleAdvice is the end of the error of an empty sample: where else to start, unless
// the query starts at the oldest records already (then the stream is empty: write records
// first).
func (s *Source) emptySampleAdvice(start sources.Offset) string {
	if start == nil && s.opts.InitialPosition.Kind == TrimHorizon {
		return ", or write records to the stream before starting the query"
	}
	return ", or start where records exist (initialPosition trim_horizon or at_timestamp)"
}

// startDescription says where sampling started, for errors.
func (s *Source) startDescription(start sources.Offset) string {
	if start == nil {
		return "initialPosition " + s.opts.InitialPosition.String()
	}
	return "the checkpoint's offsets"
}

// sampleShards returns the shards to sample, sorted, each at its position in start (nil: the
// initial position). Shards that start closed are left out.
func (s *Source) sampleShards(start sources.Offset) ([]*sampleShard, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.errLocked(); err != nil {
		return nil, err
	}
	var o *offset
	if start != nil {
		var err error
		if o, err = s.checkOffsetLocked(start); err != nil {
			return nil, err
		}
	} else if s.opts.InitialPosition.Kind == Latest || s.opts.InitialPosition.Kind == "" {
		return nil, fmt.Errorf("kinesis: inferSchema: the query starts at initialPosition latest, so %s has no records to infer the JSON schema from yet; give the schema with DataStreamReader.Schema(...), or start where records exist (initialPosition trim_horizon or at_timestamp)", s.desc)
	}
	var out []*sampleShard
	for _, sh := range s.shards {
		if !sh.listed {
			continue
		}
		var p position
		switch {
		case o != nil:
			p = o.startOf(sh.key.stream, sh.key.id)
		case s.opts.InitialPosition.Kind == AtTimestamp:
			p = atTimestamp(s.opts.InitialPosition.Timestamp.UnixMilli())
		default:
			p = trimHorizon()
		}
		if p.kind == posClosed {
			continue
		}
		out = append(out, &sampleShard{key: sh.key, st: sh.st, pace: s.pacerLocked(sh.key), from: p})
	}
	slices.SortFunc(out, func(a, b *sampleShard) int { return strings.Compare(a.key.String(), b.key.String()) })
	return out, nil
}

// sample reads up to limit user records of the shard, from where its sampling stands, and
// passes their data to add. It makes one GetRecords call (after a GetShardIterator if needed),
// retrying as the prefetching does, and marks the shard done at its tip or end.
func (s *Source) sample(ctx context.Context, sh *sampleShard, limit int, add func([]byte)) (int, error) {
	failures, throttles := 0, 0
	retry := func(err error, op string) error {
		var wait time.Duration
		switch classify(err) {
		case classThrottled:
			throttles++
			s.m.throttled.Add(1)
			wait = max(backoff(throttles), s.opts.MinFetchPeriod)
		case classTransient, classExpired:
			failures++
			s.m.retries.Add(1)
			if failures >= maxTransientFailures {
				return fmt.Errorf("kinesis: inferSchema: %s %s: giving up after %d failures in a row: %w", op, sh.key, failures, err)
			}
			sh.it = ""
			wait = backoff(failures)
		default:
			return s.apiError(op+" (inferSchema)", sh.st, sh.key.id, err)
		}
		return sleepCtx(ctx, wait)
	}
	for {
		if sh.it == "" {
			it, err := s.sampleIterator(ctx, sh)
			switch {
			case ctx.Err() != nil:
				return 0, ctx.Err()
			case errors.Is(err, errNotYet):
				sh.done = true // nothing at or after the position yet
				return 0, nil
			case err != nil && classify(err) == classNotFound:
				sh.done = true // the shard expired from the stream
				return 0, nil
			case err != nil:
				if err := retry(err, "get shard iterator"); err != nil {
					return 0, err
				}
				continue
			}
			sh.it = it
		}
		if err := sleepCtx(ctx, sh.pace.readyAt(s.now()).Sub(s.now())); err != nil {
			return 0, err
		}
		sh.pace.call(s.now())
		in := &kinesis.GetRecordsInput{ShardIterator: aws.String(sh.it), Limit: aws.Int32(int32(min(int64(limit), s.opts.MaxRecordsPerFetch)))}
		if sh.st.arn != "" {
			in.StreamARN = aws.String(sh.st.arn)
		}
		cctx, cancel := context.WithTimeout(ctx, sampleCallTimeout)
		out, err := s.api.GetRecords(cctx, in)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			if err := retry(err, "get records"); err != nil {
				return 0, err
			}
			continue
		}
		var bytes int64
		for i := range out.Records {
			bytes += int64(len(out.Records[i].Data) + len(aws.ToString(out.Records[i].PartitionKey)))
		}
		sh.pace.got(s.now(), bytes)
		n := sampleRecords(out.Records, sh, limit, add)
		switch {
		case out.NextShardIterator == nil:
			sh.done = true // the shard's end
		case n >= limit:
			sh.it = *out.NextShardIterator
		case len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0:
			sh.done = true // the shard's tip
		case n == 0:
			sh.empty++
			sh.done = sh.empty >= maxSampleEmptyPolls
			sh.it = *out.NextShardIterator
		default:
			sh.empty = 0
			sh.it = *out.NextShardIterator
			if aws.ToInt64(out.MillisBehindLatest) == 0 {
				sh.done = true // read up to the tip
			}
		}
		return n, nil
	}
}

// sampleRecords passes the data of up to limit user records after the shard's position to add
// (KPL aggregates are split, as the batches split them) and moves the position past them.
func sampleRecords(recs []types.Record, sh *sampleShard, limit int, add func([]byte)) int {
	n := 0
	for i := range recs {
		if n >= limit {
			break
		}
		r := &recs[i]
		seq := aws.ToString(r.SequenceNumber)
		_, err := kpl.Deaggregate(r.Data, func(sub int, _, _ string, payload []byte) error {
			if n >= limit {
				return errSampleFull
			}
			if !sh.from.covers(seq, int64(sub)) {
				add(payload)
				n++
				sh.from = after(seq, int64(sub))
			}
			return nil
		})
		if errors.Is(err, kpl.ErrNotAggregated) && !sh.from.covers(seq, 0) {
			add(r.Data)
			n++
			sh.from = after(seq, 0)
		}
	}
	return n
}

var errSampleFull = errors.New("kinesis: the sample is full")

// sampleIterator returns a shard iterator at the shard's sampling position; an at-timestamp
// position the server has not reached is errNotYet.
func (s *Source) sampleIterator(ctx context.Context, sh *sampleShard) (string, error) {
	it, err := s.iteratorAt(ctx, sh.key, sh.st, sh.from, sampleCallTimeout, sampleAtTimestampTimeout)
	if err != nil && sh.from.kind == posAtTimestamp && ctx.Err() == nil && classify(err) == classNotYet {
		return "", errNotYet
	}
	return it, err
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
