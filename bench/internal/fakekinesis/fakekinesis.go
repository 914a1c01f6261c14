// Package fakekinesis is an in-process Kinesis Data Streams server for benchmarks: it speaks
// the JSON 1.1 protocol of aws-sdk-go-v2 (ListShards, DescribeStreamSummary, GetShardIterator,
// GetRecords) over HTTP and serves pre-generated records as fast as it can write them, so that
// a benchmark measures the client, not the server. It checks no signatures and never throttles
// unless Config.ThrottleEvery asks it to.
//
// Each shard holds Config.RecordsPerShard records. Their data is one of a few hundred
// pre-generated JSON events of about Config.RecordSize bytes, base64-encoded once at Start;
// sequence numbers are 56-digit decimals that increase within a shard. A GetRecords answer
// carries up to Config.MaxPerResponse (at most 10,000) records and MillisBehindLatest.
package fakekinesis

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Config describes the fake stream.
type Config struct {
	// Stream is the stream's name (default "bench").
	Stream string
	// Shards is the number of open shards (default 1).
	Shards int
	// RecordsPerShard is how many records each shard holds (default 10,000).
	RecordsPerShard int
	// RecordSize is the approximate size of each record's data in bytes (default 1,000).
	RecordSize int
	// MaxPerResponse caps the records of one GetRecords answer (default and maximum 10,000).
	MaxPerResponse int
	// ThrottleEvery, if positive, answers every n-th GetRecords call with
	// ProvisionedThroughputExceededException.
	ThrottleEvery int
}

// Server is a running fake Kinesis.
type Server struct {
	// URL is the endpoint, e.g. http://127.0.0.1:40000.
	URL string

	cfg     Config
	srv     *httptest.Server
	created time.Time
	// data holds the base64 data of the pre-generated events, each already a JSON string
	// literal with its quotes.
	data [][]byte
	// Calls counts GetRecords calls; Throttled counts those answered with a throttling error.
	Calls, Throttled atomic.Int64
}

// Start starts a server; Close stops it.
func Start(cfg Config) *Server {
	if cfg.Stream == "" {
		cfg.Stream = "bench"
	}
	cfg.Shards = max(cfg.Shards, 1)
	if cfg.RecordsPerShard <= 0 {
		cfg.RecordsPerShard = 10000
	}
	if cfg.RecordSize <= 0 {
		cfg.RecordSize = 1000
	}
	if cfg.MaxPerResponse <= 0 || cfg.MaxPerResponse > 10000 {
		cfg.MaxPerResponse = 10000
	}
	s := &Server{cfg: cfg, created: time.UnixMilli(1700000000000)}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 256 {
		s.data = append(s.data, []byte(strconv.Quote(base64.StdEncoding.EncodeToString(event(rng, i, cfg.RecordSize)))))
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Records returns the total number of records of the stream.
func (s *Server) Records() int { return s.cfg.Shards * s.cfg.RecordsPerShard }

// event returns a JSON event of about size bytes.
func event(rng *rand.Rand, i, size int) []byte {
	const words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa"
	ev := map[string]any{
		"eventId":   fmt.Sprintf("%08x-%04x", rng.Uint32(), i),
		"type":      []string{"click", "view", "purchase", "signup"}[i%4],
		"userId":    rng.IntN(1_000_000),
		"amount":    float64(rng.IntN(100000)) / 100,
		"timestamp": "2026-11-22T05:00:00.000Z",
	}
	b, _ := json.Marshal(ev)
	pad := max(size-len(b)-12, 0)
	var sb strings.Builder
	for sb.Len() < pad {
		sb.WriteString(words)
		sb.WriteByte(' ')
	}
	ev["note"] = sb.String()[:pad]
	b, _ = json.Marshal(ev)
	return b
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

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
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
	default:
		fail(w, 400, "UnknownOperationException", "fakekinesis does not implement "+op)
	}
}

func fail(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("X-Amzn-Errortype", typ)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"__type":%q,"message":%q}`, typ, msg)
}

func (s *Server) streamOK(w http.ResponseWriter, name, arn string) bool {
	if name != s.cfg.Stream && !strings.HasSuffix(arn, "/"+s.cfg.Stream) {
		fail(w, 400, "ResourceNotFoundException", "Stream "+name+" not found")
		return false
	}
	return true
}

func (s *Server) describe(w http.ResponseWriter, body []byte) {
	var in struct{ StreamName, StreamARN string }
	json.Unmarshal(body, &in)
	if !s.streamOK(w, in.StreamName, in.StreamARN) {
		return
	}
	fmt.Fprintf(w, `{"StreamDescriptionSummary":{"StreamName":%q,"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/%s","StreamStatus":"ACTIVE","StreamCreationTimestamp":%d.%03d,"RetentionPeriodHours":24,"OpenShardCount":%d,"EnhancedMonitoring":[]}}`,
		s.cfg.Stream, s.cfg.Stream, s.created.Unix(), s.created.Nanosecond()/1e6, s.cfg.Shards)
}

func (s *Server) listShards(w http.ResponseWriter, body []byte) {
	var in struct{ StreamName, StreamARN, NextToken string }
	json.Unmarshal(body, &in)
	if in.NextToken == "" && !s.streamOK(w, in.StreamName, in.StreamARN) {
		return
	}
	var b strings.Builder
	b.WriteString(`{"Shards":[`)
	for i := range s.cfg.Shards {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"ShardId":%q,"HashKeyRange":{"StartingHashKey":"%d","EndingHashKey":"%d"},"SequenceNumberRange":{"StartingSequenceNumber":%q}}`,
			shardID(i), i, i, seq(i, 0))
	}
	b.WriteString(`]}`)
	io.WriteString(w, b.String())
}

func (s *Server) getShardIterator(w http.ResponseWriter, body []byte) {
	var in struct{ StreamName, StreamARN, ShardId, ShardIteratorType, StartingSequenceNumber string }
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
	case "LATEST":
		pos = s.cfg.RecordsPerShard
	case "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER":
		if len(in.StartingSequenceNumber) != 56 {
			fail(w, 400, "InvalidArgumentException", "bad sequence number")
			return
		}
		n, err := strconv.ParseInt(in.StartingSequenceNumber[16:], 10, 64)
		if err != nil {
			fail(w, 400, "InvalidArgumentException", "bad sequence number")
			return
		}
		pos = int(n)
		if in.ShardIteratorType == "AFTER_SEQUENCE_NUMBER" {
			pos++
		}
	}
	fmt.Fprintf(w, `{"ShardIterator":"%d-%d"}`, sh, pos)
}

func (s *Server) getRecords(w http.ResponseWriter, body []byte) {
	var in struct {
		ShardIterator string
		Limit         int
	}
	json.Unmarshal(body, &in)
	n := s.Calls.Add(1)
	if s.cfg.ThrottleEvery > 0 && n%int64(s.cfg.ThrottleEvery) == 0 {
		s.Throttled.Add(1)
		fail(w, 400, "ProvisionedThroughputExceededException", "Rate exceeded for shard")
		return
	}
	a, b, ok := strings.Cut(in.ShardIterator, "-")
	sh, err1 := strconv.Atoi(a)
	pos, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || sh < 0 || sh >= s.cfg.Shards {
		fail(w, 400, "InvalidArgumentException", "Invalid ShardIterator.")
		return
	}
	limit := s.cfg.MaxPerResponse
	if in.Limit > 0 {
		limit = min(limit, in.Limit)
	}
	end := min(pos+limit, s.cfg.RecordsPerShard)
	bw := bufio.NewWriterSize(w, 256<<10)
	bw.WriteString(`{"Records":[`)
	ts := strconv.FormatInt(s.created.Unix()+60, 10) + ".123"
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
		bw.Write(s.data[i%len(s.data)])
		bw.WriteString(`,"PartitionKey":"user-`)
		sq = strconv.AppendInt(sq[:0], int64(i%1000), 10)
		bw.Write(sq)
		bw.WriteString(`"}`)
	}
	fmt.Fprintf(bw, `],"NextShardIterator":"%d-%d","MillisBehindLatest":%d}`, sh, end, (s.cfg.RecordsPerShard-end)*10)
	bw.Flush()
}
