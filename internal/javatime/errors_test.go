package javatime

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// errorCases are values and patterns that must fail. A case with the pattern
// "default" goes through ParseDefault. Their messages are kept in
// testdata/errors.golden; run go test -run TestErrors -update to rewrite it
// after a deliberate change, and review the diff.
var errorCases = []struct{ pattern, value string }{
	// Pattern errors.
	{"", "x"},
	{"yyyy-ww", "2020-01"},
	{"GGG yyyy", "AD 2020"},
	{"YYYY-MM-dd", "2020-06-25"},
	{"yyyy-MM-dd T HH", "2020-06-25 T 10"},
	{"yyyy-MM-ddTHH", "2020-06-25T10"},
	{"yyyy-MM-dd'T", "2020-06-25T"},
	{"yyyy]", "2020"},
	{"yyyy[MM", "2020"},
	{"[[[[[[[[[[[[[[[[[yyyy]]]]]]]]]]]]]]]]]", "2020"},
	{"ddd", "001"},
	{"SSSSSSSSSS", "0"},
	{"V", "UTC"},
	{"OO", "GMT"},
	{"zzzzz", "PDT"},

	// Literals and the end of the value.
	{DefaultFormat, "06/25/2020 10:23"},
	{DefaultFormat, "06-25-2020 10:23:45 PDT"},
	{DefaultFormat, "06/25/2020 10:23:45 PDT extra"},
	{"yyyy-MM-dd'T'HH", "2020-06-25 10"},
	{"yyyy 'at' HH", "2020 on 10"},
	{"HH''mm", "10:23"},

	// Numbers.
	{DefaultFormat, ""},
	{DefaultFormat, "Jun/25/2020 10:23:45 PDT"},
	{DefaultFormat, "13/25/2020 10:23:45 PDT"},
	{DefaultFormat, "00/25/2020 10:23:45 PDT"},
	{DefaultFormat, "06/31/2020 10:23:45 PDT"},
	{DefaultFormat, "02/30/2020 10:23:45 PDT"},
	{DefaultFormat, "02/29/2021 10:23:45 PDT"},
	{"yyyy-MM-dd", "1000-02-29"},
	{DefaultFormat, "06/25/2020 24:00:00 PDT"},
	{DefaultFormat, "06/25/2020 10:60:45 PDT"},
	{DefaultFormat, "06/25/2020 10:23:60 PDT"},
	{"yyyy", "1234567890"},
	{"yyyyMMdd", "20206"},
	{"yyyyMMdd", "202006"},
	{"HHmmss", "1023"},
	{"hh:mm", "13:00"},
	{"hh:mm", "00:00"},
	{"KK:mm", "12:00"},
	{"kk:mm", "00:00"},
	{"yyyy-DDD", "2021-366"},
	{"yyyy-DDD", "2020-000"},
	{"yyyy-MM-dd DDD", "2020-06-25 100"},
	{"ss.S", "45."},
	{"ss.S", "45.1234567890"},
	{"ss.SSS", "45.x"},
	{"ssSSS", "4"},
	{"yyyy yyyy", "2020 2021"},
	{"MM MMM", "06 Jul"},
	{"H:mm k", "10:00 11"},

	// Text.
	{"dd MMM yyyy", "25 Foo 2020"},
	{"EEE dd.MM.yyyy", "Xyz 25.06.2020"},
	{"EEE yyyy-MM-dd", "Mon 2020-06-25"},
	{"EEE EEEE", "Mon Tuesday"},
	{"hh:mm a", "10:23 XM"},
	{"HH a", "14 AM"},
	{"HH a", "09 PM"},
	{"H h", "13 2"},

	// Zones.
	{DefaultFormat, "06/25/2020 10:23:45"},
	{DefaultFormat, "06/25/2020 10:23:45 XYZ"},
	{DefaultFormat, "06/25/2020 10:23:45 AST"},
	{DefaultFormat, "06/25/2020 10:23:45 PDTX"},
	{DefaultFormat, "06/25/2020 10:23:45 Pacific Time"},
	{DefaultFormat, "06/25/2020 10:23:45 America/Los_Angeles"},
	{DefaultFormat, "06/25/2020 10:23:45 +2500"},
	{DefaultFormat, "06/25/2020 10:23:45 +123"},
	{DefaultFormat, "06/25/2020 10:23:45 +08:7"},
	{DefaultFormat, "06/25/2020 10:23:45 +0860"},
	{DefaultFormat, "06/25/2020 10:23:45 +1801"},
	{DefaultFormat, "06/25/2020 10:23:45 GMT+"},
	{DefaultFormat, "06/25/2020 10:23:45 ?"},
	{"z z", "PDT PST"},
	{"XXX", "PDT"},
	{"XXX", ""},
	{"XXX", "+8:"},
	{"VV", ""},
	{"VV", "Mars/Olympus"},
	{"VV", "Local"},
	{"VV", "../../etc/passwd"},
	{"VV", "UTC+25"},

	// ParseDefault.
	{"default", "garbage"},
	{"default", ""},
	{"default", "06/25/2020 10:23"},
	{"default", "2020-06-25T10:2"},
	{"default", "2020-06-25T10:23:45+08:00 extra"},
	{"default", "2020-6-25"},
	{"default", "99999999999999999999"},
}

func TestErrors(t *testing.T) {
	var b strings.Builder
	for _, c := range errorCases {
		var err error
		if c.pattern == "default" {
			_, err = ParseDefault(c.value)
		} else {
			_, err = Parse(c.pattern, c.value)
		}
		if err == nil {
			t.Errorf("Parse(%q, %q) succeeded, want an error", c.pattern, c.value)
			continue
		}
		fmt.Fprintln(&b, err)
	}
	got := b.String()
	path := filepath.Join("testdata", "errors.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("error messages differ from %s (-want +got):\n%s", path, diff)
	}
}
