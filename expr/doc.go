// Package expr compiles CEL expressions (https://cel.dev) against Arrow schemas and evaluates
// them over Arrow record batches, column-wise where it can. It is the only package of sluice
// that imports cel-go.
//
//	p, err := expr.Default.Compile(schema, `size(data) > 100 && partitionKey.startsWith("eu-")`)
//	// at run time, for each batch of schema:
//	values, failed, err := p.Eval(ctx, batch) // one bool per row; failed lists rows that erred
//
// # Compile once
//
// An Env holds the functions expressions may call (see Func) and caches programs per (schema,
// expression): the pipeline compiles every expression when a query starts, before any I/O, and
// the operators that run it on many goroutines share one immutable Program. A problem with an
// expression is an *Error that lists all of cel-go's issues with their line and column, and the
// columns the expression could have used.
//
// # Columns and types
//
// Each column whose name is a CEL identifier (and not a reserved word such as "in" or "int")
// is a variable of the expression. Arrow types map to CEL types as follows:
//
//	bool                         bool
//	int8, int16, int32, int64    int
//	uint8 ... uint64             uint
//	float32, float64             double
//	utf8, large_utf8             string
//	binary, large_binary         bytes
//	timestamp (any unit)         google.protobuf.Timestamp
//	duration                     google.protobuf.Duration
//	list, large_list, fixed_size_list of T    list(T)
//	map<K, V>                    map(K, V)   (K: string, integer or bool)
//	struct                       an object type: s.field, has(s.field)
//	null                         null_type
//
// An expression's result is stored with the Arrow type of its CEL type (int as int64, string as
// utf8, timestamps as microseconds in UTC...), except that a bare column or struct field keeps
// its own type. A result of a type no column can hold (dyn, a type, an optional) is a compile
// error.
//
// The environment has CEL's standard library, the strings extension (split, lowerAscii,
// replace, trim, join...), ordering across numeric types (d > 1 for a double d; equality is
// not: d == 1 is a compile error that says so, write d == 1.0 or int(d) == 1) and these
// additions:
//
//	isNull(x), isNotNull(x)           test for null (x == null does not type-check)
//	b.contains(b"..."), startsWith, endsWith on bytes; b.matches("re") on bytes
//	x.cast("string")                  Spark's cast to string: bytes kept as they are,
//	                                  doubles as "1.0E10", timestamps as "2024-03-01 12:00:00"
//	                                  (UTC); also "binary", "bigint" (or "long"), "int"
//	                                  ("integer"), "smallint" ("short"), "tinyint" ("byte"),
//	                                  "double", "float" ("real"), "boolean" ("bool"),
//	                                  "timestamp": CEL's conversions, with the Spark type's
//	                                  range checked (int, smallint, tinyint: a row error
//	                                  beyond it) and float's precision; operators.Cast has
//	                                  Spark's rules for strings (trimming, Spark's timestamp
//	                                  forms) and dates
//
// Registered Go functions (see Func) take other names: a function named like any of these
// built-in functions or macros (contains, size, split, timestamp, has, isNull...) is an error.
//
// # Nulls
//
// A null value behaves as NULL does in SQL. Any function or operator applied to a null gives
// null, except that false && null is false and true || null is true (three-valued logic); a
// null condition of ?: gives null; isNull and isNotNull and has() are never null. A Filter
// keeps the rows whose condition is true, so a null condition drops the row. has(s.f) is false
// when s.f is null or when the struct s is null. A null element of a list is null in the
// expression too. Two null structs compare as null, like any null; structs whose fields are
// null compare those fields as equal (as Spark). Unlike Spark's array(a, 1), a list or map
// built in an expression ([a, 1], {"k": a}) from a null value is null as a whole.
//
// Both evaluations obtain these semantics the same way: cel-go sees a null as an unknown
// value, which its interpreter already propagates with exactly these rules; the column-wise
// kernels apply the same rules to Arrow validity bitmaps. When a row has both a null and an
// error, the result follows cel-go's order: for a unary or binary function the first argument
// that is null or failed decides; for == and != and functions of three or more arguments an
// error wins over a null; && and || give false (true) first, then null, then the error.
//
// # Errors at run time
//
// A division by zero, an integer overflow, a failed conversion (int(1e300)), an error returned
// by a function or a panic in it fails the row, not the batch: Eval returns the row's value as
// null and lists an *EvalError with the row and the position of the part that failed. What then
// happens to the row is the calling operator's policy (see package operators).
//
// # UTF-8
//
// Spark keeps the bytes of a binary value cast to string, even when they are not valid UTF-8,
// and so does sluice: string(data) and data.cast("string") reinterpret a binary column as utf8
// without copying or checking it (CEL's own string(bytes) would fail on invalid UTF-8). Such
// strings compare, concatenate and match byte by byte; size() counts each invalid byte as one
// character. Go strings given to functions (see Func) carry the same bytes, and so do the
// results of +, trim, replace and split. The functions of the strings extension that build
// their result from characters (lowerAscii, upperAscii, substring, charAt, reverse) read each
// invalid byte as U+FFFD and return it as such, as cel-go does. Otherwise invalid sequences are
// replaced by U+FFFD only when text leaves sluice for a format that requires UTF-8, such as
// JSON output (see arrowbatch.JSONValue).
//
// # Column-wise evaluation
//
// Compile walks cel-go's checked AST and plans a tree of kernels over Arrow arrays: column
// references are zero-copy, constants are folded once, and these run as loops over whole
// columns:
//
//   - comparisons (==, !=, <, <=, >, >=) of ints, uints, doubles (mixed as cel-go mixes them),
//     strings, bytes, bools and timestamps of any unit;
//   - +, -, *, /, % on ints and uints (overflow-checked) and doubles; - (negation); + on
//     strings and bytes;
//   - &&, ||, !, ?: ; isNull, isNotNull, has() on struct fields, fields of struct columns;
//   - size() of strings, bytes and lists; contains, startsWith, endsWith on strings and bytes;
//     matches with a constant pattern (compiled once); lowerAscii and upperAscii; split with
//     a literal separator (and limit) into a list<utf8> column;
//   - x in [constants] (a hash set);
//   - string(bytes) and bytes(string) (zero-copy), and numeric conversions;
//   - calls of registered Go functions (see Func), without cel-go's interpreter.
//
// Any other sub-expression (comprehensions such as exists and map, map and list indexing, the
// rest of the strings extension, timestamp arithmetic...) is evaluated row by row by cel-go
// through an activation that reads the row's columns when the expression asks for them, and its
// results join the column-wise tree as an array. Program.Plan shows the tree and Program.RowWise the
// row-wise parts. Program.EvalRowWise evaluates everything row by row; a property test checks
// that both give identical values, nulls and errors.
package expr
