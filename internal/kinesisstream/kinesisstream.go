// Package kinesisstream checks Kinesis stream names and ARNs, for the Kinesis source and sink,
// which word their own errors.
package kinesisstream

import "regexp"

var (
	nameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)
	arnRE  = regexp.MustCompile(`^arn:aws[a-z-]*:kinesis:([a-z0-9-]+):([0-9]{12}):stream/([a-zA-Z0-9_.-]{1,128})$`)
)

// ValidName reports whether name is a valid stream name: 1 to 128 characters of a-z, A-Z,
// 0-9, '_', '.' and '-'.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// ParseARN returns the region and the stream name of a stream ARN
// (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME, in any AWS partition); ok is false when arn is
// not one.
func ParseARN(arn string) (region, name string, ok bool) {
	m := arnRE.FindStringSubmatch(arn)
	if m == nil {
		return "", "", false
	}
	return m[1], m[3], true
}
