package kinesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sluicedev/sluice/internal/kpl"
)

// entry is one Kinesis record to put: a row, or an aggregate of rows.
type entry struct {
	pk, ehk string
	data    []byte
	users   int64 // rows it carries
	row     int64 // its (first) row in the micro-batch
	// Aggregates only: the shard predicted from the shard map of that version.
	aggregated bool
	shard      string
	version    int
}

func (e *entry) size() int { return len(e.data) + len(e.pk) }

// request is one PutRecords call's worth of entries, within the service limits. It holds a
// reference to every input batch its entries' bytes point into.
type request struct {
	entries []entry
	bytes   int
	refs    []arrow.RecordBatch
}

func (r *request) release() {
	for _, b := range r.refs {
		b.Release()
	}
	r.refs = nil
}

// counters are a batch's metrics.
type counters struct {
	recordsSent, kinesisRecordsSent, bytesSent, calls, retried, throttled, resent atomic.Int64
}

// batchWriter writes one micro-batch. Write validates rows and packs them into requests of at
// most 500 records and 5 MiB; full requests are sent in the background, at most
// maxInFlightRequests at a time (Write blocks when that many are outstanding). Commit sends
// what is left and waits for every request.
type batchWriter struct {
	s   *Sink
	id  int64
	ctx context.Context // bounds the background calls
	// cancel stops the background calls.
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup
	c      counters

	mu  sync.Mutex
	err error // first failure of a background call

	cur      *request
	rows     int64                        // rows seen so far
	aggs     map[string]*pendingAggregate // by predicted shard
	aggsVer  int                          // shard map version of aggs
	finished bool
}

// pendingAggregate is an aggregate being filled for one shard.
type pendingAggregate struct {
	agg      *kpl.Aggregator
	shard    string
	firstRow int64
}

func newBatchWriter(ctx context.Context, s *Sink, id int64) *batchWriter {
	bctx, cancel := context.WithCancel(ctx)
	return &batchWriter{s: s, id: id, ctx: bctx, cancel: cancel,
		sem: make(chan struct{}, s.opts.MaxInFlightRequests), aggs: map[string]*pendingAggregate{}}
}

func (w *batchWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *batchWriter) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
		w.cancel() // stop the other calls: the batch will be replayed anyway
	}
}

// bytesReader returns a function reading element i of a binary or string column as bytes
// (zero-copy for binary and string arrays).
func bytesReader(a arrow.Array) func(i int) []byte {
	switch c := a.(type) {
	case *array.Binary:
		return c.Value
	case *array.LargeBinary:
		return c.Value
	case *array.BinaryView:
		return c.Value
	case *array.String:
		return func(i int) []byte {
			buf := c.Data().Buffers()[2]
			if buf == nil {
				return []byte{}
			}
			off := c.ValueOffset(i)
			return buf.Bytes()[off : off+c.ValueLen(i)]
		}
	case *array.LargeString:
		return func(i int) []byte {
			buf := c.Data().Buffers()[2]
			if buf == nil {
				return []byte{}
			}
			off := int(c.ValueOffset(i))
			return buf.Bytes()[off : off+c.ValueLen(i)]
		}
	case *array.StringView:
		return func(i int) []byte { return []byte(c.Value(i)) }
	}
	return nil
}

// stringReader returns a function reading element i of a string column.
func stringReader(a arrow.Array) func(i int) string {
	switch c := a.(type) {
	case *array.String:
		return c.Value
	case *array.LargeString:
		return c.Value
	case *array.StringView:
		return c.Value
	}
	return nil
}

// Write implements sinks.BatchWriter. Every row is checked as Kinesis would check it before
// anything of it is sent; a row Kinesis would refuse fails the batch with a *RecordError
// naming it. Write borrows rec: requests that point into it retain it until they are done.
func (w *batchWriter) Write(ctx context.Context, rec arrow.RecordBatch) error {
	if err := w.failed(); err != nil {
		return err
	}
	if w.finished {
		return errors.New("kinesis sink: Write after Commit or Abort")
	}
	if rec.Schema() != w.s.schema && !rec.Schema().Equal(w.s.schema) {
		return fmt.Errorf("kinesis sink: batch schema %s differs from the query's %s", rec.Schema(), w.s.schema)
	}
	if err := w.write(ctx, rec); err != nil {
		w.fail(err) // Commit must not send the rows before the bad one as a complete batch
		return err
	}
	return nil
}

func (w *batchWriter) write(ctx context.Context, rec arrow.RecordBatch) error {
	cols := w.s.cols
	dataCol, pkCol := rec.Column(cols.data), rec.Column(cols.pk)
	data, pk := bytesReader(dataCol), stringReader(pkCol)
	if data == nil || pk == nil {
		return fmt.Errorf("kinesis sink: columns of types %s and %s cannot be read", dataCol.DataType(), pkCol.DataType())
	}
	var ehkCol arrow.Array
	var ehk func(int) string
	if cols.ehk >= 0 {
		ehkCol = rec.Column(cols.ehk)
		ehk = stringReader(ehkCol)
	}
	agg := w.s.opts.AggregationEnabled
	var m *shardMap
	if agg {
		// The map was refreshed (a sender saw a reshard): send the open aggregates as they
		// are (their placement is checked like any other's) and group anew.
		if m = w.s.shardMap(); m.version != w.aggsVer {
			if err := w.flushAggregates(ctx); err != nil {
				return err
			}
			w.aggsVer = m.version
		}
	}
	n := int(rec.NumRows())
	for i := 0; i < n; i++ {
		row := w.rows + int64(i)
		recErr := func(key string, err error) error {
			return &RecordError{BatchID: w.id, Row: row, PartitionKey: shortKey(key), Err: err}
		}
		if pkCol.IsNull(i) {
			return recErr("", fmt.Errorf("column partitionKey is null: %w", ErrNull))
		}
		key := pk(i)
		if err := checkPartitionKey(key); err != nil {
			return recErr(key, err)
		}
		if dataCol.IsNull(i) {
			return recErr(key, fmt.Errorf("column data is null: %w", ErrNull))
		}
		payload := data(i)
		var hash string
		if ehkCol != nil && !ehkCol.IsNull(i) {
			if hash = ehk(i); hash != "" {
				if err := checkExplicitHashKey(hash); err != nil {
					return recErr(key, err)
				}
			}
		}
		if size := len(payload) + len(key); size > MaxRecordSize {
			return recErr(key, fmt.Errorf("data of %d bytes plus partition key of %d bytes make %d bytes, over the %d-byte Kinesis record limit: %w",
				len(payload), len(key), size, MaxRecordSize, ErrRecordTooLarge))
		}
		if agg {
			if err := w.aggregate(ctx, m, row, key, hash, payload); err != nil {
				return err
			}
			continue
		}
		if err := w.add(ctx, entry{pk: key, ehk: hash, data: payload, users: 1, row: row}, rec); err != nil {
			return err
		}
	}
	w.rows += int64(n)
	return nil
}

// add appends an entry to the current request, sending the request first if the entry would
// break a limit. rec, if not nil, is the batch the entry's bytes point into.
func (w *batchWriter) add(ctx context.Context, e entry, rec arrow.RecordBatch) error {
	if r := w.cur; r != nil && (len(r.entries) == MaxRecordsPerRequest || r.bytes+e.size() > MaxBytesPerRequest) {
		w.cur = nil
		if err := w.dispatch(ctx, r); err != nil {
			return err
		}
	}
	if w.cur == nil {
		w.cur = &request{}
	}
	r := w.cur
	r.entries = append(r.entries, e)
	r.bytes += e.size()
	if rec != nil && (len(r.refs) == 0 || r.refs[len(r.refs)-1] != rec) {
		rec.Retain()
		r.refs = append(r.refs, rec)
	}
	return nil
}

// dispatch sends r in the background once fewer than maxInFlightRequests are outstanding.
func (w *batchWriter) dispatch(ctx context.Context, r *request) error {
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		r.release()
		return ctx.Err()
	case <-w.ctx.Done():
		r.release()
		if err := w.failed(); err != nil {
			return err
		}
		return w.ctx.Err()
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { <-w.sem }()
		defer r.release()
		if err := w.send(w.ctx, r.entries); err != nil {
			w.fail(err)
		}
	}()
	return nil
}

// aggregate adds a row to the aggregate of its predicted shard. Keys are copied: aggregates
// outlive the input batch (Add copies the data).
func (w *batchWriter) aggregate(ctx context.Context, m *shardMap, row int64, pk, ehk string, data []byte) error {
	sr, ok := m.lookup(recordHash(pk, ehk))
	if !ok {
		// No open shard holds the key (the map is out of date): send the row as it is.
		return w.add(ctx, entry{pk: strings.Clone(pk), ehk: strings.Clone(ehk), data: slices.Clone(data), users: 1, row: row}, nil)
	}
	p := w.aggs[sr.id]
	if p == nil {
		a, err := kpl.NewAggregator(w.s.opts.aggregatorOptions())
		if err != nil {
			return err
		}
		p = &pendingAggregate{agg: a, shard: sr.id, firstRow: row}
		w.aggs[sr.id] = p
	}
	if p.agg.Len() == 0 {
		p.firstRow = row
	}
	pk, ehk = strings.Clone(pk), strings.Clone(ehk)
	err := p.agg.Add(pk, ehk, data)
	if errors.Is(err, kpl.ErrFull) {
		if err := w.add(ctx, w.flushOne(p), nil); err != nil {
			return err
		}
		p.firstRow = row
		err = p.agg.Add(pk, ehk, data)
	}
	if errors.Is(err, kpl.ErrRecordTooLarge) {
		// Too large to aggregate, not for Kinesis (checked): send it plain, as the KPL does.
		return w.add(ctx, entry{pk: pk, ehk: ehk, data: slices.Clone(data), users: 1, row: row}, nil)
	}
	if err != nil {
		return &RecordError{BatchID: w.id, Row: row, PartitionKey: shortKey(pk), Err: err}
	}
	return nil
}

// flushOne turns an aggregate into an entry.
func (w *batchWriter) flushOne(p *pendingAggregate) entry {
	users := int64(p.agg.Len())
	pk, ehk, data := p.agg.Flush()
	return entry{pk: pk, ehk: ehk, data: data, users: users, row: p.firstRow,
		aggregated: true, shard: p.shard, version: w.aggsVer}
}

// flushAggregates adds every non-empty aggregate to the requests, in shard order.
func (w *batchWriter) flushAggregates(ctx context.Context) error {
	ids := make([]string, 0, len(w.aggs))
	for id, p := range w.aggs {
		if p.agg.Len() > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := w.add(ctx, w.flushOne(w.aggs[id]), nil); err != nil {
			return err
		}
	}
	clear(w.aggs)
	return nil
}

// Commit implements sinks.BatchWriter: it sends the open aggregates and the last request,
// waits for every call, and reports the first failure. The rows are in the stream when it
// returns nil.
func (w *batchWriter) Commit(ctx context.Context) error {
	if w.finished {
		return errors.New("kinesis sink: Commit after Commit or Abort")
	}
	err := w.failed()
	if err == nil {
		err = w.flushAggregates(ctx)
	}
	if err == nil && w.cur != nil {
		r := w.cur
		w.cur = nil
		err = w.dispatch(ctx, r)
	}
	if err != nil {
		w.fail(err)
	}
	w.wait(ctx)
	w.finished = true
	if w.cur != nil { // not sent: the batch failed
		w.cur.release()
		w.cur = nil
	}
	if err := w.failed(); err != nil {
		return err
	}
	w.s.setMetrics(&w.c)
	return nil
}

// wait waits for the background calls; if ctx ends first, it cancels them and waits.
func (w *batchWriter) wait(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		w.fail(ctx.Err())
		<-done
	}
	w.cancel()
}

// Abort implements sinks.BatchWriter: it cancels the outstanding calls and waits for them.
// Records already accepted by Kinesis stay there; the batch will be replayed (at least once).
func (w *batchWriter) Abort(context.Context) error {
	if w.finished {
		return nil
	}
	w.finished = true
	w.fail(errAborted)
	w.wg.Wait()
	if w.cur != nil {
		w.cur.release()
		w.cur = nil
	}
	clear(w.aggs)
	return nil
}

var errAborted = errors.New("kinesis sink: batch aborted")

// putInput builds the PutRecords input for entries.
func (w *batchWriter) putInput(entries []entry) *awskinesis.PutRecordsInput {
	in := &awskinesis.PutRecordsInput{Records: make([]types.PutRecordsRequestEntry, len(entries))}
	if o := &w.s.opts; o.StreamARN != "" {
		in.StreamARN = aws.String(o.StreamARN)
	} else {
		in.StreamName = aws.String(o.StreamName)
	}
	for i := range entries {
		e := &entries[i]
		in.Records[i] = types.PutRecordsRequestEntry{Data: e.data, PartitionKey: aws.String(e.pk)}
		if e.ehk != "" {
			in.Records[i].ExplicitHashKey = aws.String(e.ehk)
		}
	}
	return in
}

// send puts entries, retrying what fails: a failed call is retried whole, failed entries
// alone, with backoff, for at most maxAttempts calls. Aggregates that reached an unexpected
// shard are checked and, if a consumer would drop them, re-aggregated and sent again.
func (w *batchWriter) send(ctx context.Context, entries []entry) error {
	o := &w.s.opts
	pending := entries
	for attempt := int64(1); ; attempt++ {
		w.c.calls.Add(1)
		out, err := w.s.client.PutRecords(ctx, w.putInput(pending))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			throttled, retryable := classify(err)
			if throttled {
				w.c.throttled.Add(int64(len(pending)))
			}
			if !retryable {
				return fmt.Errorf("kinesis sink: batch %d: put %d records into %s: %w", w.id, len(pending), o.streamLabel(), err)
			}
			if attempt >= o.MaxAttempts {
				return fmt.Errorf("kinesis sink: batch %d: put %d records into %s: still failing after %d tries: %w", w.id, len(pending), o.streamLabel(), attempt, err)
			}
			w.c.retried.Add(int64(len(pending)))
			if err := w.backoff(ctx, attempt); err != nil {
				return err
			}
			continue
		}
		if len(out.Records) != len(pending) {
			return fmt.Errorf("kinesis sink: batch %d: PutRecords answered %d results for %d records", w.id, len(out.Records), len(pending))
		}
		var failed, again []entry
		var lastCode, lastMsg string
		for i, r := range out.Records {
			e := pending[i]
			if r.ErrorCode != nil {
				lastCode, lastMsg = aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage)
				if isThrottleCode(lastCode) {
					w.c.throttled.Add(1)
				}
				failed = append(failed, e)
				continue
			}
			w.c.recordsSent.Add(e.users)
			w.c.kinesisRecordsSent.Add(1)
			w.c.bytesSent.Add(int64(e.size()))
			if e.aggregated && aws.ToString(r.ShardId) != e.shard {
				resend, err := w.checkPlacement(ctx, e, aws.ToString(r.ShardId))
				if err != nil {
					return err
				}
				again = append(again, resend...)
			}
		}
		if len(failed) == 0 && len(again) == 0 {
			return nil
		}
		if len(failed) > 0 {
			if attempt >= o.MaxAttempts {
				return fmt.Errorf("kinesis sink: batch %d: %d of %d records still failing after %d tries (row %d first); last error %s: %s",
					w.id, len(failed), len(entries), attempt, failed[0].row, lastCode, lastMsg)
			}
			w.c.retried.Add(int64(len(failed)))
			if err := w.backoff(ctx, attempt); err != nil {
				return err
			}
		}
		pending = append(failed, again...)
	}
}

// backoff sleeps before try attempt+1: a random time in [0, min(max, min·2^(attempt-1))).
func (w *batchWriter) backoff(ctx context.Context, attempt int64) error {
	o := &w.s.opts
	d := o.MinRetryDelay << min(attempt-1, 30)
	if d > o.MaxRetryDelay || d <= 0 {
		d = o.MaxRetryDelay
	}
	t := time.NewTimer(rand.N(d) + 1)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// checkPlacement handles an aggregate that Kinesis put on another shard than predicted: the
// shard map is stale (resharding). It refreshes the map and checks every user record of the
// aggregate against the range of the shard it reached; if one lies outside, a KCL consumer
// drops the whole aggregate, so all its user records are aggregated anew and returned to be
// sent again (at least once: readers that do not drop such aggregates see them twice).
func (w *batchWriter) checkPlacement(ctx context.Context, e entry, shardID string) ([]entry, error) {
	m, err := w.s.refreshShards(ctx, e.version)
	if err != nil {
		return nil, err
	}
	sr, known := m.byID(shardID)
	type user struct {
		pk, ehk string
		data    []byte
	}
	var users []user
	inside := known
	if _, err := kpl.Deaggregate(e.data, func(_ int, pk, ehk string, payload []byte) error {
		users = append(users, user{pk, ehk, payload})
		if inside && !sr.contains(recordHash(pk, ehk)) {
			inside = false
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("kinesis sink: batch %d: decode an aggregate of rows from %d: %w", w.id, e.row, err)
	}
	if inside {
		return nil, nil // e.g. shards merged: the new shard covers every record
	}
	w.c.resent.Add(1)
	w.c.recordsSent.Add(-e.users)
	w.s.logger.Warn("kinesis sink: an aggregate reached another shard than predicted and would be dropped by KCL consumers; sending its records again",
		"stream", w.s.opts.streamLabel(), "predicted", e.shard, "actual", shardID, "records", len(users))
	aggs := map[string]*kpl.Aggregator{}
	var out []entry
	flush := func(id string, a *kpl.Aggregator) {
		n := int64(a.Len())
		pk, ehk, data := a.Flush()
		out = append(out, entry{pk: pk, ehk: ehk, data: data, users: n, row: e.row, aggregated: true, shard: id, version: m.version})
	}
	var order []string
	for _, u := range users {
		sr, ok := m.lookup(recordHash(u.pk, u.ehk))
		if !ok {
			out = append(out, entry{pk: u.pk, ehk: u.ehk, data: u.data, users: 1, row: e.row})
			continue
		}
		a := aggs[sr.id]
		if a == nil {
			a, _ = kpl.NewAggregator(w.s.opts.aggregatorOptions())
			aggs[sr.id] = a
			order = append(order, sr.id)
		}
		err := a.Add(u.pk, u.ehk, u.data)
		if errors.Is(err, kpl.ErrFull) {
			flush(sr.id, a)
			err = a.Add(u.pk, u.ehk, u.data)
		}
		if err != nil {
			out = append(out, entry{pk: u.pk, ehk: u.ehk, data: u.data, users: 1, row: e.row})
		}
	}
	for _, id := range order {
		if a := aggs[id]; a.Len() > 0 {
			flush(id, a)
		}
	}
	return out, nil
}

// throttleCodes are the error codes of throttling.
var throttleCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"LimitExceededException":                 true,
	"KMSThrottlingException":                 true,
	"ThrottlingException":                    true,
}

func isThrottleCode(code string) bool { return throttleCodes[code] }

var retryables = retry.IsErrorRetryables(retry.DefaultRetryables)

// classify says whether a failed call was throttled and whether it may be retried: throttling,
// server errors (5xx), broken connections and the SDK's "use of closed network connection"
// deserialization error are retried; anything else (no such stream, access denied, invalid
// request) fails the batch at once.
func classify(err error) (throttled, retryable bool) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if isThrottleCode(ae.ErrorCode()) {
			return true, true
		}
		switch ae.ErrorCode() {
		case "InternalFailure", "InternalFailureException", "ServiceUnavailable", "ServiceUnavailableException":
			return false, true
		}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= http.StatusInternalServerError {
		return false, true
	}
	if strings.Contains(err.Error(), "use of closed network connection") {
		return false, true
	}
	return false, retryables.IsErrorRetryable(err) == aws.TrueTernary
}
