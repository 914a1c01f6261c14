package optspec_test

import (
	"testing"

	"github.com/sluicedev/sluice/optspec"
)

// Option values come from users' code and configuration files: the parsers must never panic
// and never return a negative size or duration (an overflow that wrapped).

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"400ms", "1s", "1.5s", "2m", "1min", "3 minutes", "1h", "1d", "250", "0",
		"-1", "-1s", "1m30s", "soon", "", ".", "1e3ms", "9223372036855", "106752d", "9223372036854775808ns",
		"99999999999999999999999999999999999d", "+5", "0.000000001ns", "1h-2m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := optspec.ParseDuration(s)
		if err != nil {
			if d != 0 {
				t.Errorf("ParseDuration(%q) = %v with error %v; want 0", s, d, err)
			}
			return
		}
		if d < 0 {
			t.Errorf("ParseDuration(%q) = %v: negative", s, d)
		}
	})
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"0", "1", "100b", "1k", "512kb", "10mb", "2gb", "3tb", "1.5kb", ".5k", "-1",
		"", "lots", "1e3", "8388608tb", "8388607.9999tb", "9223372036854775808", "99999999999999999999tb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := optspec.ParseBytes(s)
		if err != nil {
			if n != 0 {
				t.Errorf("ParseBytes(%q) = %d with error %v; want 0", s, n, err)
			}
			return
		}
		if n < 0 {
			t.Errorf("ParseBytes(%q) = %d: negative", s, n)
		}
	})
}
