package kinesis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// FuzzGetRecordsBody decodes any body through the hook: it never panics and never leaks, and
// whenever the SDK decodes the body too, both give the same answer. The hook refuses a few
// bodies the SDK takes (data after the answer; see allowedStricter).
func FuzzGetRecordsBody(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(randomBody(rand.New(rand.NewPCG(seed, 1))))
	}
	f.Add(fakeBody(f, 0, 3, 20))
	for _, s := range []string{``, `null`, `{}`, `{"Records":[null,{}]}`, `{"Records":[{"Data":"84maw"}]}`,
		`{"Records":[{"PartitionKey":"\ud83d\ude00\ud800","Data":"AA\/A"}]}`, `{"Records":[{"ApproximateArrivalTimestamp":"Infinity"}]}`,
		`{"X":[{"a":[]},{}],"Records":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		got, err := viaHook(t, mem, body, trimHorizon(), trimHorizon(), nil)
		if err == nil {
			defer got.blk.release()
		}
		sdkOut, sdk, sdkErr := viaSDK(t, mem, body, trimHorizon(), trimHorizon(), nil)
		if sdkErr == nil {
			defer sdk.blk.release()
		}
		switch {
		case err == nil && sdkErr == nil:
			if d := sameAnswer(sdkOut, sdk, got); d != "" {
				t.Errorf("%q:\n%s", body, d)
			}
		case err == nil:
			t.Errorf("%q: the hook takes a body the SDK refuses (%v)", body, sdkErr)
		case sdkErr == nil && !allowedStricter(body):
			t.Errorf("%q: the hook refuses a body the SDK takes: %v", body, err)
		}
	})
}

// allowedStricter reports whether the hook may refuse a body that the SDK takes: one with data
// after the answer (the SDK stops reading after it), or nested deeper than both allow (they
// count the depth from different places).
func allowedStricter(body []byte) bool {
	var v any
	d := json.NewDecoder(bytes.NewReader(body))
	if d.Decode(&v) == nil && len(bytes.Trim(body[d.InputOffset():], " \t\r\n")) > 0 {
		return true
	}
	return bytes.Count(body, []byte("[")) > maxDepth-10 || bytes.Count(body, []byte("{")) > maxDepth-10
}

// FuzzGetRecordsRecords writes random answers as Kinesis would (encoding/json, members in any
// order, unknown members, escapes, KPL aggregates, nulls) and checks that the hook decodes
// them exactly as the SDK and the decoder before it did.
func FuzzGetRecordsRecords(f *testing.F) {
	for seed := range uint64(20) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 2))
		body := randomBody(rng)
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		sdkOut, sdk, err := viaSDK(t, mem, body, trimHorizon(), trimHorizon(), nil)
		if err != nil {
			t.Fatalf("the SDK: %v\n%s", err, body)
		}
		defer sdk.blk.release()
		got, err := viaHook(t, mem, body, trimHorizon(), trimHorizon(), nil)
		if err != nil {
			t.Fatalf("the hook: %v\n%s", err, body)
		}
		defer got.blk.release()
		if d := sameAnswer(sdkOut, sdk, got); d != "" {
			t.Errorf("%s\n%s", body, d)
		}
	})
}

// randomBody writes a random GetRecords answer.
func randomBody(rng *rand.Rand) []byte {
	recs := randomRecords(rng)
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	member := func(key string) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(jsonKey(rng, key))
		b.WriteByte(':')
	}
	for _, m := range rng.Perm(6) {
		switch m {
		case 0:
			member("Records")
			b.WriteByte('[')
			for i := range recs {
				if i > 0 {
					b.WriteByte(',')
				}
				writeRecord(rng, &b, &recs[i])
			}
			b.WriteByte(']')
		case 1:
			if rng.IntN(4) > 0 {
				member("NextShardIterator")
				b.Write(jsonString(rng, randomString(rng, 30)))
			}
		case 2:
			if rng.IntN(4) > 0 {
				member("MillisBehindLatest")
				b.WriteString(strconv.Itoa(rng.IntN(100000)))
			}
		case 3:
			if rng.IntN(4) == 0 {
				member("ChildShards")
				b.WriteString(`[{"ShardId":"shardId-000000000009","ParentShards":["shardId-000000000001","shardId-000000000002"],"HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"340282366920938463463374607431768211455"}}]`)
			}
		default:
			if rng.IntN(3) == 0 {
				member(randomString(rng, 8) + "x")
				b.Write(randomValue(rng, 3))
			}
		}
	}
	b.WriteByte('}')
	if rng.IntN(3) == 0 {
		var ind bytes.Buffer
		if json.Indent(&ind, b.Bytes(), " ", "\t") == nil {
			return ind.Bytes()
		}
	}
	return b.Bytes()
}

func writeRecord(rng *rand.Rand, b *bytes.Buffer, r *types.Record) {
	if rng.IntN(40) == 0 {
		b.WriteString("null")
		return
	}
	b.WriteByte('{')
	first := true
	member := func(key string) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(jsonKey(rng, key))
		b.WriteByte(':')
	}
	for _, m := range rng.Perm(6) {
		switch m {
		case 0:
			if r.SequenceNumber != nil {
				member("SequenceNumber")
				b.Write(jsonString(rng, *r.SequenceNumber))
			}
		case 1:
			if r.PartitionKey != nil {
				member("PartitionKey")
				b.Write(jsonString(rng, *r.PartitionKey))
			} else if rng.IntN(2) == 0 {
				member("PartitionKey")
				b.WriteString("null")
			}
		case 2:
			if r.ApproximateArrivalTimestamp != nil {
				member("ApproximateArrivalTimestamp")
				sec := float64(r.ApproximateArrivalTimestamp.UnixMilli()) / 1000
				switch rng.IntN(4) {
				case 0:
					b.WriteString(strconv.FormatFloat(sec, 'f', -1, 64))
				case 1:
					b.WriteString(strconv.FormatFloat(sec, 'E', -1, 64))
				case 2:
					b.WriteString(strconv.FormatFloat(sec, 'e', 12, 64))
				default:
					b.WriteString(strconv.FormatInt(r.ApproximateArrivalTimestamp.Unix(), 10))
				}
			}
		case 3:
			if r.Data == nil {
				if rng.IntN(2) == 0 {
					member("Data")
					b.WriteString("null")
				}
				break
			}
			member("Data")
			d, _ := json.Marshal(r.Data)
			switch rng.IntN(8) {
			case 0:
				d = bytes.ReplaceAll(d, []byte("/"), []byte(`\/`))
			case 1:
				d = bytes.ReplaceAll(d, []byte("A"), []byte(`\u0041`))
			}
			b.Write(d)
		case 4:
			if rng.IntN(4) == 0 {
				member("EncryptionType")
				b.WriteString([]string{`"KMS"`, `"NONE"`, `null`}[rng.IntN(3)])
			}
		default:
			if rng.IntN(4) == 0 {
				member(randomString(rng, 8) + "y")
				b.Write(randomValue(rng, 3))
			}
		}
	}
	b.WriteByte('}')
}

// jsonKey writes a member name; a name of letters sometimes has its second one escaped.
func jsonKey(rng *rand.Rand, key string) string {
	letters := len(key) > 1 && strings.Trim(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == ""
	if letters && rng.IntN(10) == 0 {
		return fmt.Sprintf(`"%s\u%04x%s"`, key[:1], key[1], key[2:])
	}
	return string(jsonString(rng, key))
}

// jsonString writes s as a JSON string, escaping HTML characters or not.
func jsonString(rng *rand.Rand, s string) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(rng.IntN(2) == 0)
	e.Encode(s)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// randomValue returns a random JSON value nested up to depth.
func randomValue(rng *rand.Rand, depth int) []byte {
	var v any
	var build func(d int) any
	build = func(d int) any {
		switch rng.IntN(7) {
		case 0:
			return nil
		case 1:
			return rng.IntN(2) == 0
		case 2:
			return rng.NormFloat64() * 1e6
		case 3:
			return randomString(rng, 10)
		case 4:
			if d > 0 {
				var l []any
				for range rng.IntN(4) {
					l = append(l, build(d-1))
				}
				return l
			}
		case 5:
			if d > 0 {
				m := map[string]any{}
				for range rng.IntN(4) {
					m[randomString(rng, 5)] = build(d - 1)
				}
				return m
			}
		}
		return strings.Repeat("z", rng.IntN(3))
	}
	v = build(depth)
	out, _ := json.Marshal(v)
	return out
}
