package expr

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Overloads of cel-go's strings extension that have kernels.
const (
	overloadLowerASCII = "string_lower_ascii"
	overloadUpperASCII = "string_upper_ascii"
	overloadSplit      = "string_split_string"
	overloadSplitN     = "string_split_string_int"
)

// splitNode is s.split(sep) or s.split(sep, n) with a constant separator and limit: a
// list<utf8> column, as strings.Split and strings.SplitN, which cel-go calls. The pieces are
// copied into one new value buffer: separators lie between them in the input, so utf8 offsets
// cannot share the input's buffer. The batch costs a handful of allocations, not one per piece.
type splitNode struct {
	arg   node
	sep   string
	limit int // strings.SplitN's n; -1: all
	src   string
}

func (n *splitNode) String() string {
	s := n.arg.String() + ".split(" + strconv.Quote(n.sep)
	if n.limit >= 0 {
		s += ", " + strconv.Itoa(n.limit)
	}
	return s + ")"
}

func (n *splitNode) eval(c *evalCtx) (vec, error) {
	a, err := n.arg.eval(c)
	if err != nil {
		return vec{}, err
	}
	defer a.release()
	m, k := c.strict(false, &a)
	if k != nil {
		return *k, nil
	}
	// A first pass sizes the buffers exactly: the pieces, and their bytes (at most the input's).
	sv := newStrView(&a)
	pieces, size := 0, 0
	for i := range c.n {
		if m.isValid(i) {
			s := sv.at(i)
			pieces += splitCount(s, n.sep, n.limit)
			size += len(s)
		}
	}
	if pieces >= math.MaxInt32 || size >= math.MaxInt32 {
		m.release()
		return vec{}, fmt.Errorf("expr: %s: the pieces do not fit in a utf8 array", n.src)
	}
	listBuf, childBuf, data := c.buffer((c.n+1)*4), c.buffer((pieces+1)*4), c.buffer(size)
	listOffs := arrow.Int32Traits.CastFromBytes(listBuf.Bytes())
	w := pieceWriter{offs: arrow.Int32Traits.CastFromBytes(childBuf.Bytes()), data: data.Bytes()}
	for i := range c.n {
		listOffs[i] = int32(w.k)
		if m.isValid(i) {
			splitEach(sv.at(i), n.sep, n.limit, w.emit)
		}
	}
	listOffs[c.n] = int32(w.k)
	w.offs[w.k] = int32(w.end)

	child := array.NewData(arrow.BinaryTypes.String, pieces, []*memory.Buffer{nil, childBuf, data}, nil, 0, 0)
	childBuf.Release()
	data.Release()
	nulls := 0
	if m.valid != nil {
		nulls = array.UnknownNullCount
	}
	d := array.NewData(arrow.ListOf(arrow.BinaryTypes.String), c.n, []*memory.Buffer{m.valid, listBuf}, []arrow.ArrayData{child}, nulls, 0)
	child.Release()
	listBuf.Release()
	if m.valid != nil {
		m.valid.Release()
	}
	arr := array.MakeFromData(d)
	d.Release()
	m.sortErrs()
	return vec{arr: arr, errs: m.errs}, nil
}

// pieceWriter appends pieces to a utf8 array's offsets and values, sized beforehand.
type pieceWriter struct {
	offs   []int32
	data   []byte
	k, end int // pieces and bytes written
}

func (w *pieceWriter) emit(p string) {
	w.offs[w.k] = int32(w.end)
	w.k++
	w.end += copy(w.data[w.end:], p)
}

// splitCount returns len(strings.SplitN(s, sep, limit)).
func splitCount(s, sep string, limit int) int {
	var k int
	switch {
	case limit == 0:
		return 0
	case sep == "":
		k = utf8.RuneCountInString(s)
	default:
		k = strings.Count(s, sep) + 1
	}
	if limit > 0 && k > limit {
		k = limit
	}
	return k
}

// splitEach calls emit with the pieces of strings.SplitN(s, sep, limit), in order, without
// allocating them.
func splitEach(s, sep string, limit int, emit func(string)) {
	if limit == 0 {
		return
	}
	if sep == "" {
		// strings.SplitN explodes s into UTF-8 sequences (an invalid byte is one piece); the
		// last piece is the rest.
		for limit != 1 && s != "" {
			_, size := utf8.DecodeRuneInString(s)
			emit(s[:size])
			s = s[size:]
			limit--
		}
		if s != "" {
			emit(s)
		}
		return
	}
	if len(sep) == 1 && limit < 0 {
		// The common case: words are short, so a byte loop beats strings.Index's calls.
		c, from := sep[0], 0
		for i := 0; i < len(s); i++ {
			if s[i] == c {
				emit(s[from:i])
				from = i + 1
			}
		}
		emit(s[from:])
		return
	}
	for limit != 1 {
		i := strings.Index(s, sep)
		if i < 0 {
			break
		}
		emit(s[:i])
		s = s[i+len(sep):]
		limit--
	}
	emit(s)
}

// asciiCaseNode is s.lowerAscii() or s.upperAscii(): ASCII letters change case, other
// characters are kept. cel-go converts the string to runes and back, so each invalid UTF-8
// byte becomes U+FFFD; so does the kernel.
type asciiCaseNode struct {
	arg   node
	upper bool
	src   string
}

func (n *asciiCaseNode) String() string {
	if n.upper {
		return n.arg.String() + ".upperAscii()"
	}
	return n.arg.String() + ".lowerAscii()"
}

func (n *asciiCaseNode) eval(c *evalCtx) (vec, error) {
	a, err := n.arg.eval(c)
	if err != nil {
		return vec{}, err
	}
	defer a.release()
	m, k := c.strict(false, &a)
	if k != nil {
		return *k, nil
	}
	defer m.release()
	b := array.NewStringBuilder(c.mem)
	defer b.Release()
	b.Reserve(c.n)
	if raw, ok := rawOf(&a); ok {
		b.ReserveData(int(raw.offs[c.n] - raw.offs[0]))
	}
	sv := newStrView(&a)
	var scratch []byte
	for i := range c.n {
		if !m.isValid(i) {
			b.AppendNull()
			continue
		}
		scratch = asciiCase(scratch[:0], sv.at(i), n.upper)
		b.BinaryBuilder.Append(scratch)
	}
	m.sortErrs()
	return vec{arr: b.NewArray(), errs: m.errs}, nil
}

// asciiCase appends s to dst with its ASCII letters lowered (or raised) and each invalid UTF-8
// byte replaced by U+FFFD, as string([]rune(s)) does.
func asciiCase(dst []byte, s string, upper bool) []byte {
	lo, hi := byte('A'), byte('Z')
	if upper {
		lo, hi = 'a', 'z'
	}
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if lo <= b && b <= hi {
				b ^= 'a' - 'A' // 0x20: the case bit of ASCII letters
			}
			dst = append(dst, b)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}
