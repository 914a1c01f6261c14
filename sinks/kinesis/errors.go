package kinesis

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Errors wrapped by *RecordError: a row that Kinesis would refuse, found before anything is
// sent for it. Replaying the batch fails the same way, so the query stays stopped until the
// query is changed (a filter, a shorter key) or the row is handled elsewhere.
var (
	// ErrRecordTooLarge: data plus partition key exceed MaxRecordSize.
	ErrRecordTooLarge = errors.New("record too large")
	// ErrInvalidPartitionKey: the partition key is empty, longer than 256 characters, or not
	// valid UTF-8.
	ErrInvalidPartitionKey = errors.New("invalid partition key")
	// ErrInvalidExplicitHashKey: the explicit hash key is not a decimal number in
	// [0, 2^128-1] without leading zeros.
	ErrInvalidExplicitHashKey = errors.New("invalid explicit hash key")
	// ErrNull: the data or partitionKey column is null.
	ErrNull = errors.New("null value")
)

// RecordError names the row of a micro-batch that the sink cannot send.
type RecordError struct {
	// BatchID is the micro-batch.
	BatchID int64
	// Row is the row's position in the micro-batch: rows are counted from 0 across every
	// batch given to Write.
	Row int64
	// PartitionKey is the row's partition key, cut to 64 characters ("" if null).
	PartitionKey string
	// Err is ErrRecordTooLarge, ErrInvalidPartitionKey, ErrInvalidExplicitHashKey or ErrNull,
	// wrapped with details.
	Err error
}

// Error implements error: "kinesis sink: batch B, row R (partition key "K"): what is wrong".
func (e *RecordError) Error() string {
	return fmt.Sprintf("kinesis sink: batch %d, row %d (partition key %q): %v", e.BatchID, e.Row, e.PartitionKey, e.Err)
}

// Unwrap returns Err.
func (e *RecordError) Unwrap() error { return e.Err }

// shortKey cuts a partition key for error messages.
func shortKey(pk string) string {
	if utf8.RuneCountInString(pk) <= 64 {
		return strings.ToValidUTF8(pk, "\uFFFD")
	}
	r := []rune(strings.ToValidUTF8(pk, "\uFFFD"))
	return string(r[:61]) + "..."
}

// checkPartitionKey applies Kinesis's partition key rules.
func checkPartitionKey(pk string) error {
	if !utf8.ValidString(pk) {
		return fmt.Errorf("partition key is not valid UTF-8: %w", ErrInvalidPartitionKey)
	}
	// Kinesis counts the key's UTF-16 code units (a character outside the BMP counts twice).
	n := 0
	for _, r := range pk {
		n += utf16.RuneLen(r)
	}
	if n == 0 || n > MaxPartitionKeyLength {
		return fmt.Errorf("partition key of %d characters, want 1 to %d: %w", n, MaxPartitionKeyLength, ErrInvalidPartitionKey)
	}
	return nil
}

// maxHashKey is 2^128-1.
const maxHashKey = "340282366920938463463374607431768211455"

// checkExplicitHashKey applies Kinesis's rule 0|([1-9]\d{0,38}), at most 2^128-1.
func checkExplicitHashKey(s string) error {
	ok := s != "" && len(s) <= len(maxHashKey) && (len(s) == 1 || s[0] != '0')
	for i := 0; ok && i < len(s); i++ {
		ok = s[i] >= '0' && s[i] <= '9'
	}
	if ok && len(s) == len(maxHashKey) {
		ok = s <= maxHashKey
	}
	if !ok {
		return fmt.Errorf("explicit hash key %.50q is not a decimal number in [0, 2^128-1]: %w", s, ErrInvalidExplicitHashKey)
	}
	return nil
}
