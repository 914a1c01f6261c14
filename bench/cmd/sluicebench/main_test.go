package main

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

func TestScanRecords(t *testing.T) {
	body := fmt.Sprintf(`{"Records":[{"SequenceNumber":"1","ApproximateArrivalTimestamp":1.5,"Data":%q,"PartitionKey":"a"},`+
		`{"SequenceNumber":"2","Data":%q,"PartitionKey":"b"}],"NextShardIterator":"0-2","MillisBehindLatest":0}`,
		base64.StdEncoding.EncodeToString([]byte("hello")), base64.StdEncoding.EncodeToString([]byte("sluice!")))
	n, d, next, _, err := scanRecords([]byte(body), nil)
	if err != nil || n != 2 || d != 12 || next != "0-2" {
		t.Errorf("scanRecords = %d records, %d bytes, next %q, %v; want 2, 12, 0-2", n, d, next, err)
	}
	n, _, next, _, err = scanRecords([]byte(`{"Records":[],"MillisBehindLatest":0}`), nil)
	if err != nil || n != 0 || next != "" {
		t.Errorf("the end of a shard: %d records, next %q, %v", n, next, err)
	}
	if _, _, _, _, err := scanRecords([]byte(`{"Records":[{"Data":"!!!!"}]}`), nil); err == nil {
		t.Error("bad base64 accepted")
	}
}

func TestRuns(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range runs {
		if seen[r.name] || strings.ContainsAny(r.name, " \t/") {
			t.Errorf("run name %q is repeated or not a benchmark name", r.name)
		}
		seen[r.name] = true
		if (r.fn == nil) == (r.skip == "") {
			t.Errorf("run %s: give fn or skip", r.name)
		}
	}
}

func TestNumAndMedian(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.891: "1,234,568", -45000: "-45,000"} {
		if got := num(v, 0); got != want {
			t.Errorf("num(%v) = %s; want %s", v, got, want)
		}
	}
	if got := num(1234.5, 1); got != "1,234.5" {
		t.Errorf("num(1234.5, 1) = %s", got)
	}
	ms := []measurement{{result: result{WallNs: 3}}, {result: result{WallNs: 1}}, {result: result{WallNs: 2}}}
	wall := func(m measurement) float64 { return float64(m.WallNs) }
	if got := median(ms, wall); got != 2 {
		t.Errorf("median = %v; want 2", got)
	}
	if got := median(ms[:2], wall); got != 2 {
		t.Errorf("median of two = %v; want 2", got)
	}
}
