package javatime

import (
	"fmt"
	"strings"
)

// PatternError reports a pattern that [Compile] cannot use.
type PatternError struct {
	Pattern string // the pattern as given
	Offset  int    // byte offset in Pattern of the problem
	Msg     string // what is wrong, e.g. "unsupported letter 'w' (week of year)"
}

// Error returns the message with the pattern and the offset, such as
// `javatime: pattern "yyyy-ww": unsupported letter 'w' (week of year) at offset 5`.
func (e *PatternError) Error() string {
	return fmt.Sprintf("javatime: pattern %q: %s at offset %d", e.Pattern, e.Msg, e.Offset)
}

// A Layout is a compiled pattern. It is immutable and safe for concurrent use.
type Layout struct {
	pattern string
	elems   []elem
}

// String returns the pattern the Layout was compiled from.
func (l *Layout) String() string { return l.pattern }

type kind uint8

const (
	kLiteral   kind = iota
	kNumber         // a numeric field, see field
	kFraction       // S: fraction of a second
	kMonthName      // MMM, MMMM
	kDayName        // E
	kAmPm           // a
	kZone           // z, Z, O: offset or zone name
	kOffset         // X, x: Z or numeric offset
	kZoneID         // VV
	kOptional       // [ ... ]
)

// field identifies the slot a numeric field fills.
type field uint8

const (
	fYear      field = iota // y
	fYearU                  // u
	fMonth                  // M, L
	fDay                    // d
	fYearDay                // D
	fHour                   // H
	fHourK24                // k
	fHour12                 // h
	fHourK12                // K
	fMinute                 // m
	fSecond                 // s
	fNanoOfSec              // n
)

// numSpec describes a numeric field: its name in messages and its range.
type numSpec struct {
	name     string
	min, max int
}

var numSpecs = [...]numSpec{
	fYear:      {"year", 0, 999999999},
	fYearU:     {"year", 0, 999999999},
	fMonth:     {"month", 1, 12},
	fDay:       {"day of month", 1, 31},
	fYearDay:   {"day of year", 1, 366},
	fHour:      {"hour", 0, 23},
	fHourK24:   {"hour", 1, 24},
	fHour12:    {"hour", 1, 12},
	fHourK12:   {"hour", 0, 11},
	fMinute:    {"minute", 0, 59},
	fSecond:    {"second", 0, 59},
	fNanoOfSec: {"nanosecond", 0, 999999999},
}

// elem is one step of a compiled pattern.
type elem struct {
	kind   kind
	letter byte   // the pattern letter, 0 for literals and sections
	count  int    // how many times the letter is repeated
	field  field  // for kNumber
	width  int    // for kNumber and kFraction: exact digit count when abutting, else 0
	lit    string // for kLiteral
	sub    []elem // for kOptional
}

// letterRule says how a pattern letter compiles: the highest repeat count
// accepted and the element it becomes.
type letterRule struct {
	maxCount int
	kind     kind
	field    field
}

var letterRules = map[byte]letterRule{
	'y': {9, kNumber, fYear},
	'u': {9, kNumber, fYearU},
	'M': {5, kNumber, fMonth}, // 3 or more: kMonthName
	'L': {5, kNumber, fMonth},
	'd': {2, kNumber, fDay},
	'D': {3, kNumber, fYearDay},
	'E': {5, kDayName, 0},
	'a': {2, kAmPm, 0},
	'H': {2, kNumber, fHour},
	'k': {2, kNumber, fHourK24},
	'h': {2, kNumber, fHour12},
	'K': {2, kNumber, fHourK12},
	'm': {2, kNumber, fMinute},
	's': {2, kNumber, fSecond},
	'S': {9, kFraction, 0},
	'n': {9, kNumber, fNanoOfSec},
	'z': {4, kZone, 0},
	'Z': {5, kZone, 0},
	'O': {4, kZone, 0},
	'X': {5, kOffset, 0},
	'x': {5, kOffset, 0},
	'V': {2, kZoneID, 0},
}

// unsupported names the Java pattern letters this package does not parse.
var unsupported = map[byte]string{
	'G': "era",
	'Y': "week-based year",
	'w': "week of year",
	'W': "week of month",
	'F': "day of week in month",
	'Q': "quarter",
	'q': "quarter",
	'e': "localized day of week",
	'c': "localized day of week",
	'g': "modified Julian day",
	'A': "millisecond of day",
	'N': "nanosecond of day",
	'v': "generic time zone name",
	'p': "pad modifier",
	'B': "day period",
}

// maxNesting bounds how deeply optional sections may nest.
const maxNesting = 16

// Compile parses a Java date pattern into a Layout. It fails with a
// [*PatternError] for an empty pattern, a letter this package does not
// support, a letter repeated more often than Java allows, an unterminated
// quote or unbalanced brackets.
func Compile(pattern string) (*Layout, error) {
	if pattern == "" {
		return nil, &PatternError{Pattern: pattern, Msg: "empty pattern"}
	}
	c := compiler{pattern: pattern}
	elems, err := c.sequence(0)
	if err != nil {
		return nil, err
	}
	return &Layout{pattern: pattern, elems: elems}, nil
}

// MustCompile is like [Compile] but panics if the pattern cannot be compiled.
// It is meant for patterns that are constants of the program, never for
// patterns from configuration.
func MustCompile(pattern string) *Layout {
	l, err := Compile(pattern)
	if err != nil {
		panic(err)
	}
	return l
}

type compiler struct {
	pattern string
	i       int
}

func (c *compiler) errorf(off int, format string, args ...any) error {
	return &PatternError{Pattern: c.pattern, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// sequence compiles elements up to the end of the pattern or, inside an
// optional section, up to the closing bracket, which it consumes.
func (c *compiler) sequence(depth int) ([]elem, error) {
	var elems []elem
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			elems = append(elems, elem{kind: kLiteral, lit: lit.String()})
			lit.Reset()
		}
	}
	p := c.pattern
	open := c.i - 1 // offset of the '[' that opened this section
	for c.i < len(p) {
		ch := p[c.i]
		switch {
		case ch == '\'':
			if err := c.quoted(&lit); err != nil {
				return nil, err
			}
		case ch == '[':
			if depth >= maxNesting {
				return nil, c.errorf(c.i, "optional sections nested more than %d deep", maxNesting)
			}
			flush()
			c.i++
			sub, err := c.sequence(depth + 1)
			if err != nil {
				return nil, err
			}
			elems = append(elems, elem{kind: kOptional, sub: sub})
		case ch == ']':
			if depth == 0 {
				return nil, c.errorf(c.i, "']' without '['")
			}
			c.i++
			flush()
			return setWidths(elems), nil
		case isLetter(ch):
			flush()
			e, err := c.letter()
			if err != nil {
				return nil, err
			}
			elems = append(elems, e)
		default:
			lit.WriteByte(ch)
			c.i++
		}
	}
	if depth > 0 {
		return nil, c.errorf(open, "'[' without ']'")
	}
	flush()
	return setWidths(elems), nil
}

// quoted reads a quoted literal at c.i, or two quotes that stand for one.
func (c *compiler) quoted(lit *strings.Builder) error {
	p := c.pattern
	start := c.i
	c.i++
	if c.i < len(p) && p[c.i] == '\'' { // '' outside quotes
		lit.WriteByte('\'')
		c.i++
		return nil
	}
	for c.i < len(p) {
		if p[c.i] != '\'' {
			lit.WriteByte(p[c.i])
			c.i++
			continue
		}
		if c.i+1 < len(p) && p[c.i+1] == '\'' { // '' inside quotes
			lit.WriteByte('\'')
			c.i += 2
			continue
		}
		c.i++
		return nil
	}
	return c.errorf(start, "unterminated quote")
}

// letter compiles the run of one pattern letter at c.i.
func (c *compiler) letter() (elem, error) {
	p := c.pattern
	start := c.i
	ch := p[start]
	for c.i < len(p) && p[c.i] == ch {
		c.i++
	}
	count := c.i - start
	rule, ok := letterRules[ch]
	if !ok {
		if what, ok := unsupported[ch]; ok {
			return elem{}, c.errorf(start, "unsupported letter %q (%s)", ch, what)
		}
		return elem{}, c.errorf(start, "unknown letter %q (quote literal text, as in 'T')", ch)
	}
	if count > rule.maxCount {
		return elem{}, c.errorf(start, "letter %q repeated %d times, at most %d allowed", ch, count, rule.maxCount)
	}
	if ch == 'V' && count != 2 {
		return elem{}, c.errorf(start, "letter 'V' must be repeated twice (VV)")
	}
	if ch == 'O' && count != 1 && count != 4 {
		return elem{}, c.errorf(start, "letter 'O' must appear once or four times")
	}
	e := elem{kind: rule.kind, letter: ch, count: count, field: rule.field}
	if (ch == 'M' || ch == 'L') && count >= 3 {
		e.kind = kMonthName
	}
	return e, nil
}

// setWidths fixes the digit count of every number that is directly followed
// by another number, so that "yyyyMMdd" can be split.
func setWidths(elems []elem) []elem {
	for i := 0; i+1 < len(elems); i++ {
		if isNumeric(elems[i].kind) && isNumeric(elems[i+1].kind) {
			elems[i].width = elems[i].count
		}
	}
	return elems
}

func isNumeric(k kind) bool { return k == kNumber || k == kFraction }

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
