package javatime

import (
	"strconv"
	"time"
)

// DefaultFormat is the pattern for an at_timestamp given without a format.
// The connector's documentation says only that "the Java default format" is
// used and gives "06/25/2020 10:23:45 PDT" as the example value, which this
// pattern reads.
const DefaultFormat = "MM/dd/yyyy HH:mm:ss ZZZ"

// defaultLayouts are the forms ParseDefault tries, in order. The ISO-8601 and
// RFC 3339 ones read a date, optionally a time with or without seconds and
// fraction, optionally an offset; their numbers must have exactly as many
// digits as the pattern letters, as in DateTimeFormatter.ISO_DATE_TIME.
var defaultLayouts = []*Layout{
	MustCompile(DefaultFormat),
	exact(MustCompile("yyyy-MM-dd['T'HH:mm[:ss[.SSSSSSSSS]][XXX]]")),
	exact(MustCompile("yyyy-MM-dd' 'HH:mm[:ss[.SSSSSSSSS]][XXX]")),
}

// exact makes every number of l other than a fraction take exactly as many
// digits as its letter is repeated.
func exact(l *Layout) *Layout {
	var walk func([]elem)
	walk = func(es []elem) {
		for i := range es {
			switch es[i].kind {
			case kNumber:
				es[i].width = es[i].count
			case kOptional:
				walk(es[i].sub)
			}
		}
	}
	walk(l.elems)
	return l
}

// ParseDefault parses a timestamp given without a format. It accepts, in
// this order:
//
//   - [DefaultFormat], as in "06/25/2020 10:23:45 PDT";
//   - ISO-8601 and RFC 3339: "2020-06-25T10:23:45Z", "2020-06-25T10:23:45.123-07:00",
//     "2020-06-25 10:23:45", "2020-06-25T10:23", "2020-06-25"; a value without
//     an offset is UTC;
//   - a whole number, read as milliseconds since 1970-01-01T00:00:00Z, as in
//     "1593105825000".
//
// When no form matches, the error is the [*ParseError] of the form that read
// furthest into the value, which is usually the form the writer meant, or,
// when none read anything, one that lists the forms.
func ParseDefault(value string) (time.Time, error) {
	if isInteger(value) {
		ms, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return time.Time{}, &ParseError{Value: value, Msg: "epoch milliseconds out of range"}
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	var best *ParseError
	for _, l := range defaultLayouts {
		t, err := l.Parse(value)
		if err == nil {
			return t, nil
		}
		if pe, ok := err.(*ParseError); ok && (best == nil || pe.Offset > best.Offset) {
			best = pe
		}
	}
	if best == nil || best.Offset == 0 {
		return time.Time{}, &ParseError{Value: value, Msg: "expected " + strconv.Quote(DefaultFormat) + ", ISO-8601 or epoch milliseconds"}
	}
	return time.Time{}, best
}

// isInteger reports whether s is an optional minus sign and digits.
func isInteger(s string) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	return s != "" && digitRun(s) == len(s)
}
