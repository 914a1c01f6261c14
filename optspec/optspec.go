// Package optspec declares a component's string options once — key, type, default, doc,
// whether it is required or secret — and uses that one declaration to parse Spark-style
// .Option(key, value) pairs into the component's typed Options struct, to validate them, to
// redact secrets when options are printed, and to render the documentation table.
//
// Keys are matched case-insensitively, as Spark does. Parse reports every problem at once
// (unknown keys with a suggestion, malformed values, missing required options), each error
// naming the component and the key.
package optspec

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Redacted is what Redact prints instead of a secret option's value.
const Redacted = "*****(redacted)"

// Option is the declaration of one option of a component whose typed options are T.
type Option[T any] struct {
	// Key is the option name as users write it, e.g. "maxFetchRate".
	Key string
	// Type is a short description of the accepted values for the docs, e.g. "duration".
	Type string
	// Default is the default as users would write it; "" means none. Documentation only:
	// the Options struct's constructor sets the actual default.
	Default string
	// Doc explains the option in one or two sentences.
	Doc string
	// Required options must be given.
	Required bool
	// Secret options are never printed (see Redact).
	Secret bool
	// Set parses value into o. Its error message says what was expected, without the key;
	// Parse adds the component and the key.
	Set func(o *T, value string) error
}

// Spec is the option declaration of one component.
type Spec[T any] struct {
	// Component names the component in errors, e.g. "kinesis source".
	Component string
	// Options lists the options in documentation order.
	Options []Option[T]
}

// Error is one problem with one option.
type Error struct {
	Component string
	Key       string
	Msg       string
}

func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%s: %s", e.Component, e.Msg)
	}
	return fmt.Sprintf("%s: option %q: %s", e.Component, e.Key, e.Msg)
}

// Lookup returns the declaration of key, matched case-insensitively.
func (s *Spec[T]) Lookup(key string) (*Option[T], bool) {
	for i := range s.Options {
		if strings.EqualFold(s.Options[i].Key, key) {
			return &s.Options[i], true
		}
	}
	return nil, false
}

// Parse applies kv to o: every key must be declared, every value must parse, every required
// option must be present. It returns nil or an error joining one *Error per problem, in key
// order (case-insensitive). Keys listed in ignore (case-insensitive) are skipped: they belong
// to the caller.
func (s *Spec[T]) Parse(o *T, kv map[string]string, ignore ...string) error {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	// Case-insensitive key order (ties, i.e. one key given twice in different cases, in byte
	// order), so that errors come out in the order a reader looks for them.
	sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
	var errs []*Error
	seen := map[string]string{}
outer:
	for _, k := range keys {
		for _, ig := range ignore {
			if strings.EqualFold(ig, k) {
				continue outer
			}
		}
		opt, ok := s.Lookup(k)
		if !ok {
			msg := "unknown option"
			if near := s.nearest(k); near != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", near)
			}
			if len(s.Options) == 0 {
				msg += "; this component takes no options"
			} else {
				msg += "; known options: " + strings.Join(s.Keys(), ", ")
			}
			errs = append(errs, &Error{Component: s.Component, Key: k, Msg: msg})
			continue
		}
		if prev, dup := seen[opt.Key]; dup {
			errs = append(errs, &Error{Component: s.Component, Key: k, Msg: fmt.Sprintf("given twice (also as %q)", prev)})
			continue
		}
		seen[opt.Key] = k
		if err := opt.Set(o, kv[k]); err != nil {
			shown := withoutPassword(kv[k])
			if opt.Secret {
				shown = Redacted
			}
			errs = append(errs, &Error{Component: s.Component, Key: opt.Key, Msg: fmt.Sprintf("invalid value %q: %v", shown, err)})
		}
	}
	for _, opt := range s.Options {
		if _, ok := seen[opt.Key]; opt.Required && !ok {
			errs = append(errs, &Error{Component: s.Component, Key: opt.Key, Msg: "required option is missing"})
		}
	}
	// Missing required options were appended last; put them in key order with the rest.
	sort.SliceStable(errs, func(i, j int) bool {
		return strings.ToLower(errs[i].Key) < strings.ToLower(errs[j].Key)
	})
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}

// keyLess orders option keys case-insensitively, then byte-wise.
func keyLess(a, b string) bool {
	la, lb := strings.ToLower(a), strings.ToLower(b)
	if la != lb {
		return la < lb
	}
	return a < b
}

// Keys returns the declared keys in documentation order.
func (s *Spec[T]) Keys() []string {
	out := make([]string, len(s.Options))
	for i, o := range s.Options {
		out[i] = o.Key
	}
	return out
}

// Redact returns a copy of kv in which the values of secret options are replaced by Redacted.
// Unknown keys whose name looks like a secret (see LooksSecret) are redacted too.
func (s *Spec[T]) Redact(kv map[string]string) map[string]string {
	out := make(map[string]string, len(kv))
	for k, v := range kv {
		opt, ok := s.Lookup(k)
		if (ok && opt.Secret) || (!ok && LooksSecret(k)) {
			v = Redacted
		}
		out[k] = v
	}
	return out
}

// LooksSecret reports whether an option key's name suggests a credential: it contains secret,
// token, password, credential, access key, API key or private key, in any case and with or
// without separators ("fs.s3a.access.key", "api_key", "privateKey").
func LooksSecret(key string) bool {
	k := strings.NewReplacer(".", "", "_", "", "-", "", " ", "").Replace(strings.ToLower(key))
	for _, w := range []string{"secret", "token", "password", "credential", "accesskey", "apikey", "privatekey"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// Markdown renders the options as a Markdown table: option, type, default, description.
func (s *Spec[T]) Markdown() string {
	var b strings.Builder
	b.WriteString("| option | type | default | description |\n|---|---|---|---|\n")
	for _, o := range s.Options {
		def := o.Default
		if o.Required {
			def = "(required)"
		} else if def == "" {
			def = "none"
		}
		doc := o.Doc
		if o.Secret {
			doc += " Secret: never printed."
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", o.Key, o.Type, def, strings.ReplaceAll(doc, "|", `\|`))
	}
	return b.String()
}

func (s *Spec[T]) nearest(key string) string {
	best, bestD := "", math.MaxInt
	lk := strings.ToLower(key)
	for _, o := range s.Options {
		d := levenshtein(lk, strings.ToLower(o.Key))
		if d < bestD {
			best, bestD = o.Key, d
		}
	}
	if bestD <= 2 || (bestD <= 4 && len(key) > 10) {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// String declares a string option stored in *field(o).
func String[T any](key, def, doc string, field func(*T) *string) Option[T] {
	return Option[T]{Key: key, Type: "string", Default: def, Doc: doc, Set: func(o *T, v string) error {
		*field(o) = v
		return nil
	}}
}

// NonEmpty declares a string option that must not be empty.
func NonEmpty[T any](key, def, doc string, field func(*T) *string) Option[T] {
	return Option[T]{Key: key, Type: "string", Default: def, Doc: doc, Set: func(o *T, v string) error {
		if strings.TrimSpace(v) == "" {
			return errors.New("must not be empty")
		}
		*field(o) = v
		return nil
	}}
}

// Enum declares a string option restricted to the given values (case-insensitive); the stored
// value is the declared spelling.
func Enum[T any](key, def, doc string, values []string, field func(*T) *string) Option[T] {
	return Option[T]{Key: key, Type: strings.Join(values, " \\| "), Default: def, Doc: doc, Set: func(o *T, v string) error {
		for _, allowed := range values {
			if strings.EqualFold(strings.TrimSpace(v), allowed) {
				*field(o) = allowed
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(values, ", "))
	}}
}

// Bool declares a boolean option ("true" or "false", case-insensitive).
func Bool[T any](key, def, doc string, field func(*T) *bool) Option[T] {
	return Option[T]{Key: key, Type: "boolean", Default: def, Doc: doc, Set: func(o *T, v string) error {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			*field(o) = true
		case "false":
			*field(o) = false
		default:
			return errors.New("must be true or false")
		}
		return nil
	}}
}

// Int declares an integer option within [lo, hi].
func Int[T any](key, def, doc string, lo, hi int64, field func(*T) *int64) Option[T] {
	return Option[T]{Key: key, Type: "integer", Default: def, Doc: doc, Set: func(o *T, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return errors.New("must be an integer")
		}
		if n < lo || n > hi {
			if hi == math.MaxInt64 {
				return fmt.Errorf("must be at least %d", lo)
			}
			return fmt.Errorf("must be between %d and %d", lo, hi)
		}
		*field(o) = n
		return nil
	}}
}

// Float declares a decimal option within [lo, hi].
func Float[T any](key, def, doc string, lo, hi float64, field func(*T) *float64) Option[T] {
	return Option[T]{Key: key, Type: "decimal", Default: def, Doc: doc, Set: func(o *T, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return errors.New("must be a decimal number")
		}
		if f < lo || f > hi {
			if math.IsInf(hi, 1) || hi == math.MaxFloat64 {
				return fmt.Errorf("must be at least %g", lo)
			}
			return fmt.Errorf("must be between %g and %g", lo, hi)
		}
		*field(o) = f
		return nil
	}}
}

// Duration declares a duration option ("400ms", "1s", "2m", "1h"; a bare number is
// milliseconds) within [lo, hi].
func Duration[T any](key, def, doc string, lo, hi time.Duration, field func(*T) *time.Duration) Option[T] {
	return Option[T]{Key: key, Type: "duration", Default: def, Doc: doc, Set: func(o *T, v string) error {
		d, err := ParseDuration(v)
		if err != nil {
			return err
		}
		if d < lo || d > hi {
			return fmt.Errorf("must be between %s and %s", lo, hi)
		}
		*field(o) = d
		return nil
	}}
}

// Bytes declares a byte-size option ("2gb", "10mb", "512k"; a bare number is bytes) within
// [lo, hi].
func Bytes[T any](key, def, doc string, lo, hi int64, field func(*T) *int64) Option[T] {
	return Option[T]{Key: key, Type: "byte string", Default: def, Doc: doc, Set: func(o *T, v string) error {
		n, err := ParseBytes(v)
		if err != nil {
			return err
		}
		if n < lo || n > hi {
			return fmt.Errorf("must be between %d and %d bytes", lo, hi)
		}
		*field(o) = n
		return nil
	}}
}

var errDurationTooLarge = errors.New("must be shorter than 292 years")

// ParseDuration parses Spark-style duration strings: a number followed by a unit (ns, us, ms,
// s, m, min, h, d, with long forms such as "seconds"), or Go duration syntax ("1m30s"). A bare
// number is milliseconds. Negative durations are rejected.
func ParseDuration(s string) (time.Duration, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	if v == "" {
		return 0, errors.New("must be a duration such as 400ms, 1s or 2m")
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, errors.New("must not be negative")
		}
		if n > math.MaxInt64/int64(time.Millisecond) {
			return 0, errDurationTooLarge
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	i := 0
	for i < len(v) && (v[i] >= '0' && v[i] <= '9' || v[i] == '.') {
		i++
	}
	num, unit := v[:i], strings.TrimSpace(v[i:])
	units := map[string]time.Duration{
		"ns": time.Nanosecond, "us": time.Microsecond, "ms": time.Millisecond,
		"millisecond": time.Millisecond, "milliseconds": time.Millisecond,
		"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
		"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
		"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
		"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	}
	if mult, ok := units[unit]; ok && num != "" {
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, errors.New("must be a duration such as 400ms, 1s or 2m")
		}
		// float64(math.MaxInt64) is 2^63, itself out of range: converting it, or anything
		// larger, to an int64 is undefined (a negative duration on amd64).
		if f*float64(mult) >= float64(math.MaxInt64) {
			return 0, errDurationTooLarge
		}
		return time.Duration(f * float64(mult)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("must be a duration such as 400ms, 1s or 2m")
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	return d, nil
}

// ParseBytes parses Spark-style byte strings: a number followed by b, k/kb, m/mb, g/gb, t/tb
// (binary multiples, as Spark's JavaUtils.byteStringAs), case-insensitive. A bare number is
// bytes.
func ParseBytes(s string) (int64, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(v) && (v[i] >= '0' && v[i] <= '9' || v[i] == '.') {
		i++
	}
	num, unit := v[:i], strings.TrimSpace(v[i:])
	mults := map[string]float64{"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
		"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
		"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}
	mult, ok := mults[unit]
	if num == "" || !ok {
		return 0, errors.New("must be a byte size such as 512kb, 10mb or 2gb")
	}
	f, err := strconv.ParseFloat(num, 64)
	// float64(math.MaxInt64) is 2^63, itself out of range for int64: hence >=.
	if err != nil || f*mult >= math.MaxInt64 {
		return 0, errors.New("must be a byte size such as 512kb, 10mb or 2gb")
	}
	return int64(f * mult), nil
}

// withoutPassword returns v with the password of a URL's user information masked (as
// url.URL.Redacted does), so that an error about such a value does not print the password.
func withoutPassword(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			return u.Redacted()
		}
	}
	return v
}
