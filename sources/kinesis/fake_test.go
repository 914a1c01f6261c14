package kinesis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// fakeAPI is an in-memory Kinesis for unit tests: deterministic, instant, and easy to reshard.
// Sequence numbers are 56 digits, increasing per stream.
type fakeAPI struct {
	mu      sync.Mutex
	streams map[string]*fakeStream
	seq     int64
	calls   map[string]int
	// hook, if set, may fail a call before it is served.
	hook func(op string, in any) error
}

type fakeStream struct {
	created time.Time
	shards  []*fakeShard
}

type fakeShard struct {
	id      string
	parents []string
	closed  bool
	recs    []types.Record
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{streams: map[string]*fakeStream{}, calls: map[string]int{}}
}

func (f *fakeAPI) create(name string, shards int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := &fakeStream{created: time.Now().Truncate(time.Millisecond)}
	for i := range shards {
		st.shards = append(st.shards, &fakeShard{id: fmt.Sprintf("shardId-%012d", i)})
	}
	f.streams[name] = st
}

// put appends records to a shard.
func (f *fakeAPI) put(stream, shard string, arrival time.Time, pk string, data ...[]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sh := f.streams[stream].shard(shard)
	if sh.closed {
		panic("put into a closed shard")
	}
	for _, d := range data {
		f.seq++
		seq := fmt.Sprintf("4960%052d", f.seq)
		sh.recs = append(sh.recs, types.Record{Data: d, PartitionKey: aws.String(pk), SequenceNumber: aws.String(seq), ApproximateArrivalTimestamp: aws.Time(arrival)})
	}
}

// split closes a shard and adds two children.
func (f *fakeAPI) split(stream, shard string) (a, b string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streams[stream]
	st.shard(shard).closed = true
	n := len(st.shards)
	a, b = fmt.Sprintf("shardId-%012d", n), fmt.Sprintf("shardId-%012d", n+1)
	st.shards = append(st.shards, &fakeShard{id: a, parents: []string{shard}}, &fakeShard{id: b, parents: []string{shard}})
	return a, b
}

// merge closes two shards and adds their child.
func (f *fakeAPI) merge(stream, s1, s2 string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streams[stream]
	st.shard(s1).closed = true
	st.shard(s2).closed = true
	c := fmt.Sprintf("shardId-%012d", len(st.shards))
	st.shards = append(st.shards, &fakeShard{id: c, parents: []string{s1, s2}})
	return c
}

func (f *fakeAPI) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (st *fakeStream) shard(id string) *fakeShard {
	for _, s := range st.shards {
		if s.id == id {
			return s
		}
	}
	return nil
}

func (f *fakeAPI) enter(op string, in any) error {
	f.mu.Lock()
	f.calls[op]++
	hook := f.hook
	f.mu.Unlock()
	if hook != nil {
		return hook(op, in)
	}
	return nil
}

func notFound(what string) error {
	return &types.ResourceNotFoundException{Message: aws.String(what + " not found")}
}

func (f *fakeAPI) DescribeStreamSummary(_ context.Context, in *kinesis.DescribeStreamSummaryInput, _ ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
	if err := f.enter("DescribeStreamSummary", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streams[aws.ToString(in.StreamName)]
	if st == nil {
		return nil, notFound("stream")
	}
	return &kinesis.DescribeStreamSummaryOutput{StreamDescriptionSummary: &types.StreamDescriptionSummary{
		StreamName: in.StreamName, StreamCreationTimestamp: aws.Time(st.created), StreamStatus: types.StreamStatusActive,
		OpenShardCount: aws.Int32(int32(len(st.shards)))}}, nil
}

// ListShards pages two shards at a time, with the NextToken rules of Kinesis.
func (f *fakeAPI) ListShards(_ context.Context, in *kinesis.ListShardsInput, _ ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	if err := f.enter("ListShards", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	name, from := aws.ToString(in.StreamName), 0
	if in.NextToken != nil {
		if in.StreamName != nil {
			return nil, &types.InvalidArgumentException{Message: aws.String("NextToken and StreamName cannot be provided together.")}
		}
		n, i, _ := strings.Cut(*in.NextToken, "|")
		name = n
		from, _ = strconv.Atoi(i)
	}
	st := f.streams[name]
	if st == nil {
		return nil, notFound("stream")
	}
	out := &kinesis.ListShardsOutput{}
	to := min(from+2, len(st.shards))
	for _, sh := range st.shards[from:to] {
		x := types.Shard{ShardId: aws.String(sh.id), SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("0")}}
		if len(sh.parents) > 0 {
			x.ParentShardId = aws.String(sh.parents[0])
		}
		if len(sh.parents) > 1 {
			x.AdjacentParentShardId = aws.String(sh.parents[1])
		}
		if sh.closed {
			x.SequenceNumberRange.EndingSequenceNumber = aws.String("9223372036854775807")
		}
		out.Shards = append(out.Shards, x)
	}
	if to < len(st.shards) {
		out.NextToken = aws.String(fmt.Sprintf("%s|%d", name, to))
	}
	return out, nil
}

func (f *fakeAPI) GetShardIterator(_ context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	if err := f.enter("GetShardIterator", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streams[aws.ToString(in.StreamName)]
	if st == nil {
		return nil, notFound("stream")
	}
	sh := st.shard(aws.ToString(in.ShardId))
	if sh == nil {
		return nil, notFound("shard")
	}
	i := 0
	switch in.ShardIteratorType {
	case types.ShardIteratorTypeTrimHorizon:
	case types.ShardIteratorTypeLatest:
		i = len(sh.recs)
	case types.ShardIteratorTypeAtTimestamp:
		for i < len(sh.recs) && sh.recs[i].ApproximateArrivalTimestamp.Before(*in.Timestamp) {
			i++
		}
	case types.ShardIteratorTypeAtSequenceNumber, types.ShardIteratorTypeAfterSequenceNumber:
		seq := aws.ToString(in.StartingSequenceNumber)
		for i < len(sh.recs) && cmpSeq(*sh.recs[i].SequenceNumber, seq) < 0 {
			i++
		}
		if in.ShardIteratorType == types.ShardIteratorTypeAfterSequenceNumber && i < len(sh.recs) {
			i++
		}
	}
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String(fmt.Sprintf("%s|%s|%d", aws.ToString(in.StreamName), sh.id, i))}, nil
}

func (f *fakeAPI) GetRecords(_ context.Context, in *kinesis.GetRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	if err := f.enter("GetRecords", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := strings.Split(aws.ToString(in.ShardIterator), "|")
	if len(parts) != 3 {
		return nil, &types.InvalidArgumentException{Message: aws.String("bad iterator")}
	}
	st := f.streams[parts[0]]
	if st == nil {
		return nil, notFound("stream")
	}
	sh := st.shard(parts[1])
	if sh == nil {
		return nil, notFound("shard")
	}
	i, _ := strconv.Atoi(parts[2])
	j := min(i+int(aws.ToInt32(in.Limit)), len(sh.recs))
	out := &kinesis.GetRecordsOutput{Records: append([]types.Record(nil), sh.recs[i:j]...)}
	behind := int64(0)
	if j < len(sh.recs) {
		behind = 1000
	}
	out.MillisBehindLatest = aws.Int64(behind)
	if !(sh.closed && j == len(sh.recs) && i == j) {
		out.NextShardIterator = aws.String(fmt.Sprintf("%s|%s|%d", parts[0], sh.id, j))
	}
	return out, nil
}
