// Package pipeline is Sluice's user API: a fluent builder in the words of Spark Structured
// Streaming, and the micro-batch coordinator that runs the queries it builds.
//
//	p := pipeline.New()
//	events := p.ReadStream().Format("kinesis").Option("streamName", "events").Load()
//	q, err := events.
//		MapBatch(enrich).
//		WriteStream().Format("console").Trigger(pipeline.ProcessingTime(time.Second)).
//		Option("checkpointLocation", "/var/lib/sluice/events").
//		Start(ctx)
//
// # Build, then run
//
// Builder methods only record a plan: they do no I/O and start no goroutines. Start resolves
// formats, parses every option, checks schemas and output modes, and reports every problem at
// once in a *ValidationError before touching the network or the checkpoint. Then it takes the
// checkpoint's lock, opens the sources and the sink, and starts the query's goroutine. The one
// exception is a source whose documents' schema is inferred (Kinesis with format=json and
// inferSchema=true): the operators after it are checked again, still as one
// *ValidationError, once the sources are open and the schema is inferred or read back from the
// checkpoint.
//
// # Column names
//
// Column names are case-sensitive (Select, Drop, WithColumnRenamed, GroupBy, CEL expressions),
// as Spark with spark.sql.caseSensitive=true; Spark's default resolves names regardless of case.
// Map's untagged struct fields are the exception, matched as encoding/json matches them. Drop
// and WithColumnRenamed ignore a name that is not a column, as Spark does.
//
// # State
//
// GroupBy().Agg(), DropDuplicates, WithWatermark and Window are Spark's stateful streaming
// operators. Their state is versioned per micro-batch in the checkpoint (package state) and
// committed before the batch's commit, so results after any number of restarts equal one run
// over the same input. The output mode (append, update, complete) follows Spark's rules,
// checked at Start. See aggregate.go's comment and docs/DESIGN.md.
//
// # Micro-batches and the checkpoint
//
// A query runs as a sequence of micro-batches numbered from 0. For batch N the coordinator asks
// each source for its latest offset, writes the planned range to <checkpoint>/offsets/N,
// reads exactly that range through the operators into the sink, and after the sink commits it
// writes <checkpoint>/commits/N. A query restarted on the same checkpoint replays an uncommitted
// batch over exactly the same range, so no row is lost; a sink that implements
// sinks.Idempotent is not given a batch it already holds, so it sees each batch once. See
// docs/DESIGN.md.
//
// # Triggers
//
// ProcessingTime(d) starts a batch every d (0: as soon as the previous one ends and new data is
// there). AvailableNow processes what is available when the query starts, in as many batches as
// the sources' limits need, then stops. Once processes one batch of everything available, then
// stops; it is deprecated in favour of AvailableNow, as in Spark.
//
// # Memory
//
// All Arrow buffers come from the pipeline's allocator (WithAllocator). Batches passed to user
// functions are borrowed: retain one to keep it past the call.
package pipeline
