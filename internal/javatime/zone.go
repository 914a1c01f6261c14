package javatime

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// zoneName is one row of the zone name table documented in the package
// comment: an abbreviation (empty when only the long names are accepted), its
// fixed offset and the long names that mean the same offset.
type zoneName struct {
	abbr   string
	offset int // seconds east of UTC
	long   []string
}

const hour = 3600

var zoneTable = []zoneName{
	{"UTC", 0, []string{"Coordinated Universal Time"}},
	{"UT", 0, nil},
	{"Z", 0, nil},
	{"GMT", 0, []string{"Greenwich Mean Time"}},
	{"PST", -8 * hour, []string{"Pacific Standard Time"}},
	{"PDT", -7 * hour, []string{"Pacific Daylight Time"}},
	{"MST", -7 * hour, []string{"Mountain Standard Time"}},
	{"MDT", -6 * hour, []string{"Mountain Daylight Time"}},
	{"CST", -6 * hour, []string{"Central Standard Time"}},
	{"CDT", -5 * hour, []string{"Central Daylight Time"}},
	{"EST", -5 * hour, []string{"Eastern Standard Time"}},
	{"EDT", -4 * hour, []string{"Eastern Daylight Time"}},
	{"AKST", -9 * hour, []string{"Alaska Standard Time"}},
	{"AKDT", -8 * hour, []string{"Alaska Daylight Time"}},
	{"HST", -10 * hour, []string{"Hawaii Standard Time", "Hawaii-Aleutian Standard Time"}},
	{"HDT", -9 * hour, []string{"Hawaii Daylight Time", "Hawaii-Aleutian Daylight Time"}},
	{"NST", -3*hour - 1800, []string{"Newfoundland Standard Time"}},
	{"NDT", -2*hour - 1800, []string{"Newfoundland Daylight Time"}},
	{"BRT", -3 * hour, []string{"Brasilia Time", "Brasilia Standard Time"}},
	{"ART", -3 * hour, []string{"Argentina Time", "Argentina Standard Time"}},
	{"WET", 0, []string{"Western European Time", "Western European Standard Time"}},
	{"WEST", 1 * hour, []string{"Western European Summer Time"}},
	{"BST", 1 * hour, []string{"British Summer Time"}},
	{"CET", 1 * hour, []string{"Central European Time", "Central European Standard Time"}},
	{"CEST", 2 * hour, []string{"Central European Summer Time"}},
	{"EET", 2 * hour, []string{"Eastern European Time", "Eastern European Standard Time"}},
	{"EEST", 3 * hour, []string{"Eastern European Summer Time"}},
	{"SAST", 2 * hour, []string{"South Africa Standard Time"}},
	{"MSK", 3 * hour, []string{"Moscow Standard Time"}},
	{"IST", 5*hour + 1800, []string{"India Standard Time"}},
	{"HKT", 8 * hour, []string{"Hong Kong Time", "Hong Kong Standard Time"}},
	{"SGT", 8 * hour, []string{"Singapore Time", "Singapore Standard Time"}},
	{"AWST", 8 * hour, []string{"Australian Western Standard Time"}},
	{"JST", 9 * hour, []string{"Japan Standard Time"}},
	{"KST", 9 * hour, []string{"Korea Standard Time", "Korean Standard Time"}},
	{"ACST", 9*hour + 1800, []string{"Australian Central Standard Time"}},
	{"ACDT", 10*hour + 1800, []string{"Australian Central Daylight Time"}},
	{"AEST", 10 * hour, []string{"Australian Eastern Standard Time"}},
	{"AEDT", 11 * hour, []string{"Australian Eastern Daylight Time"}},
	{"NZST", 12 * hour, []string{"New Zealand Standard Time"}},
	{"NZDT", 13 * hour, []string{"New Zealand Daylight Time"}},
	{"", 8 * hour, []string{"China Standard Time"}},
	{"", 1 * hour, []string{"Irish Standard Time"}},
	{"", 2 * hour, []string{"Israel Standard Time"}},
	{"", 3 * hour, []string{"Israel Daylight Time"}},
}

// zoneKey is a name to match and the row it belongs to.
type zoneKey struct {
	name string
	row  *zoneName
}

// zoneKeys holds every abbreviation and long name, longest first, so that the
// first match is the longest.
var zoneKeys = func() []zoneKey {
	var keys []zoneKey
	for i := range zoneTable {
		r := &zoneTable[i]
		if r.abbr != "" {
			keys = append(keys, zoneKey{r.abbr, r})
		}
		for _, n := range r.long {
			keys = append(keys, zoneKey{n, r})
		}
	}
	sort.SliceStable(keys, func(i, j int) bool { return len(keys[i].name) > len(keys[j].name) })
	return keys
}()

// zone is a parsed time zone: a fixed offset or a location.
type zone struct {
	offset int            // seconds east of UTC, when loc is nil
	name   string         // abbreviation for a fixed offset, may be empty
	loc    *time.Location // for a zone ID
}

// matchFold reports whether s starts with prefix, ignoring ASCII case.
func matchFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// parseZoneText parses what z, Z and O accept at the start of s: a numeric
// offset, GMT/UTC/UT followed by an offset, or a zone name. It returns the
// zone and the number of bytes read, or a message.
func parseZoneText(s string) (zone, int, string) {
	if s == "" {
		return zone{}, 0, "expected time zone"
	}
	if s[0] == '+' || s[0] == '-' {
		off, n, msg := parseOffset(s)
		if msg != "" {
			return zone{}, 0, msg
		}
		return zone{offset: off}, n, ""
	}
	for _, p := range [...]string{"UTC", "GMT", "UT"} {
		if matchFold(s, p) && len(s) > len(p) && (s[len(p)] == '+' || s[len(p)] == '-') {
			off, n, msg := parseOffset(s[len(p):])
			if msg != "" {
				return zone{}, 0, msg
			}
			return zone{offset: off}, len(p) + n, ""
		}
	}
	for _, k := range zoneKeys {
		if matchFold(s, k.name) && (len(s) == len(k.name) || !isLetter(s[len(k.name)])) {
			return zone{offset: k.row.offset, name: k.row.abbr}, len(k.name), ""
		}
	}
	if w := wordRun(s); w != "" {
		if strings.Contains(w, "/") {
			return zone{}, 0, fmt.Sprintf("unknown time zone %q (zone IDs need the pattern letters VV)", w)
		}
		return zone{}, 0, fmt.Sprintf("unknown time zone %q", w)
	}
	return zone{}, 0, "expected time zone"
}

// parseISOOffset parses what X and x accept: Z or a numeric offset.
func parseISOOffset(s string) (zone, int, string) {
	if s != "" && (s[0] == 'Z' || s[0] == 'z') {
		return zone{}, 1, ""
	}
	if s != "" && (s[0] == '+' || s[0] == '-') {
		off, n, msg := parseOffset(s)
		if msg != "" {
			return zone{}, 0, msg
		}
		return zone{offset: off}, n, ""
	}
	return zone{}, 0, "expected zone offset (Z, +08, +0800 or +08:00)"
}

// parseZoneID parses what VV accepts: an IANA time zone ID, Z, UTC, GMT, UT,
// any of the last three followed by an offset, or a numeric offset.
func parseZoneID(s string) (zone, int, string) {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		off, n, msg := parseOffset(s)
		if msg != "" {
			return zone{}, 0, msg
		}
		return zone{offset: off}, n, ""
	}
	n := 0
	for n < len(s) && isIDByte(s[n]) {
		n++
	}
	id := s[:n]
	switch id {
	case "":
		return zone{}, 0, "expected time zone ID"
	case "Z", "UTC", "GMT", "UT":
		return zone{}, n, ""
	}
	for _, p := range [...]string{"UTC", "GMT", "UT"} {
		if len(id) > len(p) && strings.HasPrefix(id, p) && (id[len(p)] == '+' || id[len(p)] == '-') {
			off, m, msg := parseOffset(s[len(p):])
			if msg != "" {
				return zone{}, 0, msg
			}
			return zone{offset: off}, len(p) + m, ""
		}
	}
	loc, err := loadLocation(id)
	if err != nil {
		return zone{}, 0, fmt.Sprintf("unknown time zone ID %q", id)
	}
	return zone{loc: loc}, n, ""
}

// isIDByte reports whether c may appear in a zone ID. Leaving out '.' and '\'
// keeps IDs from naming paths outside the time zone database.
func isIDByte(c byte) bool {
	return isLetter(c) || isDigit(c) || c == '/' || c == '_' || c == '-' || c == '+'
}

// locations caches the zone IDs loaded so far. Only IDs that load are kept, so
// it holds at most the IDs of the time zone database.
var locations sync.Map // string -> *time.Location

func loadLocation(id string) (*time.Location, error) {
	if l, ok := locations.Load(id); ok {
		return l.(*time.Location), nil
	}
	if id == "Local" || len(id) > 64 {
		return nil, errUnknownID
	}
	loc, err := time.LoadLocation(id)
	if err != nil {
		return nil, err
	}
	locations.Store(id, loc)
	return loc, nil
}

var errUnknownID = errors.New("unknown time zone ID")

// maxOffset is the largest offset java.time accepts, 18 hours.
const maxOffset = 18 * hour

// parseOffset parses a signed offset at the start of s in any of the forms
// ±h, ±hh, ±hhmm, ±hhmmss, ±h:mm, ±hh:mm and ±hh:mm:ss. It returns the offset
// in seconds and the number of bytes read, or a message.
func parseOffset(s string) (int, int, string) {
	const bad = "invalid zone offset"
	sign := 1
	if s[0] == '-' {
		sign = -1
	}
	i := 1
	run := digitRun(s[i:])
	var h, m, sec int
	switch {
	case i+run < len(s) && s[i+run] == ':' && (run == 1 || run == 2):
		h = atoi(s[i : i+run])
		i += run + 1
		if digitRun(s[i:]) < 2 {
			return 0, 0, bad
		}
		m = atoi(s[i : i+2])
		i += 2
		if i+2 < len(s) && s[i] == ':' && digitRun(s[i+1:]) >= 2 {
			sec = atoi(s[i+1 : i+3])
			i += 3
		}
	case run == 1 || run == 2:
		h = atoi(s[i : i+run])
		i += run
	case run == 4:
		h, m = atoi(s[i:i+2]), atoi(s[i+2:i+4])
		i += 4
	case run == 6:
		h, m, sec = atoi(s[i:i+2]), atoi(s[i+2:i+4]), atoi(s[i+4:i+6])
		i += 6
	default:
		return 0, 0, bad
	}
	off := h*hour + m*60 + sec
	if m > 59 || sec > 59 || off > maxOffset {
		return 0, 0, fmt.Sprintf("zone offset %q out of range", s[:i])
	}
	return sign * off, i, ""
}

// fixedLocation returns the *time.Location of a fixed offset: UTC for zero, else
// a fixed zone named after the abbreviation.
func fixedLocation(offset int, name string) *time.Location {
	if offset == 0 {
		return time.UTC
	}
	return time.FixedZone(name, offset)
}

// dateIn returns the instant of a wall-clock time in loc the way
// java.time.ZonedDateTime.ofLocal does: a time skipped by a forward
// transition moves forward by the length of the gap, and a time that occurs
// twice takes the earlier offset, which is the earlier instant.
func dateIn(wall time.Time, loc *time.Location) time.Time {
	_, before := wall.Add(-24 * time.Hour).In(loc).Zone()
	_, after := wall.Add(24 * time.Hour).In(loc).Zone()
	for _, off := range [...]int{before, after} {
		t := wall.Add(-time.Duration(off) * time.Second)
		if _, o := t.In(loc).Zone(); o == off {
			return t.In(loc)
		}
	}
	return wall.Add(-time.Duration(before) * time.Second).In(loc)
}

func digitRun(s string) int {
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	return n
}

// wordRun returns the zone name or ID at the start of s, for messages: a
// letter followed by letters, digits, '/' and '_'.
func wordRun(s string) string {
	if s == "" || !isLetter(s[0]) {
		return ""
	}
	n := 1
	for n < len(s) && (isLetter(s[n]) || isDigit(s[n]) || s[n] == '/' || s[n] == '_') {
		n++
	}
	return s[:n]
}

// atoi converts a short run of ASCII digits.
func atoi(s string) int {
	v := 0
	for i := 0; i < len(s); i++ {
		v = v*10 + int(s[i]-'0')
	}
	return v
}
