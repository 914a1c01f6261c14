package kpl

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// vectorDir holds the KPL vectors (a copy of the team's shared vectors, so that a fresh clone
// tests on its own); see its README.md.
const vectorDir = "testdata/vectors"

// userRecord is what a consumer sees: one user record of a Kinesis record.
type userRecord struct {
	SubSequenceNumber int     `json:"subSequenceNumber"`
	PartitionKey      string  `json:"partitionKey"`
	ExplicitHashKey   *string `json:"explicitHashKey"`
	Data              []byte  `json:"dataBase64"`
}

// vector is a NAME.json sidecar.
type vector struct {
	Name           string `json:"name"`
	File           string `json:"file"`
	SizeBytes      int    `json:"sizeBytes"`
	SHA256         string `json:"sha256"`
	MagicHex       string `json:"magicHex"`
	ProtobufLength int    `json:"protobufLength"`
	MD5TrailerHex  string `json:"md5TrailerHex"`
	MD5OfProtobuf  string `json:"md5OfProtobufHex"`
	OuterRecord    *struct {
		PartitionKey    string  `json:"partitionKey"`
		ExplicitHashKey *string `json:"explicitHashKey"`
	} `json:"outerRecord"`
	// BytesMatchIntendedInput is false when the generator's encoder wrote other keys than it
	// was given; outerRecord then holds the intended first key, not the first key in the bytes.
	BytesMatchIntendedInput *bool        `json:"bytesMatchIntendedInput"`
	PartitionKeyTable       []string     `json:"partitionKeyTable"`
	ExplicitHashKeyTable    []string     `json:"explicitHashKeyTable"`
	UserRecords             []userRecord `json:"userRecords"`         // agg-*
	ExpectedWhenLenient     []userRecord `json:"expectedWhenLenient"` // neg-bad-md5
	Expected                []userRecord `json:"expected"`            // neg-plain
}

// deliver returns the user records a consumer sees for one Kinesis record with the given data
// and partition key, applying the pass-through rule the way the Kinesis source does.
func deliver(data []byte, outerKey string) ([]userRecord, error) {
	var got []userRecord
	n, err := Deaggregate(data, func(sub int, pk, ehk string, payload []byte) error {
		got = append(got, userRecord{sub, pk, optional(ehk), payload})
		return nil
	})
	if errors.Is(err, ErrNotAggregated) {
		if n != 0 || got != nil {
			return nil, errors.New("fn called before ErrNotAggregated")
		}
		return []userRecord{{0, outerKey, nil, data}}, nil
	}
	if err == nil && n != len(got) {
		return nil, errors.New("n differs from the number of calls")
	}
	return got, err
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// cmpRecords compares byte slices with bytes.Equal (fast, and nil equals empty) and treats other
// empty and nil slices as equal.
var cmpRecords = cmp.Options{
	cmp.Comparer(bytes.Equal),
	cmp.FilterPath(func(p cmp.Path) bool { return p.Last().Type() != reflect.TypeFor[[]byte]() }, cmpopts.EquateEmpty()),
}

func readVector(t *testing.T, name string) (vector, []byte) {
	t.Helper()
	js, err := os.ReadFile(filepath.Join(vectorDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatalf("%s.json: %v", name, err)
	}
	data, err := os.ReadFile(filepath.Join(vectorDir, v.File))
	if err != nil {
		t.Fatal(err)
	}
	return v, data
}

func TestVectors(t *testing.T) {
	tests := []struct {
		name string
		// outerKey is the Kinesis record's partition key; the neg-* sidecars name it only
		// in their expected output.
		outerKey   string
		aggregated bool
	}{
		{name: "agg-1-single", aggregated: true},
		{name: "agg-100x1k", aggregated: true},
		{name: "agg-5-distinct-pk-ehk", aggregated: true},
		{name: "agg-empty-data", aggregated: true},
		{name: "agg-numeric-pk", aggregated: true},
		{name: "agg-shared-pk-mixed-ehk", aggregated: true},
		{name: "neg-bad-md5", outerKey: "pk-0"}, // agg-5-distinct-pk-ehk with a flipped MD5 byte
		{name: "neg-plain", outerKey: "<outer>"},
	}

	// Every vector in the directory is covered, so a new one cannot be skipped silently.
	files, err := filepath.Glob(filepath.Join(vectorDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors in %s (err %v)", vectorDir, err)
	}
	var names, covered []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	for _, tt := range tests {
		covered = append(covered, tt.name)
	}
	slices.Sort(covered)
	if diff := cmp.Diff(names, covered); diff != "" {
		t.Fatalf("vectors in %s (-) versus vectors tested (+):\n%s", vectorDir, diff)
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, data := readVector(t, tt.name)
			if v.SizeBytes != 0 && v.SizeBytes != len(data) {
				t.Errorf("%s is %d bytes, sidecar says %d", v.File, len(data), v.SizeBytes)
			}
			if sum := sha256.Sum256(data); v.SHA256 != "" && hex.EncodeToString(sum[:]) != v.SHA256 {
				t.Errorf("%s sha256 %x, sidecar says %s", v.File, sum, v.SHA256)
			}

			want := v.UserRecords
			outerKey := tt.outerKey
			if tt.aggregated {
				outerKey = v.OuterRecord.PartitionKey
				checkLayout(t, v, data)
			} else if want = v.Expected; want == nil {
				want = v.ExpectedWhenLenient
			}
			if len(want) == 0 {
				t.Fatal("sidecar has no expected user records")
			}

			if got := IsAggregated(data); got != tt.aggregated {
				t.Errorf("IsAggregated = %v, want %v", got, tt.aggregated)
			}
			got, err := deliver(data, outerKey)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, cmpRecords); diff != "" {
				t.Errorf("user records (-want +got):\n%s", diff)
			}
			if !tt.aggregated {
				return
			}

			// The key tables as the bytes hold them.
			msg, _ := message(data)
			s, ok := scan(msg)
			if !ok {
				t.Fatal("scan rejects the vector")
			}
			keys := make([]string, s.pks+s.ehks)
			keyTables(msg, s, keys)
			if diff := cmp.Diff(v.PartitionKeyTable, keys[:s.pks], cmpRecords); diff != "" {
				t.Errorf("partition key table (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(v.ExplicitHashKeyTable, keys[s.pks:], cmpRecords); diff != "" {
				t.Errorf("explicit hash key table (-want +got):\n%s", diff)
			}

			// Aggregating the user records again gives the same bytes and outer keys.
			var a Aggregator
			for _, r := range want {
				ehk := ""
				if r.ExplicitHashKey != nil {
					ehk = *r.ExplicitHashKey
				}
				if err := a.Add(r.PartitionKey, ehk, r.Data); err != nil {
					t.Fatal(err)
				}
			}
			if a.Size() != len(data) {
				t.Errorf("Size() = %d, want %d", a.Size(), len(data))
			}
			pk, ehk, agg := a.Flush()
			wantPK, wantEHK := v.OuterRecord.PartitionKey, v.OuterRecord.ExplicitHashKey
			if !*v.BytesMatchIntendedInput {
				wantPK, wantEHK = want[0].PartitionKey, want[0].ExplicitHashKey
			}
			if pk != wantPK || !cmp.Equal(optional(ehk), wantEHK) {
				t.Errorf("outer keys %q, %q; want %q, %v", pk, ehk, wantPK, wantEHK)
			}
			if !slices.Equal(agg, data) {
				t.Errorf("re-aggregated bytes differ from %s:\n got %x\nwant %x", v.File, agg, data)
			}
		})
	}
}

// checkLayout checks the sidecar's description of an aggregated vector's bytes.
func checkLayout(t *testing.T, v vector, data []byte) {
	t.Helper()
	if len(data) < overhead {
		t.Fatalf("%s is %d bytes", v.File, len(data))
	}
	if got := hex.EncodeToString(data[:magicSize]); got != v.MagicHex {
		t.Errorf("magic %s, sidecar says %s", got, v.MagicHex)
	}
	if got := len(data) - overhead; got != v.ProtobufLength {
		t.Errorf("protobuf length %d, sidecar says %d", got, v.ProtobufLength)
	}
	if got := hex.EncodeToString(data[len(data)-digestSize:]); got != v.MD5TrailerHex {
		t.Errorf("MD5 trailer %s, sidecar says %s", got, v.MD5TrailerHex)
	}
	sum := md5.Sum(data[magicSize : len(data)-digestSize])
	if got := hex.EncodeToString(sum[:]); got != v.MD5OfProtobuf {
		t.Errorf("MD5 of protobuf %s, sidecar says %s", got, v.MD5OfProtobuf)
	}
}

// readBin reads the data of vector name.
func readBin(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(vectorDir, name+".bin"))
}
