package expr

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a compile error: an expression that does not parse or does not type-check against
// the schema. It holds every problem found, each with its position, and the columns the
// expression could have used.
type Error struct {
	// Expr is the expression's source.
	Expr string
	// Line and Column locate the first issue; both count from 1 (columns in characters).
	Line, Column int
	// Issues are all the problems found, in source order; Issues[0] is at Line:Column.
	Issues []Issue
	// Columns lists the columns expressions may use, as "name type", in schema order.
	Columns []string
	// Unusable lists the columns expressions cannot use, with the reason.
	Unusable []string
}

// Issue is one problem with an expression.
type Issue struct {
	// Line and Column locate the problem; both count from 1. They are 0 when the problem is
	// the whole expression's.
	Line, Column int
	// Message describes the problem.
	Message string
}

// Error formats the error with each issue's position, a caret under the source, and the
// columns available.
func (e *Error) Error() string {
	var b strings.Builder
	n := len(e.Issues)
	fmt.Fprintf(&b, "expr: %s: %d error", strconv.Quote(e.Expr), n)
	if n != 1 {
		b.WriteString("s")
	}
	lines := strings.Split(e.Expr, "\n")
	for _, is := range e.Issues {
		b.WriteString("\n  ")
		if is.Line > 0 {
			fmt.Fprintf(&b, "%d:%d: ", is.Line, is.Column)
		}
		b.WriteString(is.Message)
		if is.Line > 0 && is.Line <= len(lines) {
			line := lines[is.Line-1]
			fmt.Fprintf(&b, "\n   | %s\n   | %s^", line, strings.Repeat(" ", caretOffset(line, is.Column)))
		}
	}
	if len(e.Columns) > 0 {
		b.WriteString("\n  available columns: ")
		b.WriteString(strings.Join(e.Columns, ", "))
	} else {
		b.WriteString("\n  available columns: (none)")
	}
	if len(e.Unusable) > 0 {
		b.WriteString("\n  columns not usable in expressions: ")
		b.WriteString(strings.Join(e.Unusable, ", "))
	}
	return b.String()
}

// caretOffset returns the display width of the first col-1 characters of line.
func caretOffset(line string, col int) int {
	n := 0
	for i := 0; i < col-1 && line != ""; i++ {
		_, size := utf8.DecodeRuneInString(line)
		line = line[size:]
		n++
	}
	return n
}

// EvalError reports a row for which an expression failed at run time: a division by zero, an
// integer overflow, a failed conversion, an error returned by a function.
type EvalError struct {
	// Expr is the expression's source.
	Expr string
	// Row is the row's index in the batch evaluated.
	Row int
	// Line and Column locate the part of the expression that failed, counting from 1; they
	// are 0 when unknown.
	Line, Column int
	// Err is the cause.
	Err error
}

// Error formats the failure with the expression, the row and the position.
func (e *EvalError) Error() string {
	pos := ""
	if e.Line > 0 {
		pos = fmt.Sprintf(" (at %d:%d)", e.Line, e.Column)
	}
	return fmt.Sprintf("expr %s: row %d%s: %v", strconv.Quote(e.Expr), e.Row, pos, e.Err)
}

// Unwrap returns the cause.
func (e *EvalError) Unwrap() error { return e.Err }
