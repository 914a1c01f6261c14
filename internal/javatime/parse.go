package javatime

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// ParseError reports a value that does not match its pattern.
type ParseError struct {
	Pattern string // the pattern; empty when ParseDefault reports on the value as a whole
	Value   string // the value as given
	Offset  int    // byte offset in Value where parsing failed
	Msg     string // what was expected or is wrong there, e.g. "expected ':'"
}

// Error returns the message with the value, the pattern and the offset, such
// as `javatime: parse "06/25/2020 10:23" with "MM/dd/yyyy HH:mm:ss ZZZ":
// expected ':' at offset 16`.
func (e *ParseError) Error() string {
	if e.Pattern == "" {
		return fmt.Sprintf("javatime: parse %q: %s at offset %d", e.Value, e.Msg, e.Offset)
	}
	return fmt.Sprintf("javatime: parse %q with %q: %s at offset %d", e.Value, e.Pattern, e.Msg, e.Offset)
}

// Parse parses value with a Java date pattern. It is short for compiling the
// pattern with [Compile] and calling [Layout.Parse]; callers that parse many
// values with one pattern should compile it once. A bad pattern gives a
// [*PatternError] and a value that does not match gives a [*ParseError].
func Parse(pattern, value string) (time.Time, error) {
	l, err := Compile(pattern)
	if err != nil {
		return time.Time{}, err
	}
	return l.Parse(value)
}

// Parse parses value, which must match the whole Layout, and returns the
// instant it denotes. A value without a time zone is read as UTC. See the
// package comment for what each letter accepts and how zones resolve. The
// error, if any, is a [*ParseError].
func (l *Layout) Parse(value string) (time.Time, error) {
	return l.parse(value, time.Now)
}

func (l *Layout) parse(value string, now func() time.Time) (time.Time, error) {
	p := parser{l: l, value: value}
	err := p.run(l.elems)
	if err == nil && p.pos < len(value) {
		err = p.fail(p.pos, "unexpected text %q", value[p.pos:])
	}
	if err != nil {
		// An optional section that got further than the rest of the value
		// is the likelier place of the mistake: "2020-06-25T10:2" is missing
		// a minute digit more than it has text after the date.
		if pe, ok := err.(*ParseError); ok && p.optErr != nil && p.optErr.Offset > pe.Offset {
			return time.Time{}, p.optErr
		}
		return time.Time{}, err
	}
	return p.resolve(now)
}

// has records which fields a value set.
type has uint16

const (
	hasYear has = 1 << iota
	hasMonth
	hasDay
	hasYearDay
	hasHour24
	hasHour12
	hasAmPm
	hasMinute
	hasSecond
	hasNano
	hasWeekday
	hasOffset
	hasLoc
)

// yearRule says how a two-digit year is widened.
type yearRule uint8

const (
	yearAsIs     yearRule = iota
	yearSliding           // SimpleDateFormat: 80 years back, 20 ahead
	yearBase2000          // DateTimeFormatter uu: 2000-2099
)

// state holds the fields read so far. It is copied to undo an optional
// section that does not match.
type state struct {
	has      has
	year     int
	yearRule yearRule
	month    int
	day      int
	yday     int
	hour24   int // 0-23
	hour12   int // 0-11
	pm       bool
	minute   int
	second   int
	nano     int
	weekday  time.Weekday
	offset   int
	zoneName string
	loc      *time.Location

	// offsets in the value, for errors found after parsing
	yearAt, dayAt, ydayAt, hourAt, ampmAt, weekdayAt int
}

type parser struct {
	l      *Layout
	value  string
	pos    int
	st     state
	optErr *ParseError // the furthest failure inside an optional section
}

func (p *parser) fail(off int, format string, args ...any) error {
	return &ParseError{Pattern: p.l.pattern, Value: p.value, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// run parses the elements of one sequence.
func (p *parser) run(elems []elem) error {
	for i := range elems {
		e := &elems[i]
		switch e.kind {
		case kLiteral:
			if !strings.HasPrefix(p.value[p.pos:], e.lit) {
				if p.pos == len(p.value) && strings.TrimSpace(e.lit) == "" && i+1 < len(elems) {
					// "expected ' '" alone hides that a field is missing.
					if what := describe(&elems[i+1]); what != "" {
						return p.fail(p.pos, "expected %s before %s", quote(e.lit), what)
					}
				}
				return p.fail(p.pos, "expected %s", quote(e.lit))
			}
			p.pos += len(e.lit)
		case kOptional:
			pos, st := p.pos, p.st
			if err := p.run(e.sub); err != nil {
				if pe, ok := err.(*ParseError); ok && (p.optErr == nil || pe.Offset > p.optErr.Offset) {
					p.optErr = pe
				}
				p.pos, p.st = pos, st
			}
		default:
			// SimpleDateFormat skips spaces and tabs before every field.
			for p.pos < len(p.value) && (p.value[p.pos] == ' ' || p.value[p.pos] == '\t') {
				p.pos++
			}
			if err := p.field(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *parser) field(e *elem) error {
	start := p.pos
	rest := p.value[start:]
	switch e.kind {
	case kNumber:
		return p.number(e)
	case kFraction:
		n := digitRun(rest)
		if e.width > 0 && n > e.width {
			n = e.width
		}
		switch {
		case n == 0:
			return p.fail(start, "expected fraction of second")
		case e.width > 0 && n < e.width:
			return p.fail(start, "expected %d digits for fraction of second", e.width)
		case n > 9:
			return p.fail(start, "fraction of second has more than 9 digits")
		}
		v := atoi(rest[:n])
		for i := n; i < 9; i++ {
			v *= 10
		}
		p.pos += n
		return p.set(hasNano, &p.st.nano, v, start, "fraction of second")
	case kMonthName:
		v, n := matchName(rest, monthNames)
		if n == 0 {
			return p.fail(start, "expected month name")
		}
		p.pos += n
		return p.set(hasMonth, &p.st.month, v, start, "month")
	case kDayName:
		v, n := matchName(rest, dayNames)
		if n == 0 {
			return p.fail(start, "expected day name")
		}
		p.pos += n
		if p.st.has&hasWeekday != 0 && p.st.weekday != time.Weekday(v) {
			return p.fail(start, "%s conflicts with %s", time.Weekday(v), p.st.weekday)
		}
		p.st.has |= hasWeekday
		p.st.weekday, p.st.weekdayAt = time.Weekday(v), start
		return nil
	case kAmPm:
		v, n := matchName(rest, ampmNames)
		if n == 0 {
			return p.fail(start, "expected AM or PM")
		}
		p.pos += n
		if p.st.has&hasAmPm != 0 && p.st.pm != (v == 1) {
			return p.fail(start, "AM/PM conflicts with an earlier AM/PM")
		}
		p.st.has |= hasAmPm
		p.st.pm, p.st.ampmAt = v == 1, start
		return nil
	}
	var (
		z   zone
		n   int
		msg string
	)
	switch e.kind {
	case kZone:
		z, n, msg = parseZoneText(rest)
	case kOffset:
		z, n, msg = parseISOOffset(rest)
	default: // kZoneID
		z, n, msg = parseZoneID(rest)
	}
	if msg != "" {
		return p.fail(start, "%s", msg)
	}
	p.pos += n
	if z.loc != nil {
		p.st.has |= hasLoc
		p.st.loc = z.loc
		return nil
	}
	if p.st.has&hasOffset != 0 && p.st.offset != z.offset {
		return p.fail(start, "time zone conflicts with an earlier time zone")
	}
	p.st.has |= hasOffset
	p.st.offset, p.st.zoneName = z.offset, z.name
	return nil
}

// describe names what a field element reads, for messages, or returns "".
func describe(e *elem) string {
	switch e.kind {
	case kNumber:
		return numSpecs[e.field].name
	case kFraction:
		return "fraction of second"
	case kMonthName:
		return "month name"
	case kDayName:
		return "day name"
	case kAmPm:
		return "AM/PM"
	case kZone:
		return "time zone"
	case kOffset:
		return "zone offset"
	case kZoneID:
		return "time zone ID"
	}
	return ""
}

// number parses a numeric field.
func (p *parser) number(e *elem) error {
	spec := numSpecs[e.field]
	start := p.pos
	rest := p.value[start:]
	n := digitRun(rest)
	if e.width > 0 && n > e.width {
		n = e.width
	}
	switch {
	case n == 0:
		return p.fail(start, "expected %s", spec.name)
	case e.width > 0 && n < e.width:
		return p.fail(start, "expected %d digits for %s", e.width, spec.name)
	case n > 9:
		return p.fail(start, "%s has more than 9 digits", spec.name)
	}
	v := atoi(rest[:n])
	if v < spec.min || v > spec.max {
		return p.fail(start, "%s %d out of range %d-%d", spec.name, v, spec.min, spec.max)
	}
	p.pos += n
	st := &p.st
	switch e.field {
	case fYear, fYearU:
		rule := yearAsIs
		switch {
		case e.field == fYear && e.count <= 2 && n == 2:
			rule = yearSliding
		case e.field == fYearU && e.count == 2 && n == 2:
			rule = yearBase2000
		}
		if st.has&hasYear != 0 && (st.year != v || st.yearRule != rule) {
			return p.fail(start, "year conflicts with an earlier year")
		}
		st.has |= hasYear
		st.year, st.yearRule, st.yearAt = v, rule, start
		return nil
	case fMonth:
		return p.set(hasMonth, &st.month, v, start, "month")
	case fDay:
		st.dayAt = start
		return p.set(hasDay, &st.day, v, start, "day of month")
	case fYearDay:
		st.ydayAt = start
		return p.set(hasYearDay, &st.yday, v, start, "day of year")
	case fHour, fHourK24:
		st.hourAt = start
		return p.set(hasHour24, &st.hour24, v%24, start, "hour")
	case fHour12, fHourK12:
		return p.set(hasHour12, &st.hour12, v%12, start, "hour")
	case fMinute:
		return p.set(hasMinute, &st.minute, v, start, "minute")
	case fSecond:
		return p.set(hasSecond, &st.second, v, start, "second")
	default: // fNanoOfSec
		return p.set(hasNano, &st.nano, v, start, "nanosecond")
	}
}

// set stores a field, failing if an earlier field gave it another value.
func (p *parser) set(bit has, dst *int, v, at int, name string) error {
	if p.st.has&bit != 0 && *dst != v {
		return p.fail(at, "%s conflicts with an earlier %s", name, name)
	}
	p.st.has |= bit
	*dst = v
	return nil
}

// resolve turns the fields into an instant. now is the time of parsing,
// which only a two-digit y year depends on.
func (p *parser) resolve(now func() time.Time) (time.Time, error) {
	st := &p.st
	year := 1970
	if st.has&hasYear != 0 {
		year = st.year
	}
	var centuryStart time.Time
	ambiguous := false
	switch st.yearRule {
	case yearSliding:
		// SimpleDateFormat: the year within 80 years before and 20 after now.
		// A year that could be either end is settled by the full date.
		centuryStart = now().UTC().AddDate(-80, 0, 0)
		sy := centuryStart.Year()
		ambiguous = st.year == sy%100
		year = sy/100*100 + st.year
		if st.year < sy%100 {
			year += 100
		}
	case yearBase2000:
		year = 2000 + st.year
	}
	t, err := p.build(year)
	if err != nil {
		return time.Time{}, err
	}
	if ambiguous && t.Before(centuryStart) {
		return p.build(year + 100)
	}
	return t, nil
}

// build checks the fields against each other for the given year and returns
// the instant.
func (p *parser) build(year int) (time.Time, error) {
	st := &p.st
	month, day := time.January, 1
	if st.has&hasMonth != 0 {
		month = time.Month(st.month)
	}
	if st.has&hasDay != 0 {
		day = st.day
	}
	if st.has&hasYearDay != 0 {
		if last := time.Date(year, time.December, 31, 0, 0, 0, 0, time.UTC).YearDay(); st.yday > last {
			return time.Time{}, p.fail(st.ydayAt, "day of year %d out of range for %d", st.yday, year)
		}
		d := time.Date(year, time.January, st.yday, 0, 0, 0, 0, time.UTC)
		if st.has&hasMonth != 0 && d.Month() != month || st.has&hasDay != 0 && d.Day() != day {
			return time.Time{}, p.fail(st.ydayAt, "day of year %d is %s %d, which conflicts with the month or day", st.yday, d.Month(), d.Day())
		}
		month, day = d.Month(), d.Day()
	}
	if day > daysIn(month, year) {
		return time.Time{}, p.fail(st.dayAt, "day %d out of range for %s %d", day, month, year)
	}

	hour := 0
	switch {
	case st.has&hasHour24 != 0:
		hour = st.hour24
		if st.has&hasHour12 != 0 && hour%12 != st.hour12 {
			return time.Time{}, p.fail(st.hourAt, "hour of day %d conflicts with hour of AM/PM", hour)
		}
		if st.has&hasAmPm != 0 && (hour >= 12) != st.pm {
			return time.Time{}, p.fail(st.ampmAt, "%s conflicts with hour %d", ampm(st.pm), hour)
		}
	case st.has&hasHour12 != 0:
		hour = st.hour12
		if st.pm {
			hour += 12
		}
	case st.pm:
		hour = 12 // SimpleDateFormat reads a lone PM as noon
	}

	wall := time.Date(year, month, day, hour, st.minute, st.second, st.nano, time.UTC)
	if st.has&hasWeekday != 0 && wall.Weekday() != st.weekday {
		return time.Time{}, p.fail(st.weekdayAt, "%s does not match %04d-%02d-%02d, a %s", st.weekday, year, int(month), day, wall.Weekday())
	}
	switch {
	case st.has&hasOffset != 0:
		return wall.Add(-time.Duration(st.offset) * time.Second).In(fixedLocation(st.offset, st.zoneName)), nil
	case st.has&hasLoc != 0:
		return dateIn(wall, st.loc), nil
	default:
		return wall, nil
	}
}

func ampm(pm bool) string {
	if pm {
		return "PM"
	}
	return "AM"
}

// daysIn returns the number of days of a month in the proleptic Gregorian
// calendar.
func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// name is a word to match and the value it stands for.
type name struct {
	text  string
	value int
}

// names sorts words longest first, so that the first match is the longest.
func names(words ...name) []name {
	sort.SliceStable(words, func(i, j int) bool { return len(words[i].text) > len(words[j].text) })
	return words
}

var monthNames = func() []name {
	var ws []name
	for m := time.January; m <= time.December; m++ {
		ws = append(ws, name{m.String(), int(m)}, name{m.String()[:3], int(m)})
	}
	return names(append(ws, name{"Sept", int(time.September)})...)
}()

var dayNames = func() []name {
	var ws []name
	for d := time.Sunday; d <= time.Saturday; d++ {
		ws = append(ws, name{d.String(), int(d)}, name{d.String()[:3], int(d)})
	}
	return names(ws...)
}()

var ampmNames = names(name{"AM", 0}, name{"PM", 1})

// matchName returns the value and length of the longest word that s starts
// with, ignoring ASCII case, or a length of 0.
func matchName(s string, words []name) (value, n int) {
	for _, w := range words {
		if matchFold(s, w.text) {
			return w.value, len(w.text)
		}
	}
	return 0, 0
}

// quote quotes a literal for a message: ':' for one byte, "at" for more.
func quote(s string) string {
	if len(s) == 1 && s[0] < 0x80 {
		return fmt.Sprintf("%q", rune(s[0]))
	}
	return fmt.Sprintf("%q", s)
}
