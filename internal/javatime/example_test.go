package javatime_test

import (
	"fmt"
	"time"

	"github.com/sluicedev/sluice/internal/javatime"
)

// The initialPosition example from the connector's documentation.
func ExampleParse() {
	t, err := javatime.Parse("MM/dd/yyyy HH:mm:ss ZZZ", "06/25/2020 10:23:45 PDT")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(t.UTC().Format(time.RFC3339))
	// Output: 2020-06-25T17:23:45Z
}

func ExampleParse_error() {
	_, err := javatime.Parse("MM/dd/yyyy HH:mm:ss ZZZ", "06/25/2020 10:23")
	fmt.Println(err)
	// Output: javatime: parse "06/25/2020 10:23" with "MM/dd/yyyy HH:mm:ss ZZZ": expected ':' at offset 16
}

// A value given without a format may use the default format, ISO-8601 or
// epoch milliseconds.
func ExampleParseDefault() {
	for _, v := range []string{
		"06/25/2020 10:23:45 PDT",
		"2020-06-25T10:23:45-07:00",
		"1593105825000",
	} {
		t, err := javatime.ParseDefault(v)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(t.UTC().Format(time.RFC3339))
	}
	// Output:
	// 2020-06-25T17:23:45Z
	// 2020-06-25T17:23:45Z
	// 2020-06-25T17:23:45Z
}

// Compile once, parse many times; a Layout is safe for concurrent use.
func ExampleCompile() {
	l, err := javatime.Compile("EEE, d MMM yyyy hh:mm:ss.SSS a zzzz")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range []string{
		"Thu, 25 Jun 2020 10:23:45.250 AM Pacific Daylight Time",
		"Fri, 26 Jun 2020 01:00:00.000 PM Central European Summer Time",
	} {
		t, err := l.Parse(v)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(t.UTC().Format(time.RFC3339Nano))
	}
	// Output:
	// 2020-06-25T17:23:45.25Z
	// 2020-06-26T11:00:00Z
}

func ExampleCompile_error() {
	_, err := javatime.Compile("yyyy-MM-dd T HH:mm")
	fmt.Println(err)
	// Output: javatime: pattern "yyyy-MM-dd T HH:mm": unknown letter 'T' (quote literal text, as in 'T') at offset 11
}
