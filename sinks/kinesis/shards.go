package kinesis

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"math/big"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// hashKey is a 128-bit Kinesis hash key, big-endian.
type hashKey [16]byte

// partitionKeyHash is the hash key Kinesis derives from a partition key: the MD5 of its UTF-8
// bytes read as a big-endian integer.
func partitionKeyHash(pk string) hashKey { return md5.Sum([]byte(pk)) }

// parseHashKey parses a decimal hash key (an explicit hash key, or a shard's range bound).
func parseHashKey(s string) (hashKey, bool) {
	var h hashKey
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Sign() < 0 || n.BitLen() > 128 {
		return h, false
	}
	n.FillBytes(h[:])
	return h, true
}

// recordHash is the hash key that places a record: its explicit hash key if it has one
// (already validated), else its partition key's.
func recordHash(pk, ehk string) hashKey {
	if ehk != "" {
		if h, ok := parseHashKey(ehk); ok {
			return h
		}
	}
	return partitionKeyHash(pk)
}

// shardRange is an open shard and its hash key range, inclusive.
type shardRange struct {
	id         string
	start, end hashKey
}

func (r shardRange) contains(h hashKey) bool {
	return bytes.Compare(h[:], r.start[:]) >= 0 && bytes.Compare(h[:], r.end[:]) <= 0
}

// shardMap is a stream's open shards, by ascending start of range. version counts the
// refreshes, so that a stale prediction is detected once.
type shardMap struct {
	shards  []shardRange
	version int
}

// lookup returns the open shard whose range holds h.
func (m *shardMap) lookup(h hashKey) (shardRange, bool) {
	i := sort.Search(len(m.shards), func(i int) bool { return bytes.Compare(m.shards[i].start[:], h[:]) > 0 }) - 1
	if i < 0 || !m.shards[i].contains(h) {
		return shardRange{}, false
	}
	return m.shards[i], true
}

// byID returns the shard with the given ID.
func (m *shardMap) byID(id string) (shardRange, bool) {
	for _, s := range m.shards {
		if s.id == id {
			return s, true
		}
	}
	return shardRange{}, false
}

// listOpenShards lists the stream's open shards (those without an ending sequence number).
// Pages after the first send only NextToken, as ListShards requires; ShardFilter is not used
// (kinesalite ignores it), open shards are picked here.
func listOpenShards(ctx context.Context, api API, o *Options) ([]shardRange, error) {
	in := &awskinesis.ListShardsInput{}
	if o.StreamARN != "" {
		in.StreamARN = aws.String(o.StreamARN)
	} else {
		in.StreamName = aws.String(o.StreamName)
	}
	var out []shardRange
	for {
		page, err := api.ListShards(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, s := range page.Shards {
			if s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil {
				continue // closed
			}
			if s.HashKeyRange == nil {
				continue
			}
			start, ok1 := parseHashKey(aws.ToString(s.HashKeyRange.StartingHashKey))
			end, ok2 := parseHashKey(aws.ToString(s.HashKeyRange.EndingHashKey))
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("shard %s has an invalid hash key range %q..%q", aws.ToString(s.ShardId),
					aws.ToString(s.HashKeyRange.StartingHashKey), aws.ToString(s.HashKeyRange.EndingHashKey))
			}
			out = append(out, shardRange{id: aws.ToString(s.ShardId), start: start, end: end})
		}
		if page.NextToken == nil {
			break
		}
		in = &awskinesis.ListShardsInput{NextToken: page.NextToken}
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].start[:], out[j].start[:]) < 0 })
	return out, nil
}
