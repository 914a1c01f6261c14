package javatime

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"
	_ "time/tzdata" // VV tests must not depend on the machine's zone database

	"github.com/google/go-cmp/cmp"
)

// ts parses an RFC 3339 time for a want column.
func ts(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("bad want %q: %v", s, err)
	}
	return v
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, pattern, value string
		want                 string // RFC 3339
	}{
		// The seed: the connector's documented example.
		{"seed", "MM/dd/yyyy HH:mm:ss ZZZ", "06/25/2020 10:23:45 PDT", "2020-06-25T17:23:45Z"},
		{"seed default format", DefaultFormat, "06/25/2020 10:23:45 PDT", "2020-06-25T17:23:45Z"},

		// y, u
		{"y one letter", "y-M-d", "2020-6-5", "2020-06-05T00:00:00Z"},
		{"yyyy four digits", "yyyy-MM-dd", "2020-06-25", "2020-06-25T00:00:00Z"},
		{"yyyy reads 12 as year 12", "MM/dd/yyyy", "01/11/12", "0012-01-11T00:00:00Z"},
		{"yy with four digits is literal", "MM/dd/yy", "01/11/2012", "2012-01-11T00:00:00Z"},
		{"y with three digits is literal", "y", "999", "0999-01-01T00:00:00Z"},
		{"uuuu", "uuuu-MM-dd", "2020-06-25", "2020-06-25T00:00:00Z"},
		{"uu base 2000", "uu-MM-dd", "99-06-25", "2099-06-25T00:00:00Z"},
		{"u literal", "u-MM-dd", "99-06-25", "0099-06-25T00:00:00Z"},

		// M, L
		{"M one digit", "M/d/yyyy", "6/5/2020", "2020-06-05T00:00:00Z"},
		{"M two digits", "M/d/yyyy", "12/31/2020", "2020-12-31T00:00:00Z"},
		{"MM", "MM/dd/yyyy", "06/25/2020", "2020-06-25T00:00:00Z"},
		{"MM one digit", "MM/dd/yyyy", "6/25/2020", "2020-06-25T00:00:00Z"},
		{"MMM", "dd MMM yyyy", "25 Jun 2020", "2020-06-25T00:00:00Z"},
		{"MMM lower case", "dd MMM yyyy", "25 jun 2020", "2020-06-25T00:00:00Z"},
		{"MMM full name", "dd MMM yyyy", "25 June 2020", "2020-06-25T00:00:00Z"},
		{"MMMM", "MMMM d, yyyy", "September 3, 2020", "2020-09-03T00:00:00Z"},
		{"MMMM short name", "MMMM d, yyyy", "Sep 3, 2020", "2020-09-03T00:00:00Z"},
		{"MMMM Sept", "MMMM d, yyyy", "Sept 3, 2020", "2020-09-03T00:00:00Z"},
		{"MMMM upper case", "MMMM d, yyyy", "MAY 3, 2020", "2020-05-03T00:00:00Z"},
		{"MMMyyyy", "MMMyyyy", "Jun2020", "2020-06-01T00:00:00Z"},
		{"LL", "LL/yyyy", "06/2020", "2020-06-01T00:00:00Z"},
		{"LLL", "LLL yyyy", "Feb 2020", "2020-02-01T00:00:00Z"},

		// d, D
		{"d", "yyyy-M-d", "2020-2-9", "2020-02-09T00:00:00Z"},
		{"dd leap day", "yyyy-MM-dd", "2020-02-29", "2020-02-29T00:00:00Z"},
		{"D", "yyyy-D", "2020-177", "2020-06-25T00:00:00Z"},
		{"DDD", "yyyy-DDD", "2020-001", "2020-01-01T00:00:00Z"},
		{"D leap", "yyyy D", "2020 366", "2020-12-31T00:00:00Z"},
		{"D agrees with M and d", "yyyy-MM-dd DDD", "2020-06-25 177", "2020-06-25T00:00:00Z"},

		// H, k, h, K, a
		{"H", "H:m", "7:5", "1970-01-01T07:05:00Z"},
		{"HH", "HH:mm", "23:59", "1970-01-01T23:59:00Z"},
		{"HH midnight", "HH:mm", "00:00", "1970-01-01T00:00:00Z"},
		{"k 24 is midnight", "yyyy-MM-dd k:mm", "2020-06-25 24:30", "2020-06-25T00:30:00Z"},
		{"kk", "kk:mm", "13:30", "1970-01-01T13:30:00Z"},
		{"h a PM", "hh:mm a", "10:23 PM", "1970-01-01T22:23:00Z"},
		{"h a AM", "hh:mm a", "10:23 AM", "1970-01-01T10:23:00Z"},
		{"h 12 AM is midnight", "hh:mm a", "12:05 AM", "1970-01-01T00:05:00Z"},
		{"h 12 PM is noon", "hh:mm a", "12:05 PM", "1970-01-01T12:05:00Z"},
		{"h lower case pm", "h:mm a", "1:05 pm", "1970-01-01T13:05:00Z"},
		{"h aa", "h:mm aa", "1:05 Pm", "1970-01-01T13:05:00Z"},
		{"h without a is AM", "h:mm", "11:05", "1970-01-01T11:05:00Z"},
		{"K a", "K:mm a", "0:30 PM", "1970-01-01T12:30:00Z"},
		{"KK a", "KK:mm a", "11:59 AM", "1970-01-01T11:59:00Z"},
		{"H with agreeing a", "HH:mm a", "14:00 PM", "1970-01-01T14:00:00Z"},
		{"a alone PM is noon", "yyyy-MM-dd a", "2020-06-25 PM", "2020-06-25T12:00:00Z"},

		// m, s, S, n
		{"m s", "H:m:s", "1:2:3", "1970-01-01T01:02:03Z"},
		{"mm ss", "HH:mm:ss", "01:02:03", "1970-01-01T01:02:03Z"},
		{"S", "ss.S", "45.5", "1970-01-01T00:00:45.5Z"},
		{"SS", "ss.SS", "45.25", "1970-01-01T00:00:45.25Z"},
		{"SSS", "ss.SSS", "45.123", "1970-01-01T00:00:45.123Z"},
		{"SSS fewer digits", "ss.SSS", "45.5", "1970-01-01T00:00:45.5Z"},
		{"SSSSSS", "ss.SSSSSS", "45.123456", "1970-01-01T00:00:45.123456Z"},
		{"SSSSSSSSS", "ss.SSSSSSSSS", "45.123456789", "1970-01-01T00:00:45.123456789Z"},
		{"S comma", "HH:mm:ss,SSS", "10:23:45,007", "1970-01-01T10:23:45.007Z"},
		{"n", "ss n", "45 123", "1970-01-01T00:00:45.000000123Z"},

		// E
		{"EEE", "EEE, dd MMM yyyy", "Thu, 25 Jun 2020", "2020-06-25T00:00:00Z"},
		{"EEEE", "EEEE, MMMM d, yyyy", "Thursday, June 25, 2020", "2020-06-25T00:00:00Z"},
		{"E lower case", "E dd.MM.yyyy", "thu 25.06.2020", "2020-06-25T00:00:00Z"},
		{"E long name", "E dd.MM.yyyy", "Thursday 25.06.2020", "2020-06-25T00:00:00Z"},

		// Abutting numbers
		{"yyyyMMdd", "yyyyMMdd", "20200625", "2020-06-25T00:00:00Z"},
		{"yyyyMMddHHmmss", "yyyyMMddHHmmss", "20200625102345", "2020-06-25T10:23:45Z"},
		{"yyyyMMddHHmmssSSS", "yyyyMMddHHmmssSSS", "20200625102345123", "2020-06-25T10:23:45.123Z"},
		{"HHmm", "HHmm", "0930", "1970-01-01T09:30:00Z"},
		{"yyMMdd", "yyMMdd", "200625", "2020-06-25T00:00:00Z"},
		{"last abutting is greedy", "yyyyMMddSSSSSS", "202006251", "2020-06-25T00:00:00.1Z"},

		// Literals
		{"quoted T", "yyyy-MM-dd'T'HH:mm:ss", "2020-06-25T10:23:45", "2020-06-25T10:23:45Z"},
		{"quoted word", "yyyy-MM-dd 'at' HH:mm", "2020-06-25 at 10:23", "2020-06-25T10:23:00Z"},
		{"quote escape outside", "HH''mm", "10'23", "1970-01-01T10:23:00Z"},
		{"quote escape inside", "h 'o''clock' a", "5 o'clock PM", "1970-01-01T17:00:00Z"},
		{"punctuation", "dd.MM.yyyy HH:mm:ss", "25.06.2020 10:23:45", "2020-06-25T10:23:45Z"},
		{"slashes and brackets as text", "yyyy/MM/dd '['HH']'", "2020/06/25 [10]", "2020-06-25T10:00:00Z"},
		{"non-ASCII literal", "dd·MM·yyyy", "25·06·2020", "2020-06-25T00:00:00Z"},
		{"braces and hash", "{yyyy}#MM", "{2020}#06", "2020-06-01T00:00:00Z"},

		// Optional sections
		{"optional present", "yyyy-MM-dd[ HH:mm[:ss]]", "2020-06-25 10:23:45", "2020-06-25T10:23:45Z"},
		{"optional inner absent", "yyyy-MM-dd[ HH:mm[:ss]]", "2020-06-25 10:23", "2020-06-25T10:23:00Z"},
		{"optional absent", "yyyy-MM-dd[ HH:mm[:ss]]", "2020-06-25", "2020-06-25T00:00:00Z"},
		{"optional undone", "yyyy-MM-dd[ HH:mm]['T'HH]", "2020-06-25T07", "2020-06-25T07:00:00Z"},
		{"optional zone", "yyyy-MM-dd HH:mm[ z]", "2020-06-25 10:23 CEST", "2020-06-25T08:23:00Z"},

		// Spaces before fields are skipped, as SimpleDateFormat does.
		{"extra space", "MM/dd/yyyy HH:mm:ss z", "06/25/2020  10:23:45 \tPDT", "2020-06-25T17:23:45Z"},
		{"leading space", "yyyy-MM-dd", " 2020-06-25", "2020-06-25T00:00:00Z"},

		// Missing fields default to 1970-01-01T00:00:00 and UTC.
		{"only time", "HH:mm", "10:23", "1970-01-01T10:23:00Z"},
		{"only year", "yyyy", "2020", "2020-01-01T00:00:00Z"},
		{"no zone is UTC", "yyyy-MM-dd HH:mm:ss", "2020-06-25 10:23:45", "2020-06-25T10:23:45Z"},
		// Java's calendar skips 1582-10-05 to 1582-10-14; ours is proleptic.
		{"proleptic Gregorian", "yyyy-MM-dd", "1582-10-10", "1582-10-10T00:00:00Z"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.pattern, tt.value)
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tt.pattern, tt.value, err)
			}
			if diff := cmp.Diff(ts(t, tt.want), got); diff != "" {
				t.Errorf("Parse(%q, %q) mismatch (-want +got):\n%s", tt.pattern, tt.value, diff)
			}
		})
	}
}

func TestSeedExample(t *testing.T) {
	// The initialPosition example of the connector's documentation.
	got, err := Parse("MM/dd/yyyy HH:mm:ss ZZZ", "06/25/2020 10:23:45 PDT")
	if err != nil {
		t.Fatal(err)
	}
	if want := "2020-06-25T17:23:45Z"; got.UTC().Format(time.RFC3339) != want {
		t.Errorf("got %s, want %s", got.UTC().Format(time.RFC3339), want)
	}
	if name, off := got.Zone(); name != "PDT" || off != -7*3600 {
		t.Errorf("zone = %s %d, want PDT -25200", name, off)
	}
	def, err := ParseDefault("06/25/2020 10:23:45 PDT")
	if err != nil {
		t.Fatal(err)
	}
	if !def.Equal(got) {
		t.Errorf("ParseDefault = %s, want %s", def, got)
	}
}

func TestZones(t *testing.T) {
	const base = "2020-06-25 10:23:45 "
	tests := []struct {
		pattern, zone string
		want          string // RFC 3339 of base in that zone
	}{
		// z/Z/O: abbreviations, as Java resolves them by default.
		{"z", "PDT", "2020-06-25T10:23:45-07:00"},
		{"z", "PST", "2020-06-25T10:23:45-08:00"}, // fixed, even in June
		{"zz", "MST", "2020-06-25T10:23:45-07:00"},
		{"zzz", "MDT", "2020-06-25T10:23:45-06:00"},
		{"z", "CST", "2020-06-25T10:23:45-06:00"},
		{"z", "CDT", "2020-06-25T10:23:45-05:00"},
		{"z", "EST", "2020-06-25T10:23:45-05:00"},
		{"z", "EDT", "2020-06-25T10:23:45-04:00"},
		{"z", "AKST", "2020-06-25T10:23:45-09:00"},
		{"z", "AKDT", "2020-06-25T10:23:45-08:00"},
		{"z", "HST", "2020-06-25T10:23:45-10:00"},
		{"z", "HDT", "2020-06-25T10:23:45-09:00"},
		{"z", "NST", "2020-06-25T10:23:45-03:30"},
		{"z", "NDT", "2020-06-25T10:23:45-02:30"},
		{"z", "BRT", "2020-06-25T10:23:45-03:00"},
		{"z", "ART", "2020-06-25T10:23:45-03:00"},
		{"z", "UTC", "2020-06-25T10:23:45Z"},
		{"z", "UT", "2020-06-25T10:23:45Z"},
		{"z", "GMT", "2020-06-25T10:23:45Z"},
		{"z", "Z", "2020-06-25T10:23:45Z"},
		{"z", "WET", "2020-06-25T10:23:45Z"},
		{"z", "WEST", "2020-06-25T10:23:45+01:00"},
		{"z", "BST", "2020-06-25T10:23:45+01:00"},
		{"z", "CET", "2020-06-25T10:23:45+01:00"},
		{"z", "CEST", "2020-06-25T10:23:45+02:00"},
		{"z", "EET", "2020-06-25T10:23:45+02:00"},
		{"z", "EEST", "2020-06-25T10:23:45+03:00"},
		{"z", "SAST", "2020-06-25T10:23:45+02:00"},
		{"z", "MSK", "2020-06-25T10:23:45+03:00"},
		{"z", "IST", "2020-06-25T10:23:45+05:30"},
		{"z", "HKT", "2020-06-25T10:23:45+08:00"},
		{"z", "SGT", "2020-06-25T10:23:45+08:00"},
		{"z", "AWST", "2020-06-25T10:23:45+08:00"},
		{"z", "JST", "2020-06-25T10:23:45+09:00"},
		{"z", "KST", "2020-06-25T10:23:45+09:00"},
		{"z", "ACST", "2020-06-25T10:23:45+09:30"},
		{"z", "ACDT", "2020-06-25T10:23:45+10:30"},
		{"z", "AEST", "2020-06-25T10:23:45+10:00"},
		{"z", "AEDT", "2020-06-25T10:23:45+11:00"},
		{"z", "NZST", "2020-06-25T10:23:45+12:00"},
		{"z", "NZDT", "2020-06-25T10:23:45+13:00"},
		{"z", "pdt", "2020-06-25T10:23:45-07:00"},

		// Long names (zzzz in Java, accepted by every z/Z/O count here).
		{"zzzz", "Pacific Standard Time", "2020-06-25T10:23:45-08:00"},
		{"zzzz", "Pacific Daylight Time", "2020-06-25T10:23:45-07:00"},
		{"zzzz", "Mountain Standard Time", "2020-06-25T10:23:45-07:00"},
		{"zzzz", "Central Daylight Time", "2020-06-25T10:23:45-05:00"},
		{"zzzz", "Eastern Standard Time", "2020-06-25T10:23:45-05:00"},
		{"zzzz", "Hawaii-Aleutian Standard Time", "2020-06-25T10:23:45-10:00"},
		{"zzzz", "Coordinated Universal Time", "2020-06-25T10:23:45Z"},
		{"zzzz", "Greenwich Mean Time", "2020-06-25T10:23:45Z"},
		{"zzzz", "British Summer Time", "2020-06-25T10:23:45+01:00"},
		{"zzzz", "Central European Time", "2020-06-25T10:23:45+01:00"},
		{"zzzz", "Central European Standard Time", "2020-06-25T10:23:45+01:00"},
		{"zzzz", "Central European Summer Time", "2020-06-25T10:23:45+02:00"},
		{"zzzz", "India Standard Time", "2020-06-25T10:23:45+05:30"},
		{"zzzz", "China Standard Time", "2020-06-25T10:23:45+08:00"},
		{"zzzz", "Japan Standard Time", "2020-06-25T10:23:45+09:00"},
		{"zzzz", "Australian Eastern Standard Time", "2020-06-25T10:23:45+10:00"},
		{"zzzz", "israel daylight time", "2020-06-25T10:23:45+03:00"},

		// Offsets through z/Z/O.
		{"Z", "+0800", "2020-06-25T10:23:45+08:00"},
		{"ZZ", "-0700", "2020-06-25T10:23:45-07:00"},
		{"ZZZ", "-0700", "2020-06-25T10:23:45-07:00"},
		{"ZZZ", "PDT", "2020-06-25T10:23:45-07:00"}, // lenient, as SimpleDateFormat
		{"ZZZ", "Pacific Daylight Time", "2020-06-25T10:23:45-07:00"},
		{"ZZZZZ", "-07:00", "2020-06-25T10:23:45-07:00"},
		{"Z", "-07", "2020-06-25T10:23:45-07:00"},
		{"Z", "+5:30", "2020-06-25T10:23:45+05:30"},
		{"Z", "+0000", "2020-06-25T10:23:45Z"},
		{"Z", "-00:00", "2020-06-25T10:23:45Z"},
		{"Z", "+05:30:15", "2020-06-25T10:23:45+05:30"}, // seconds checked below
		{"z", "GMT+08:00", "2020-06-25T10:23:45+08:00"},
		{"z", "GMT-7", "2020-06-25T10:23:45-07:00"},
		{"z", "UTC+0530", "2020-06-25T10:23:45+05:30"},
		{"z", "UT-03:00", "2020-06-25T10:23:45-03:00"},
		{"z", "gmt+1", "2020-06-25T10:23:45+01:00"},
		{"O", "GMT+8", "2020-06-25T10:23:45+08:00"},
		{"OOOO", "GMT-07:00", "2020-06-25T10:23:45-07:00"},

		// X, x: ISO offsets.
		{"X", "Z", "2020-06-25T10:23:45Z"},
		{"X", "+08", "2020-06-25T10:23:45+08:00"},
		{"XX", "+0800", "2020-06-25T10:23:45+08:00"},
		{"XXX", "+08:00", "2020-06-25T10:23:45+08:00"},
		{"XXX", "-03:30", "2020-06-25T10:23:45-03:30"},
		{"XXX", "z", "2020-06-25T10:23:45Z"},
		{"x", "-07", "2020-06-25T10:23:45-07:00"},
		{"xx", "-0700", "2020-06-25T10:23:45-07:00"},
		{"xxx", "-07:00", "2020-06-25T10:23:45-07:00"},

		// VV: zone IDs resolve by date.
		{"VV", "America/Los_Angeles", "2020-06-25T10:23:45-07:00"},
		{"VV", "Europe/Paris", "2020-06-25T10:23:45+02:00"},
		{"VV", "Asia/Kolkata", "2020-06-25T10:23:45+05:30"},
		{"VV", "America/Argentina/Buenos_Aires", "2020-06-25T10:23:45-03:00"},
		{"VV", "Etc/GMT+8", "2020-06-25T10:23:45-08:00"},
		{"VV", "UTC", "2020-06-25T10:23:45Z"},
		{"VV", "GMT", "2020-06-25T10:23:45Z"},
		{"VV", "Z", "2020-06-25T10:23:45Z"},
		{"VV", "+08:00", "2020-06-25T10:23:45+08:00"},
		{"VV", "UTC+08:00", "2020-06-25T10:23:45+08:00"},
		{"VV", "GMT-7", "2020-06-25T10:23:45-07:00"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+tt.zone, func(t *testing.T) {
			got, err := Parse("yyyy-MM-dd HH:mm:ss "+tt.pattern, base+tt.zone)
			if err != nil {
				t.Fatal(err)
			}
			want := ts(t, tt.want)
			if tt.zone == "+05:30:15" {
				want = want.Add(-15 * time.Second)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestZoneTable checks that every name in the table parses to its row's
// offset, so that a long name cannot shadow an abbreviation.
func TestZoneTable(t *testing.T) {
	for _, row := range zoneTable {
		for _, n := range append([]string{row.abbr}, row.long...) {
			if n == "" {
				continue
			}
			got, err := Parse("z", n)
			if err != nil {
				t.Errorf("Parse(z, %q): %v", n, err)
				continue
			}
			if _, off := got.Zone(); off != row.offset {
				t.Errorf("Parse(z, %q) offset = %d, want %d", n, off, row.offset)
			}
		}
	}
}

func TestResultLocation(t *testing.T) {
	tests := []struct {
		pattern, value string
		wantName       string
		wantOffset     int
	}{
		{"yyyy z", "2020 PDT", "PDT", -7 * 3600},
		{"yyyy z", "2020 Pacific Daylight Time", "PDT", -7 * 3600},
		{"yyyy z", "2020 China Standard Time", "", 8 * 3600}, // no abbreviation: unnamed
		{"yyyy Z", "2020 -0700", "", -7 * 3600},
		{"yyyy z", "2020 UTC", "UTC", 0},
		{"yyyy z", "2020 GMT", "UTC", 0},
		{"yyyy XXX", "2020 +00:00", "UTC", 0},
		{"yyyy", "2020", "UTC", 0},
		{"yyyy-MM VV", "2020-06 America/Los_Angeles", "PDT", -7 * 3600},
		{"yyyy-MM VV", "2020-01 America/Los_Angeles", "PST", -8 * 3600},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, err := Parse(tt.pattern, tt.value)
			if err != nil {
				t.Fatal(err)
			}
			name, off := got.Zone()
			if name != tt.wantName || off != tt.wantOffset {
				t.Errorf("zone = %q %d, want %q %d", name, off, tt.wantName, tt.wantOffset)
			}
		})
	}
	got, _ := Parse("yyyy VV", "2020 America/Los_Angeles")
	if got.Location().String() != "America/Los_Angeles" {
		t.Errorf("location = %s, want America/Los_Angeles", got.Location())
	}
}

// TestZoneIDTransitions checks the java.time rules for local times that a
// daylight-saving change skips or repeats.
func TestZoneIDTransitions(t *testing.T) {
	const pattern = "yyyy-MM-dd HH:mm VV"
	tests := []struct{ name, value, want string }{
		{"gap moves forward", "2020-03-08 02:30 America/Los_Angeles", "2020-03-08T03:30:00-07:00"},
		{"before gap", "2020-03-08 01:59 America/Los_Angeles", "2020-03-08T01:59:00-08:00"},
		{"after gap", "2020-03-08 03:00 America/Los_Angeles", "2020-03-08T03:00:00-07:00"},
		{"overlap takes earlier", "2020-11-01 01:30 America/Los_Angeles", "2020-11-01T01:30:00-07:00"},
		{"after overlap", "2020-11-01 02:00 America/Los_Angeles", "2020-11-01T02:00:00-08:00"},
		{"southern gap", "2020-10-04 02:30 Australia/Sydney", "2020-10-04T03:30:00+11:00"},
		{"southern overlap", "2020-04-05 02:30 Australia/Sydney", "2020-04-05T02:30:00+11:00"},
		{"half hour zone", "2020-06-25 10:00 Asia/Kolkata", "2020-06-25T10:00:00+05:30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(pattern, tt.value)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(ts(t, tt.want), got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOffsetBeatsZoneID(t *testing.T) {
	got, err := Parse("yyyy-MM-dd'T'HH:mmXXX'['VV']'", "2020-11-01T01:30-08:00[America/Los_Angeles]")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ts(t, "2020-11-01T09:30:00Z"), got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

// TestTwoDigitYear checks SimpleDateFormat's rule for y and yy with two
// digits: the year within 80 years before and 20 after the time of parsing.
func TestTwoDigitYear(t *testing.T) {
	now := func() time.Time { return time.Date(2026, time.March, 15, 12, 0, 0, 0, time.UTC) }
	// The century starts at 1946-03-15T12:00:00Z.
	tests := []struct{ pattern, value, want string }{
		{"yy-MM-dd", "45-06-25", "2045-06-25T00:00:00Z"},
		{"yy-MM-dd", "00-01-01", "2000-01-01T00:00:00Z"},
		{"yy-MM-dd", "47-06-25", "1947-06-25T00:00:00Z"},
		{"yy-MM-dd", "99-12-31", "1999-12-31T00:00:00Z"},
		{"yy-MM-dd", "46-06-25", "1946-06-25T00:00:00Z"},       // 46 is ambiguous; after the start
		{"yy-MM-dd", "46-03-15", "2046-03-15T00:00:00Z"},       // before the start by 12 hours
		{"yy-MM-dd HH", "46-03-15 12", "1946-03-15T12:00:00Z"}, // exactly the start
		{"y-MM-dd", "20-06-25", "2020-06-25T00:00:00Z"},
		{"y-MM-dd", "5-06-25", "0005-06-25T00:00:00Z"},
		{"yy-MM-dd", "020-06-25", "0020-06-25T00:00:00Z"},
		{"yyyy-MM-dd", "20-06-25", "0020-06-25T00:00:00Z"},
		{"uu-MM-dd", "46-06-25", "2046-06-25T00:00:00Z"},
		{"uu-MM-dd", "99-06-25", "2099-06-25T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+tt.value, func(t *testing.T) {
			l, err := Compile(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			got, err := l.parse(tt.value, now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(ts(t, tt.want), got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTwoDigitYearClock checks that the public Parse reads the clock: in a
// synctest bubble it is 2000-01-01, so the century starts in 1920.
func TestTwoDigitYearClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for value, want := range map[string]string{
			"99": "1999-01-01T00:00:00Z",
			"19": "2019-01-01T00:00:00Z",
			"20": "1920-01-01T00:00:00Z",
			"21": "1921-01-01T00:00:00Z",
		} {
			got, err := Parse("yy", value)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(ts(t, want), got); diff != "" {
				t.Errorf("Parse(yy, %s) mismatch (-want +got):\n%s", value, diff)
			}
		}
	})
}

func TestParseDefault(t *testing.T) {
	tests := []struct{ value, want string }{
		{"06/25/2020 10:23:45 PDT", "2020-06-25T17:23:45Z"},
		{"06/25/2020 10:23:45 -0700", "2020-06-25T17:23:45Z"},
		{"06/25/2020 10:23:45 UTC", "2020-06-25T10:23:45Z"},
		{"06/25/2020 10:23:45 Central European Summer Time", "2020-06-25T08:23:45Z"},
		{"2020-06-25T10:23:45Z", "2020-06-25T10:23:45Z"},
		{"2020-06-25T10:23:45z", "2020-06-25T10:23:45Z"},
		{"2020-06-25T10:23:45-07:00", "2020-06-25T17:23:45Z"},
		{"2020-06-25T10:23:45+0530", "2020-06-25T04:53:45Z"},
		{"2020-06-25T10:23:45.123Z", "2020-06-25T10:23:45.123Z"},
		{"2020-06-25T10:23:45.123456789+02:00", "2020-06-25T08:23:45.123456789Z"},
		{"2020-06-25T10:23:45", "2020-06-25T10:23:45Z"},
		{"2020-06-25T10:23", "2020-06-25T10:23:00Z"},
		{"2020-06-25T10:23Z", "2020-06-25T10:23:00Z"},
		{"2020-06-25 10:23:45", "2020-06-25T10:23:45Z"},
		{"2020-06-25 10:23:45.5+01:00", "2020-06-25T09:23:45.5Z"},
		{"2020-06-25", "2020-06-25T00:00:00Z"},
		{"1593105825000", "2020-06-25T17:23:45Z"},
		{"1593105825123", "2020-06-25T17:23:45.123Z"},
		{"0", "1970-01-01T00:00:00Z"},
		{"-1000", "1969-12-31T23:59:59Z"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, err := ParseDefault(tt.value)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(ts(t, tt.want), got); diff != "" {
				t.Errorf("ParseDefault(%q) mismatch (-want +got):\n%s", tt.value, diff)
			}
		})
	}
}

// TestErrorTypes checks that callers can branch on the error types and read
// their fields.
func TestErrorTypes(t *testing.T) {
	_, err := Parse(DefaultFormat, "06/25/2020 10:23")
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %T is not a *ParseError", err)
	}
	want := &ParseError{Pattern: DefaultFormat, Value: "06/25/2020 10:23", Offset: 16, Msg: "expected ':'"}
	if diff := cmp.Diff(want, pe); diff != "" {
		t.Errorf("ParseError mismatch (-want +got):\n%s", diff)
	}
	if got, want := err.Error(), `javatime: parse "06/25/2020 10:23" with "MM/dd/yyyy HH:mm:ss ZZZ": expected ':' at offset 16`; got != want {
		t.Errorf("Error() = %s\nwant      %s", got, want)
	}

	_, err = Compile("yyyy-ww")
	var pat *PatternError
	if !errors.As(err, &pat) {
		t.Fatalf("error %T is not a *PatternError", err)
	}
	wantPat := &PatternError{Pattern: "yyyy-ww", Offset: 5, Msg: "unsupported letter 'w' (week of year)"}
	if diff := cmp.Diff(wantPat, pat); diff != "" {
		t.Errorf("PatternError mismatch (-want +got):\n%s", diff)
	}
	if _, err := Parse("yyyy-ww", "2020-01"); !errors.As(err, &pat) {
		t.Errorf("Parse with a bad pattern: error %T is not a *PatternError", err)
	}
}

func TestLayout(t *testing.T) {
	l, err := Compile(DefaultFormat)
	if err != nil {
		t.Fatal(err)
	}
	if l.String() != DefaultFormat {
		t.Errorf("String() = %q, want %q", l.String(), DefaultFormat)
	}
	a, err := l.Parse("06/25/2020 10:23:45 PDT")
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Parse("12/31/2021 23:59:59 EST")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Time{ts(t, "2020-06-25T17:23:45Z"), ts(t, "2022-01-01T04:59:59Z")}, []time.Time{a, b}); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestMustCompilePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustCompile of a bad pattern did not panic")
		}
	}()
	MustCompile("ww")
}

// TestLayoutConcurrent parses with one Layout from many goroutines; run with
// -race.
func TestLayoutConcurrent(t *testing.T) {
	l := MustCompile("yyyy-MM-dd HH:mm:ss VV")
	done := make(chan error)
	for range 8 {
		go func() {
			var err error
			for range 50 {
				var got time.Time
				got, err = l.Parse("2020-06-25 10:23:45 Europe/Paris")
				if err == nil && !got.Equal(time.Date(2020, 6, 25, 8, 23, 45, 0, time.UTC)) {
					err = errors.New("wrong time " + got.String())
				}
				if err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
