package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"golang.org/x/sync/errgroup"
)

// logEvent is the struct the hand-written consumer decodes each record into.
type logEvent struct {
	User  string `json:"user"`
	Level string `json:"level"`
	Msg   string `json:"msg"`
}

// handWritten is baseline (a), the consumer a Go user would write without Sluice: the
// aws-sdk-go-v2 Kinesis client with its default configuration, ListShards, then per shard (a
// goroutine each) GetShardIterator(TRIM_HORIZON) and a GetRecords loop until the shard ends;
// each record decoded by encoding/json into a struct, a plain if on its level, and the user and
// message of the errors written to a bufio.Writer over io.Discard. It does what pipeline 2 does.
func handWritten(ctx context.Context, e *env) error {
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("bench", "bench", "")),
		awsconfig.WithBaseEndpoint(e.endpoint))
	if err != nil {
		return err
	}
	client := awskinesis.NewFromConfig(cfg)
	if e.res.Plan == "" {
		e.res.Plan = "aws-sdk-go-v2 GetRecords loop per shard, encoding/json into a struct, if ev.Level == \"error\", bufio.Writer to io.Discard"
	}
	var records, data, kept atomic.Int64
	err = e.measure(func() error {
		shards, err := client.ListShards(ctx, &awskinesis.ListShardsInput{StreamName: aws.String(streamName)})
		if err != nil {
			return err
		}
		g, ctx := errgroup.WithContext(ctx)
		for _, sh := range shards.Shards {
			g.Go(func() error {
				it, err := client.GetShardIterator(ctx, &awskinesis.GetShardIteratorInput{
					StreamName: aws.String(streamName), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
				if err != nil {
					return err
				}
				w := bufio.NewWriter(io.Discard)
				var n, d, k int64
				for next := it.ShardIterator; next != nil; {
					out, err := getRecords(ctx, client, next)
					if err != nil {
						return err
					}
					for _, r := range out.Records {
						var ev logEvent
						if err := json.Unmarshal(r.Data, &ev); err != nil {
							return fmt.Errorf("record %s: %w", aws.ToString(r.SequenceNumber), err)
						}
						n++
						d += int64(len(r.Data))
						if ev.Level == "error" {
							k++
							w.WriteString(ev.User)
							w.WriteByte('\t')
							w.WriteString(ev.Msg)
							w.WriteByte('\n')
						}
					}
					next = out.NextShardIterator
				}
				records.Add(n)
				data.Add(d)
				kept.Add(k)
				return w.Flush()
			})
		}
		return g.Wait()
	})
	if err != nil {
		return err
	}
	if err := e.check(records.Load(), data.Load()); err != nil {
		return err
	}
	return e.checkOut("the if kept", kept.Load(), e.stats.Errors)
}

// getRecords calls GetRecords, again after the SDK's "use of closed network connection" race
// on fast loopback endpoints (see internal/awshttp), which its default retryer does not retry.
func getRecords(ctx context.Context, client *awskinesis.Client, it *string) (*awskinesis.GetRecordsOutput, error) {
	for try := 1; ; try++ {
		out, err := client.GetRecords(ctx, &awskinesis.GetRecordsInput{ShardIterator: it})
		if err != nil && try < 5 && strings.Contains(err.Error(), "use of closed network connection") {
			continue
		}
		return out, err
	}
}

// decodeLimit is baseline (c), the decode limit: per shard (a goroutine each), the same
// GetShardIterator and GetRecords calls as the source's, over plain HTTP (net/http, no signing,
// no SDK), each answer read into a reused buffer, and the Data field of every record found with
// bytes.Index and base64-decoded into a reused buffer. Nothing else is done with the records;
// no consumer that gets the bytes of every record can do less.
func decodeLimit(ctx context.Context, e *env) error {
	if e.res.Plan == "" {
		e.res.Plan = "net/http GetRecords per shard, bytes.Index for each \"Data\", base64.StdEncoding.Decode into a reused buffer"
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}}
	defer hc.CloseIdleConnections()
	// The buffers are kept from one round to the next, as a long-running loop keeps them.
	if e.scratch == nil {
		e.scratch = make(chan *scratch, 1024)
	}
	get := func() *scratch {
		select {
		case s := <-e.scratch:
			return s
		default:
			return new(scratch)
		}
	}
	put := func(s *scratch) {
		select {
		case e.scratch <- s:
		default:
		}
	}
	var records, data atomic.Int64
	err := e.measure(func() error {
		var shards struct{ Shards []struct{ ShardId string } }
		if err := call(ctx, hc, e.endpoint, "ListShards", fmt.Sprintf(`{"StreamName":%q}`, streamName), nil, &shards); err != nil {
			return err
		}
		g, ctx := errgroup.WithContext(ctx)
		for _, sh := range shards.Shards {
			g.Go(func() error {
				var it struct{ ShardIterator string }
				if err := call(ctx, hc, e.endpoint, "GetShardIterator",
					fmt.Sprintf(`{"StreamName":%q,"ShardId":%q,"ShardIteratorType":"TRIM_HORIZON"}`, streamName, sh.ShardId), nil, &it); err != nil {
					return err
				}
				sc := get()
				defer put(sc)
				var n, d int64
				for next := it.ShardIterator; next != ""; {
					sc.body.Reset()
					if err := call(ctx, hc, e.endpoint, "GetRecords", `{"ShardIterator":"`+next+`","Limit":10000}`, &sc.body, nil); err != nil {
						return err
					}
					var rn, rd int64
					var err error
					rn, rd, next, sc.dst, err = scanRecords(sc.body.Bytes(), sc.dst)
					if err != nil {
						return err
					}
					n += rn
					d += rd
				}
				records.Add(n)
				data.Add(d)
				return nil
			})
		}
		return g.Wait()
	})
	if err != nil {
		return err
	}
	return e.check(records.Load(), data.Load())
}

// scratch is the memory of the decode limit's loop over one shard.
type scratch struct {
	body bytes.Buffer // a GetRecords answer
	dst  []byte       // a record's decoded data
}

// call makes a Kinesis JSON 1.1 call: the answer goes into body if it is not nil, else it is
// decoded into out.
func call(ctx context.Context, hc *http.Client, endpoint, op, in string, body *bytes.Buffer, out any) error {
	req, err := http.NewRequestWithContext(ctx, "POST", endpoint, strings.NewReader(in))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "Kinesis_20131202."+op)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s: %s", op, resp.Status, msg)
	}
	if body != nil {
		_, err = body.ReadFrom(resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

var (
	dataKey = []byte(`"Data":"`)
	nextKey = []byte(`"NextShardIterator":"`)
)

// scanRecords finds the Data fields of a GetRecords answer and base64-decodes each into dst,
// which it returns for reuse. It returns the number of records, their decoded bytes and the
// next shard iterator ("" at the end of the shard).
func scanRecords(body, dst []byte) (records, dataBytes int64, next string, _ []byte, _ error) {
	rest := body
	for {
		i := bytes.Index(rest, dataKey)
		if i < 0 {
			break
		}
		rest = rest[i+len(dataKey):]
		j := bytes.IndexByte(rest, '"')
		if j < 0 {
			return 0, 0, "", dst, errors.New("GetRecords: unterminated Data")
		}
		enc := rest[:j]
		if n := base64.StdEncoding.DecodedLen(len(enc)); cap(dst) < n {
			dst = make([]byte, n)
		}
		n, err := base64.StdEncoding.Decode(dst[:cap(dst)], enc)
		if err != nil {
			return 0, 0, "", dst, fmt.Errorf("GetRecords: Data: %w", err)
		}
		records++
		dataBytes += int64(n)
		rest = rest[j+1:]
	}
	// The next iterator follows the records.
	if i := bytes.Index(rest, nextKey); i >= 0 {
		s := rest[i+len(nextKey):]
		j := bytes.IndexByte(s, '"')
		if j < 0 {
			return 0, 0, "", dst, errors.New("GetRecords: unterminated NextShardIterator")
		}
		next = string(s[:j])
	}
	return records, dataBytes, next, dst, nil
}
