package kinesisstream

import (
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"orders": true, "a.b_c-1": true, strings.Repeat("x", 128): true,
		"": false, strings.Repeat("x", 129): false, "with space": false, "slash/name": false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v; want %v", name, got, want)
		}
	}
}

func TestParseARN(t *testing.T) {
	cases := []struct {
		arn, region, name string
		ok                bool
	}{
		{"arn:aws:kinesis:us-east-1:111122223333:stream/orders", "us-east-1", "orders", true},
		{"arn:aws-cn:kinesis:cn-north-1:111122223333:stream/o.1", "cn-north-1", "o.1", true},
		{"arn:aws:kinesis:us-east-1:1111:stream/orders", "", "", false},      // short account
		{"arn:aws:sqs:us-east-1:111122223333:stream/orders", "", "", false},  // not kinesis
		{"arn:aws:kinesis:us-east-1:111122223333:consumer/x", "", "", false}, // not a stream
		{"orders", "", "", false},
	}
	for _, c := range cases {
		r, n, ok := ParseARN(c.arn)
		if r != c.region || n != c.name || ok != c.ok {
			t.Errorf("ParseARN(%q) = %q, %q, %v; want %q, %q, %v", c.arn, r, n, ok, c.region, c.name, c.ok)
		}
	}
}
