// Package javatime parses timestamps written with Java date patterns, the
// letters of java.text.SimpleDateFormat and java.time.format.DateTimeFormatter
// ("MM/dd/yyyy HH:mm:ss ZZZ"). The Kinesis source uses it for the
// at_timestamp form of the initialPosition option, so that
//
//	{"at_timestamp": "06/25/2020 10:23:45 PDT", "format": "MM/dd/yyyy HH:mm:ss ZZZ"}
//
// means 2020-06-25T17:23:45Z here as it does in the Spark connector.
//
// A pattern is compiled once into an immutable [Layout] that is safe for
// concurrent use; [Parse] compiles and parses in one call. [ParseDefault]
// handles a value given without a format (see [DefaultFormat]).
//
// # Pattern letters
//
// Unquoted ASCII letters are pattern letters, as in Java. Text between single
// quotes is literal ('T', 'at'), and two single quotes in a row stand for one
// quote, inside or outside a quoted text. Every other character is a literal that
// must appear as written. Square brackets enclose an optional section, as in
// DateTimeFormatter: "yyyy-MM-dd['T'HH:mm[:ss]]". A letter that Java knows but
// this package does not parse (G, Y, w, W, F, Q, e, ...) and a letter Java
// does not know both make [Compile] fail with a [*PatternError] that names the
// letter and its offset in the pattern.
//
//	letter  meaning             accepted text
//	y       year                digits; see "Two-digit years"
//	u       year                digits; uu is 2000-2099 (DateTimeFormatter)
//	M, L    month               M, MM: 1-12; MMM and longer: Jun, June
//	d       day of month        1-31, checked against the month
//	D       day of year         1-366, checked against M and d if given
//	E       day of week         Thu, Thursday; checked against the date
//	a       AM/PM marker        AM, PM, in any case
//	H       hour of day         0-23
//	k       hour of day         1-24 (24 is midnight)
//	h       hour of AM/PM       1-12 (12 is 0)
//	K       hour of AM/PM       0-11
//	m       minute              0-59
//	s       second              0-59
//	S       fraction of second  1 to 9 digits (SSS: milliseconds)
//	n       nanosecond          0-999999999
//	z, Z, O time zone           PDT, Pacific Daylight Time, -0700, -07:00,
//	                            -07, GMT-7, UTC-07:00, GMT, UTC, Z
//	X, x    zone offset         Z, +08, +0800, +08:00
//	VV      time zone ID        America/Los_Angeles, UTC, Z, +08:00
//
// Numbers may have any number of digits (up to 9) and are read greedily,
// except that a number directly followed by another number in the pattern
// ("yyyyMMdd", "HHmmss", "ss.SSS" is not one) must have exactly as many digits
// as its letter is repeated. Spaces and tabs before a field are skipped, as
// SimpleDateFormat does. Month and day names are English and matched without
// regard to case. Fields missing from the pattern take the values of
// 1970-01-01T00:00:00, as in SimpleDateFormat.
//
// # Time zones
//
// z, Z and O accept the same text: a numeric offset, GMT/UTC/UT with or
// without an offset, or a zone name from the table below. SimpleDateFormat
// parses z and Z alike, which is why the connector's documented example pairs
// "ZZZ" with "PDT" (DateTimeFormatter would reject it). X and x accept only Z
// and numeric offsets. VV accepts an IANA time zone ID, which needs the system
// time zone database or a program that imports time/tzdata, and also Z, UTC,
// GMT, UTC+hh:mm and +hh:mm.
//
// A zone name stands for a fixed offset, whatever the date: PST is -08:00
// even in July, as SimpleDateFormat resolves it. Names are matched without
// regard to case and must not be followed by a letter; an unknown name is an
// error that quotes it. A few abbreviations name more than one zone. The table
// takes the reading that Java's English zone names make the usual one (CST is
// US Central, not China or Cuba; IST is India, not Israel or Ireland; BST is
// British Summer Time, not Bangladesh) and leaves out AST (Atlantic or
// Arabia), which has no such default. Where it matters, write an offset or
// use VV with a zone ID.
//
//	name  offset  long names, also accepted
//	UTC   +00:00  Coordinated Universal Time
//	UT    +00:00
//	Z     +00:00
//	GMT   +00:00  Greenwich Mean Time
//	PST   -08:00  Pacific Standard Time
//	PDT   -07:00  Pacific Daylight Time
//	MST   -07:00  Mountain Standard Time
//	MDT   -06:00  Mountain Daylight Time
//	CST   -06:00  Central Standard Time
//	CDT   -05:00  Central Daylight Time
//	EST   -05:00  Eastern Standard Time
//	EDT   -04:00  Eastern Daylight Time
//	AKST  -09:00  Alaska Standard Time
//	AKDT  -08:00  Alaska Daylight Time
//	HST   -10:00  Hawaii Standard Time, Hawaii-Aleutian Standard Time
//	HDT   -09:00  Hawaii Daylight Time, Hawaii-Aleutian Daylight Time
//	NST   -03:30  Newfoundland Standard Time
//	NDT   -02:30  Newfoundland Daylight Time
//	BRT   -03:00  Brasilia Time, Brasilia Standard Time
//	ART   -03:00  Argentina Time, Argentina Standard Time
//	WET   +00:00  Western European Time, Western European Standard Time
//	WEST  +01:00  Western European Summer Time
//	BST   +01:00  British Summer Time
//	CET   +01:00  Central European Time, Central European Standard Time
//	CEST  +02:00  Central European Summer Time
//	EET   +02:00  Eastern European Time, Eastern European Standard Time
//	EEST  +03:00  Eastern European Summer Time
//	SAST  +02:00  South Africa Standard Time
//	MSK   +03:00  Moscow Standard Time
//	IST   +05:30  India Standard Time
//	HKT   +08:00  Hong Kong Time, Hong Kong Standard Time
//	SGT   +08:00  Singapore Time, Singapore Standard Time
//	AWST  +08:00  Australian Western Standard Time
//	JST   +09:00  Japan Standard Time
//	KST   +09:00  Korea Standard Time, Korean Standard Time
//	ACST  +09:30  Australian Central Standard Time
//	ACDT  +10:30  Australian Central Daylight Time
//	AEST  +10:00  Australian Eastern Standard Time
//	AEDT  +11:00  Australian Eastern Daylight Time
//	NZST  +12:00  New Zealand Standard Time
//	NZDT  +13:00  New Zealand Daylight Time
//	-     +08:00  China Standard Time
//	-     +01:00  Irish Standard Time
//	-     +02:00  Israel Standard Time
//	-     +03:00  Israel Daylight Time
//
// A value whose pattern has no zone letter, or whose optional zone is absent,
// is read as UTC (a Databricks cluster's JVM runs in UTC). When a value gives
// both an offset and a zone ID, the offset decides the instant. A local time
// that a zone ID's daylight-saving change skips is moved forward by the length
// of the gap, and one that occurs twice takes the earlier instant, as
// java.time.ZonedDateTime does. The returned time is in UTC when the offset is
// zero, in a fixed zone named after the abbreviation for a zone name, and in
// the loaded location for a zone ID.
//
// # Two-digit years
//
// With y or yy and exactly two digits, the year is the one within 80 years
// before and 20 years after the time of parsing, as SimpleDateFormat does. With
// uu it is 2000-2099, as DateTimeFormatter does. Any other digit count is the
// year itself: "yyyy" reads "12" as year 12.
//
// # Differences from Java
//
// Parsing is strict where the Java defaults are lenient, because a start
// position that is silently wrong is worse than an error: out-of-range fields
// (month 13, February 30, hour 24 for H) are errors rather than rolled over,
// text after the timestamp is an error rather than ignored, a day name or an
// AM/PM marker that contradicts the date or hour is an error, and dates before
// 1582 use the proleptic Gregorian calendar. S is a fraction of a second, as
// in DateTimeFormatter, and not SimpleDateFormat's count of milliseconds, and
// u is the year, as in DateTimeFormatter, and not SimpleDateFormat's day
// number of the week.
//
// # Errors
//
// Parse errors are [*ParseError] values that give the byte offset in the
// value and what was expected there:
//
//	javatime: parse "06/25/2020 10:23" with "MM/dd/yyyy HH:mm:ss ZZZ": expected ':' at offset 16
package javatime
