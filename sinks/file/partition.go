package file

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedev/sluice/arrowbatch"
)

// DefaultPartitionName is the directory value of a null or empty partition value, as in Hive
// and Spark.
const DefaultPartitionName = "__HIVE_DEFAULT_PARTITION__"

// partitionable reports whether a column of type t may be a partition column: strings,
// integers, booleans, floats, dates and timestamps.
func partitionable(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW,
		arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.BOOL, arrow.FLOAT32, arrow.FLOAT64,
		arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP:
		return true
	}
	return false
}

// partitionValue returns the value of row i of a partition column as it is written in the
// directory name before escaping (timestamps in UTC as "2006-01-02 15:04:05.999999"), and
// false for null or "", which share the directory DefaultPartitionName, as in Hive.
func partitionValue(a arrow.Array, i int) (string, bool) {
	if a.IsNull(i) {
		return "", false
	}
	v := arrowbatch.FormatValue(a, i)
	return v, v != ""
}

// escapePathName escapes a partition value for a directory name as Spark's
// ExternalCatalogUtils.escapePathName does: control characters and "#%'*/:=?\{[]^ (plus DEL)
// become %XX.
func escapePathName(s string) string {
	need := false
	for i := 0; i < len(s); i++ {
		if mustEscape(s[i]) {
			need = true
			break
		}
	}
	if !need {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if mustEscape(c) {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func mustEscape(c byte) bool {
	if c < 0x20 || c == 0x7f {
		return true
	}
	return strings.IndexByte("\"#%'*/:=?\\{[]^", c) >= 0
}

// unescapePathName reverses escapePathName.
func unescapePathName(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// partitionDir returns the Hive-style directory of one combination of partition values, e.g.
// "day=2024-05-01/country=DE/". values[i] nil means null.
func partitionDir(cols []string, values []*string) string {
	var b strings.Builder
	for i, c := range cols {
		b.WriteString(escapePathName(c))
		b.WriteByte('=')
		if values[i] == nil || *values[i] == "" {
			b.WriteString(DefaultPartitionName)
		} else {
			b.WriteString(escapePathName(*values[i]))
		}
		b.WriteByte('/')
	}
	return b.String()
}

// ParsePartitionDir parses the Hive-style directories of a file path relative to the sink's
// path ("day=2024-05-01/country=DE/part-...") into column names and values, unescaped; a
// value of DefaultPartitionName is returned as nil (null or empty).
func ParsePartitionDir(path string) (cols []string, values []*string, err error) {
	segs := strings.Split(path, "/")
	for _, seg := range segs[:len(segs)-1] {
		k, v, ok := strings.Cut(seg, "=")
		if !ok || k == "" {
			return nil, nil, fmt.Errorf("file sink: %q: directory %q is not col=value", path, seg)
		}
		cols = append(cols, unescapePathName(k))
		if v == DefaultPartitionName {
			values = append(values, nil)
		} else {
			u := unescapePathName(v)
			values = append(values, &u)
		}
	}
	return cols, values, nil
}
