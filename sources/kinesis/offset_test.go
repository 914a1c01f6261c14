package kinesis

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicedev/sluice/internal/golden"
)

var cmpPos = cmp.AllowUnexported(position{}, offset{}, streamOffset{})

func sampleOffset() *offset {
	return &offset{streams: map[string]*streamOffset{
		"orders": {createdMs: 1700000000123, shards: map[string]position{
			"shardId-000000000000": after("49650000000000000000000000000000000000000000000000000001", 0),
			"shardId-000000000001": after("49650000000000000000000000000000000000000000000000000002", 3),
			"shardId-000000000002": atTimestamp(1700000100000),
			"shardId-000000000003": trimHorizon(),
			"shardId-000000000004": closedPos(),
		}},
		"arn:aws:kinesis:us-east-1:123456789012:stream/refunds": {createdMs: 1600000000000, shards: map[string]position{}},
	}}
}

// TestOffsetFormat pins the offset JSON (golden) and checks that it round-trips.
func TestOffsetFormat(t *testing.T) {
	o := sampleOffset()
	enc := o.encode()
	golden.Check(t, "offset.json", string(enc)+"\n")
	for range 10 { // map order must not matter
		if again := sampleOffset().encode(); !bytes.Equal(again, enc) {
			t.Fatalf("encoding is not canonical:\n%s\n%s", enc, again)
		}
	}
	dec, err := decodeOffset(enc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(o, dec, cmpPos); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if got := dec.startOf("orders", "shardId-000000000099"); got != trimHorizon() {
		t.Errorf("a shard the offset does not hold starts at %s", got)
	}
}

func TestDecodeOffsetErrors(t *testing.T) {
	for _, in := range []string{
		``, `null`, `[]`, `{}`, `{"version":2,"streams":{}}`, `{"version":1}`,
		`{"version":1,"streams":{}} {}`,
		`{"version":1,"streams":{},"extra":1}`,
		`{"version":1,"streams":{"a":null}}`,
		`{"version":1,"streams":{"a":{"createdMs":0,"shards":{}}}}`,
		`{"version":1,"streams":{"a":{"createdMs":1,"shards":{"s":{"pos":"later"}}}}}`,
		`{"version":1,"streams":{"a":{"createdMs":1,"shards":{"s":{"pos":"after"}}}}}`,
		`{"version":1,"streams":{"a":{"createdMs":1,"shards":{"s":{"pos":"after","seq":"012"}}}}}`,
		`{"version":1,"streams":{"a":{"createdMs":1,"shards":{"s":{"pos":"after","seq":"12a"}}}}}`,
		`{"version":1,"streams":{"a":{"createdMs":1,"shards":{"s":{"pos":"after","seq":"12","sub":-1}}}}}`,
		`{"version":1,"streams":{"a":{"createdMs":1,"shards":{"s":{"pos":"at_timestamp"}}}}}`,
		`{"version":1,"streams":{"a":{"createdMs":1,"shards":{"s":{"pos":"closed","seq":"1"}}}}}`,
		`{"version":1,"streams":{"a":{"createdMs":1,"shards":{"s":{"pos":"trim_horizon","sub":1}}}}}`,
		`{"version":1,"streams":{"a":{"createdMs":1,"shards":{"":{"pos":"closed"}}}}}`,
	} {
		if _, err := decodeOffset([]byte(in)); !errors.Is(err, errBadOffset) {
			t.Errorf("decodeOffset(%s) = %v, want errBadOffset", in, err)
		}
	}
}

func TestPositionOrder(t *testing.T) {
	s1, s2 := "49650000000000000000000000000000000000000000000000000009", "49650000000000000000000000000000000000000000000000000010"
	ordered := []position{trimHorizon(), after(s1, 0), after(s1, 1), after(s1, 7), after(s2, 0), after("1"+s2, 0), closedPos()}
	for i, p := range ordered {
		for j, q := range ordered {
			if got := p.before(q); got != (i < j) {
				t.Errorf("%s.before(%s) = %v", p, q, got)
			}
		}
	}
	if atTimestamp(5).before(trimHorizon()) || trimHorizon().before(atTimestamp(5)) {
		t.Error("unread positions are ordered")
	}
	if !after(s1, 1).covers(s1, 1) || after(s1, 1).covers(s1, 2) || !after(s1, 1).covers(s1, 0) || after(s1, 1).covers(s2, 0) {
		t.Error("covers")
	}
	if trimHorizon().covers(s1, 0) || !closedPos().covers(s2, 5) {
		t.Error("covers of trim horizon or closed")
	}
}

func FuzzDecodeOffset(f *testing.F) {
	f.Add([]byte(sampleOffset().encode()))
	f.Add([]byte(`{"version":1,"streams":{"a":{"createdMs":1,"shards":{"s":{"pos":"after","seq":"12","sub":1}}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := decodeOffset(b)
		if err != nil {
			return
		}
		// Whatever decodes encodes to something that decodes to the same offset.
		o2, err := decodeOffset(o.encode())
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !cmp.Equal(o, o2, cmpPos) {
			t.Fatalf("round trip differs")
		}
	})
}
