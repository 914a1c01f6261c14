// Package fakekinesis is a fast in-process fake of Kinesis Data Streams for benchmarks and
// tests. Logs, an http.Handler, speaks the JSON 1.1 protocol of aws-sdk-go-v2 (ListShards,
// DescribeStreamSummary, GetShardIterator, GetRecords and PutRecords) and serves deterministic
// JSON log events (LogEvent) as fast as it can write them, so that a benchmark measures the
// client, not the server. A GetRecords answer carries up to 10,000 records and
// MillisBehindLatest. The server checks no signatures and never throttles unless
// LogConfig.ThrottleEvery asks it to.
//
// Puts counts and checks PutRecords calls against the limits of Kinesis; ProcessCPU measures
// the process's CPU time for benchmarks that report records per CPU-second.
package fakekinesis

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// LogConfig describes the stream of a Logs server.
type LogConfig struct {
	// Stream is the stream's name (default "bench").
	Stream string
	// Shards is the number of shards (default 4).
	Shards int
	// RecordsPerShard is how many records each shard holds (default 10,000).
	RecordsPerShard int
	// RecordSize is the size of each record's data in bytes, give or take a byte (default
	// 1,000; at least 100).
	RecordSize int
	// MaxPerResponse caps the records of one GetRecords answer (default and maximum 10,000).
	MaxPerResponse int
	// ThrottleEvery, if positive, answers every ThrottleEvery-th GetRecords call, counted
	// across the server (all shards), as Kinesis answers a call over a shard's read limits:
	// HTTP 400 with ProvisionedThroughputExceededException ("Rate exceeded for shard ..."),
	// without records and without advancing the iterator, so the same iterator may be
	// used again. A call whose iterator is invalid fails with InvalidArgumentException
	// instead, though it is counted. 0 never throttles.
	ThrottleEvery int
	// OpenShards keeps the shards open, as those of a live stream that nobody writes to:
	// ListShards gives no ending sequence numbers and GetRecords always gives a
	// NextShardIterator (at a shard's end, an answer without records). A reader that knows how
	// many records to expect then reads them without the work a shard's end brings (a
	// consumer that waits for the end waits forever).
	OpenShards bool
}

// LogEvents is how many distinct events (LogEvent 0 to LogEvents-1) a Logs server serves:
// record i of a shard holds event i % LogEvents.
const LogEvents = 256

// LogEvent returns log event i, about size bytes of JSON (at least 100):
//
//	{"user":"user-0042","level":"info","msg":"..."}
//
// level is "error" when i%10 == 0 and "info" otherwise. Some messages hold escaped quotes and
// non-ASCII text, as log messages do. The event depends only on i and size.
func LogEvent(i, size int) []byte {
	size = max(size, 100)
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	const words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango"
	w := strings.Fields(words)
	ev := struct {
		User  string `json:"user"`
		Level string `json:"level"`
		Msg   string `json:"msg"`
	}{User: fmt.Sprintf("user-%04d", rng.IntN(5000)), Level: "info"}
	if i%10 == 0 {
		ev.Level = "error"
	}
	switch i % 4 {
	case 1:
		ev.Msg = `request "GET /api/v1/items?page=2" took 12ms; `
	case 3:
		ev.Msg = "café résumé naïve; "
	}
	for {
		b, _ := json.Marshal(ev)
		gap := size - len(b)
		if gap <= 0 {
			return b
		}
		// Words while there is room, then letters to the exact size (letters and spaces
		// take one byte each in JSON).
		if gap > 12 {
			ev.Msg += w[rng.IntN(len(w))] + " "
		} else {
			ev.Msg += strings.Repeat("z", gap)
		}
	}
}

// LogStats describes one read of a Logs server's whole stream.
type LogStats struct {
	// Records is the number of records; DataBytes their data bytes.
	Records, DataBytes int64
	// Errors is the number of records whose level is "error"; ErrorDataBytes their data bytes.
	Errors, ErrorDataBytes int64
}

// Logs is a fake Kinesis stream of log events (LogEvent) for benchmarks and tests, served
// with net/http (it is an http.Handler). It speaks the JSON 1.1 protocol of aws-sdk-go-v2:
// DescribeStreamSummary, ListShards, GetShardIterator (TRIM_HORIZON, LATEST, AT_ and
// AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP), GetRecords and PutRecords. It checks no signatures and
// never throttles unless LogConfig.ThrottleEvery asks it to.
//
// Record i of shard s has sequence number "4965", s in 12 digits and i in 40 (56 digits,
// increasing within a shard), data LogEvent(i % LogEvents, RecordSize) and the event's user
// as partition key. Unless LogConfig.OpenShards, every shard is closed: once a shard's records
// have been read, GetRecords answers without a NextShardIterator and ListShards gives the
// shard's ending sequence number. So a reader sees the end of the stream at once, and every
// consumer (an AvailableNow query, a GetRecords loop) stops after one answer per shard of up to
// 10,000 records, which Kinesis' read limits (one call, then pacing at 2 MiB/s per shard) do
// not slow down.
//
// PutRecords calls for the stream are counted and discarded by Puts; the records do not join
// the stream.
type Logs struct {
	// Puts receives the PutRecords calls.
	Puts Puts
	// GetRecordsCalls counts GetRecords calls, throttled ones included.
	GetRecordsCalls atomic.Int64
	// GetRecordsThrottled counts the GetRecords calls answered with
	// ProvisionedThroughputExceededException (LogConfig.ThrottleEvery).
	GetRecordsThrottled atomic.Int64

	cfg     LogConfig
	created time.Time
	// data holds the base64 data of the events, each already a JSON string literal with its
	// quotes; keys the events' partition keys (their users), also quoted.
	data, keys [][]byte
	stats      LogStats
}

// NewLogs returns a Logs server for cfg: serve it with net/http or net/http/httptest.
func NewLogs(cfg LogConfig) *Logs {
	if cfg.Stream == "" {
		cfg.Stream = "bench"
	}
	if cfg.Shards <= 0 {
		cfg.Shards = 4
	}
	if cfg.RecordsPerShard <= 0 {
		cfg.RecordsPerShard = 10000
	}
	if cfg.RecordSize <= 0 {
		cfg.RecordSize = 1000
	}
	if cfg.MaxPerResponse <= 0 || cfg.MaxPerResponse > 10000 {
		cfg.MaxPerResponse = 10000
	}
	s := &Logs{cfg: cfg, created: time.UnixMilli(1700000000000)}
	s.Puts.Stream = cfg.Stream
	sizes := make([]int64, LogEvents)
	for i := range LogEvents {
		ev := LogEvent(i, cfg.RecordSize)
		sizes[i] = int64(len(ev))
		var user struct{ User string }
		json.Unmarshal(ev, &user)
		s.data = append(s.data, []byte(strconv.Quote(base64.StdEncoding.EncodeToString(ev))))
		s.keys = append(s.keys, []byte(strconv.Quote(user.User)))
	}
	for i := range cfg.RecordsPerShard {
		k := i % LogEvents
		s.stats.Records++
		s.stats.DataBytes += sizes[k]
		if k%10 == 0 {
			s.stats.Errors++
			s.stats.ErrorDataBytes += sizes[k]
		}
	}
	sh := int64(cfg.Shards)
	s.stats = LogStats{Records: s.stats.Records * sh, DataBytes: s.stats.DataBytes * sh, Errors: s.stats.Errors * sh, ErrorDataBytes: s.stats.ErrorDataBytes * sh}
	return s
}

// Records returns the number of records of the stream: Shards × RecordsPerShard.
func (s *Logs) Records() int { return s.cfg.Shards * s.cfg.RecordsPerShard }

// Config returns the configuration, with the defaults applied.
func (s *Logs) Config() LogConfig { return s.cfg }

// Stats describes one read of the whole stream.
func (s *Logs) Stats() LogStats { return s.stats }

// ServeHTTP implements http.Handler.
func (s *Logs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "Kinesis_20131202.")
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch op {
	case "DescribeStreamSummary":
		s.describe(w, body)
	case "ListShards":
		s.listShards(w, body)
	case "GetShardIterator":
		s.getShardIterator(w, body)
	case "GetRecords":
		s.getRecords(w, body)
	case "PutRecords":
		s.Puts.ServePutRecords(w, body)
	default:
		fail(w, 400, "UnknownOperationException", "fakekinesis does not implement "+op)
	}
}

func (s *Logs) arn() string { return "arn:aws:kinesis:us-east-1:000000000000:stream/" + s.cfg.Stream }

func (s *Logs) streamOK(w http.ResponseWriter, name, arn string) bool {
	if name != s.cfg.Stream && arn != s.arn() {
		fail(w, 400, "ResourceNotFoundException", "Stream "+name+arn+" under account 000000000000 not found.")
		return false
	}
	return true
}

func (s *Logs) describe(w http.ResponseWriter, body []byte) {
	var in struct{ StreamName, StreamARN string }
	json.Unmarshal(body, &in)
	if !s.streamOK(w, in.StreamName, in.StreamARN) {
		return
	}
	fmt.Fprintf(w, `{"StreamDescriptionSummary":{"StreamName":%q,"StreamARN":%q,"StreamStatus":"ACTIVE","StreamCreationTimestamp":%d.%03d,"RetentionPeriodHours":24,"OpenShardCount":%d,"EnhancedMonitoring":[]}}`,
		s.cfg.Stream, s.arn(), s.created.Unix(), s.created.Nanosecond()/1e6, s.cfg.Shards)
}

func (s *Logs) listShards(w http.ResponseWriter, body []byte) {
	var in struct{ StreamName, StreamARN, NextToken string }
	json.Unmarshal(body, &in)
	if in.NextToken == "" && !s.streamOK(w, in.StreamName, in.StreamARN) {
		return
	}
	var b strings.Builder
	b.WriteString(`{"Shards":[`)
	// The shards split the hash key space [0, 2^128) evenly.
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	n := big.NewInt(int64(s.cfg.Shards))
	for i := range s.cfg.Shards {
		if i > 0 {
			b.WriteByte(',')
		}
		lo := new(big.Int).Div(new(big.Int).Mul(space, big.NewInt(int64(i))), n)
		hi := new(big.Int).Div(new(big.Int).Mul(space, big.NewInt(int64(i+1))), n)
		hi.Sub(hi, big.NewInt(1))
		fmt.Fprintf(&b, `{"ShardId":%q,"HashKeyRange":{"StartingHashKey":"%s","EndingHashKey":"%s"},"SequenceNumberRange":{"StartingSequenceNumber":%q`,
			shardID(i), lo, hi, seq(i, 0))
		if !s.cfg.OpenShards {
			fmt.Fprintf(&b, `,"EndingSequenceNumber":%q`, seq(i, s.cfg.RecordsPerShard-1))
		}
		b.WriteString(`}}`)
	}
	b.WriteString(`]}`)
	io.WriteString(w, b.String())
}

func (s *Logs) getShardIterator(w http.ResponseWriter, body []byte) {
	var in struct {
		StreamName, StreamARN, ShardId, ShardIteratorType, StartingSequenceNumber string
		Timestamp                                                                 float64
	}
	json.Unmarshal(body, &in)
	if !s.streamOK(w, in.StreamName, in.StreamARN) {
		return
	}
	sh := -1
	for i := range s.cfg.Shards {
		if shardID(i) == in.ShardId {
			sh = i
		}
	}
	if sh < 0 {
		fail(w, 400, "ResourceNotFoundException", "Shard "+in.ShardId+" not found")
		return
	}
	pos := 0
	switch in.ShardIteratorType {
	case "TRIM_HORIZON":
	case "LATEST":
		pos = s.cfg.RecordsPerShard
	case "AT_TIMESTAMP":
		if in.Timestamp > float64(s.arrival()) {
			pos = s.cfg.RecordsPerShard
		}
	case "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER":
		sn := in.StartingSequenceNumber
		if len(sn) != 56 || sn[:16] != seq(sh, 0)[:16] {
			fail(w, 400, "InvalidArgumentException", "bad sequence number "+sn+" for shard "+in.ShardId)
			return
		}
		n, err := strconv.ParseInt(sn[16:], 10, 64)
		if err != nil {
			fail(w, 400, "InvalidArgumentException", "bad sequence number "+sn)
			return
		}
		pos = int(n)
		if in.ShardIteratorType == "AFTER_SEQUENCE_NUMBER" {
			pos++
		}
		pos = min(pos, s.cfg.RecordsPerShard)
	default:
		fail(w, 400, "InvalidArgumentException", "bad ShardIteratorType "+in.ShardIteratorType)
		return
	}
	fmt.Fprintf(w, `{"ShardIterator":"%d-%d"}`, sh, pos)
}

// arrival is the records' ApproximateArrivalTimestamp, in seconds.
func (s *Logs) arrival() int64 { return s.created.Unix() + 60 }

func (s *Logs) getRecords(w http.ResponseWriter, body []byte) {
	var in struct {
		ShardIterator string
		Limit         int
	}
	json.Unmarshal(body, &in)
	n := s.GetRecordsCalls.Add(1)
	a, b, ok := strings.Cut(in.ShardIterator, "-")
	sh, err1 := strconv.Atoi(a)
	pos, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || sh < 0 || sh >= s.cfg.Shards || pos < 0 || pos > s.cfg.RecordsPerShard {
		fail(w, 400, "InvalidArgumentException", "Invalid ShardIterator.")
		return
	}
	if s.cfg.ThrottleEvery > 0 && n%int64(s.cfg.ThrottleEvery) == 0 {
		s.GetRecordsThrottled.Add(1)
		fail(w, 400, "ProvisionedThroughputExceededException",
			"Rate exceeded for shard "+shardID(sh)+" in stream "+s.cfg.Stream+" under account 000000000000.")
		return
	}
	limit := s.cfg.MaxPerResponse
	if in.Limit > 0 {
		limit = min(limit, in.Limit)
	}
	end := min(pos+limit, s.cfg.RecordsPerShard)
	bw := bufio.NewWriterSize(w, 256<<10)
	bw.WriteString(`{"Records":[`)
	ts := strconv.FormatInt(s.arrival(), 10) + ".123"
	var sq []byte
	for i := pos; i < end; i++ {
		if i > pos {
			bw.WriteByte(',')
		}
		bw.WriteString(`{"SequenceNumber":"`)
		sq = appendSeq(sq[:0], sh, i)
		bw.Write(sq)
		bw.WriteString(`","ApproximateArrivalTimestamp":`)
		bw.WriteString(ts)
		bw.WriteString(`,"Data":`)
		bw.Write(s.data[i%LogEvents])
		bw.WriteString(`,"PartitionKey":`)
		bw.Write(s.keys[i%LogEvents])
		bw.WriteString(`}`)
	}
	bw.WriteString(`],`)
	if end < s.cfg.RecordsPerShard || s.cfg.OpenShards {
		fmt.Fprintf(bw, `"NextShardIterator":"%d-%d",`, sh, end)
	}
	fmt.Fprintf(bw, `"MillisBehindLatest":%d}`, (s.cfg.RecordsPerShard-end)*10)
	bw.Flush()
}

func shardID(i int) string { return fmt.Sprintf("shardId-%012d", i) }

// seq returns record i of shard sh's sequence number: 56 digits.
func seq(sh, i int) string { return string(appendSeq(nil, sh, i)) }

// appendSeq appends record i of shard sh's sequence number: "4965", the shard in 12 digits,
// the index in 40.
func appendSeq(b []byte, sh, i int) []byte {
	b = append(b, "4965"...)
	b = appendPadded(b, sh, 12)
	return appendPadded(b, i, 40)
}

func appendPadded(b []byte, n, width int) []byte {
	var d [40]byte
	k := len(d)
	for n > 0 || k == len(d) {
		k--
		d[k] = byte('0' + n%10)
		n /= 10
	}
	for range width - (len(d) - k) {
		b = append(b, '0')
	}
	return append(b, d[k:]...)
}

// fail answers with an error of Kinesis: status, the error type in the X-Amzn-Errortype
// header and the body {"__type":typ,"message":msg}.
func fail(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("X-Amzn-Errortype", typ)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"__type":%q,"message":%q}`, typ, msg)
}
