package javatime

import (
	"errors"
	"testing"
	"time"
)

// FuzzParse checks that no pattern and value make Compile, Parse or
// ParseDefault panic, that every error has one of the package's error types,
// and that Parse and a compiled Layout agree.
func FuzzParse(f *testing.F) {
	seeds := []struct{ pattern, value string }{
		{DefaultFormat, "06/25/2020 10:23:45 PDT"},
		{DefaultFormat, "06/25/2020 10:23"},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2020-06-25T10:23:45.123+08:00"},
		{"yyyyMMddHHmmssSSS", "20200625102345123"},
		{"EEE, d MMM yyyy hh:mm a zzzz", "Thu, 25 Jun 2020 10:23 PM Pacific Daylight Time"},
		{"yyyy-DDD k:mm K a", "2020-177 24:00 11 PM"},
		{"uu-LLL-dd HH:mm:ss n O", "20-Jun-25 10:23:45 123 GMT+8"},
		{"yyyy-MM-dd HH:mm VV", "2020-03-08 02:30 America/Los_Angeles"},
		{"yyyy-MM-dd HH:mm VV", "2020-03-08 02:30 UTC+08:00"},
		{"yyyy-MM-dd['T'HH:mm[:ss[.S]]][XXX]", "2020-06-25T10:23Z"},
		{"h 'o''clock' a", "5 o'clock PM"},
		{"yy", "46"},
		{"[[[y]]]", "1"},
		{"'", ""},
		{"Z", "+999999"},
		{"x", "-"},
		{"", "1593105825000"},
		{"ww", "garbage"},
	}
	for _, s := range seeds {
		f.Add(s.pattern, s.value)
	}
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	f.Fuzz(func(t *testing.T, pattern, value string) {
		var pe *ParseError
		var pat *PatternError
		if _, err := ParseDefault(value); err != nil && !errors.As(err, &pe) {
			t.Fatalf("ParseDefault(%q): error %T is not a *ParseError: %v", value, err, err)
		}
		l, cerr := Compile(pattern)
		_, perr := Parse(pattern, value)
		if cerr != nil {
			if !errors.As(cerr, &pat) {
				t.Fatalf("Compile(%q): error %T is not a *PatternError: %v", pattern, cerr, cerr)
			}
			if perr == nil || perr.Error() != cerr.Error() {
				t.Fatalf("Parse(%q, %q) = %v, want the Compile error %v", pattern, value, perr, cerr)
			}
			return
		}
		if l.String() != pattern {
			t.Fatalf("String() = %q, want %q", l.String(), pattern)
		}
		a, aerr := l.parse(value, now)
		b, berr := l.parse(value, now)
		if (aerr == nil) != (berr == nil) || !a.Equal(b) {
			t.Fatalf("two parses of %q with %q differ: %v %v, %v %v", value, pattern, a, aerr, b, berr)
		}
		if aerr != nil {
			if !errors.As(aerr, &pe) {
				t.Fatalf("Parse(%q, %q): error %T is not a *ParseError: %v", pattern, value, aerr, aerr)
			}
			if pe.Offset < 0 || pe.Offset > len(value) {
				t.Fatalf("Parse(%q, %q): offset %d outside the value", pattern, value, pe.Offset)
			}
		}
		if _, lerr := l.Parse(value); (perr == nil) != (lerr == nil) {
			t.Fatalf("Parse and Layout.Parse disagree on %q with %q: %v, %v", value, pattern, perr, lerr)
		}
	})
}

// FuzzParseDefaultRoundTrip checks that any instant written as RFC 3339, in
// any whole-minute offset, reads back as the same instant.
func FuzzParseDefaultRoundTrip(f *testing.F) {
	f.Add(int64(1593105825), int64(0), int16(-420))
	f.Add(int64(0), int64(123456789), int16(0))
	f.Add(int64(-62135596800), int64(1), int16(330))
	f.Fuzz(func(t *testing.T, sec, nsec int64, offMin int16) {
		const minSec, maxSec = -62135596800 + 86400, 253402300799 - 86400 // years 1-9999
		if sec < minSec || sec > maxSec {
			sec = minSec + (sec%(maxSec-minSec)+(maxSec-minSec))%(maxSec-minSec)
		}
		nsec = (nsec%1e9 + 1e9) % 1e9
		off := int(offMin) % (18 * 60)
		in := time.Unix(sec, nsec).In(time.FixedZone("", off*60))
		s := in.Format(time.RFC3339Nano)
		got, err := ParseDefault(s)
		if err != nil {
			t.Fatalf("ParseDefault(%q): %v", s, err)
		}
		if !got.Equal(in) {
			t.Fatalf("ParseDefault(%q) = %s, want %s", s, got.Format(time.RFC3339Nano), s)
		}
	})
}
