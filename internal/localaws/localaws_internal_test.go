package localaws

import (
	"regexp"
	"strings"
	"testing"
)

func TestRequired(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{name: "nothing set", env: nil, want: false},
		{name: "CI", env: map[string]string{"CI": "true"}, want: true},
		{name: "CI empty", env: map[string]string{"CI": ""}, want: false},
		{name: "require 1", env: map[string]string{EnvRequire: "1"}, want: true},
		{name: "require 0", env: map[string]string{EnvRequire: "0"}, want: false},
		{name: "both", env: map[string]string{"CI": "1", EnvRequire: "1"}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := required(func(k string) string { return tt.env[k] })
			if got != tt.want {
				t.Errorf("required(%v) = %v, want %v", tt.env, got, tt.want)
			}
		})
	}
}

func TestStreamName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)
	tests := []string{
		"TestX",
		"TestRoundTrip/kinesis-local",
		"TestWeird/with spaces & ünïcödé:/#1",
		strings.Repeat("TestVeryLong/", 40),
	}
	for _, test := range tests {
		a, b := streamName(test), streamName(test)
		if !valid.MatchString(a) {
			t.Errorf("streamName(%q) = %q, not a valid stream name", test, a)
		}
		if a == b {
			t.Errorf("streamName(%q) returned %q twice, want unique names", test, a)
		}
	}
}
