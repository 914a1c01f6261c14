// Package kinesis is the Kinesis Data Streams source: ReadStream().Format("kinesis") reads one
// or more streams with the option names, defaults and semantics of the Spark connector that
// Sluice follows, and emits Arrow record batches of Schema:
//
//	partitionKey                 string (nullable)
//	data                         binary
//	stream                       string      the stream's name
//	shardId                      string
//	sequenceNumber               string
//	approximateArrivalTimestamp  timestamp[us, UTC]
//
// Importing the package registers the "kinesis" format:
//
//	import _ "github.com/sluicedev/sluice/sources/kinesis"
//
//	events := p.ReadStream().Format("kinesis").
//		Option("streamName", "orders,refunds").
//		Option("region", "us-east-1").
//		Option("initialPosition", "trim_horizon").
//		Load()
//
// Go callers may build the source with New(Options{...}) and pass it with
// ReadStream().Source(src), giving an aws.Config (Options.AWSConfig) or a ready client
// (Options.Client, any API).
//
// # Options
//
// Spec declares every option with its default; Spec.Markdown renders the table (format,
// inferSchema and inferSchemaSampleSize, of the reference's how-to, select JSON decoding; see
// JSON below). The factory
// and New check the options without I/O and report every problem at once, each naming its key.
// Credentials come from awsAccessKey/awsSecretKey (and awsSessionToken), from roleArn assumed
// through STS (with those keys, or the default chain), or else from the SDK's default credential
// chain, resolved in Open. Secrets are never printed: RedactOptions hides them in Explain, and no
// error, log line or metric holds them. consumerMode efo (enhanced fan-out) is refused for now.
//
// # JSON
//
// With format=json the query decodes each record's data as one JSON object into typed columns
// (the source implements sources.DocumentSource; Read itself still emits Schema). The query's
// rows are then the JSON fields followed by partitionKey, stream, shardId, sequenceNumber and
// approximateArrivalTimestamp; a JSON field named like one of these is an error. The schema is
// the one given with DataStreamReader.Schema (or Options.JSONSchema), or, with inferSchema=true,
// one inferred when the query starts (sources.SchemaInferrer): InferSchema reads the first
// inferSchemaSampleSize records (default 1000) from where the query starts (initialPosition,
// or the checkpoint's offsets), spread over the shards and within their rate limits, without
// consuming them, and infers types as Spark does (see arrowbatch.JSONInferrer: integers are
// int64, with fractions float64, times stay strings, objects are structs, arrays lists,
// conflicting types strings, fields sorted by name). The query keeps the inferred schema in its
// checkpoint and decodes with it after a restart, even when later records have new fields. A
// query starting at latest has nothing to sample: give a schema, or start at trim_horizon or an
// at_timestamp position. Malformed documents follow the query's error policy
// (pipeline.WithErrorPolicy): the batch fails naming the row, or the row is kept with nulls and
// the error, or the raw record goes to the side output.
//
//	events := p.ReadStream().Format("kinesis").
//		Option("streamName", "events").
//		Option("initialPosition", "trim_horizon").
//		Option("format", "json").
//		Option("inferSchema", "true").
//		Load()
//
// # Reading
//
// Open lists every stream's shards (ListShards, paginated) and checks that the streams exist and
// may be read; a background loop lists them again every shardFetchInterval to see resharding.
// Shards are read in tasks of shardsPerTask shards, one goroutine per task, each shard within
// its own limits: at least minFetchPeriod between GetRecords calls (never more than 5 per
// second) and maxFetchRate MiB/s on average. Each GetRecords answer is decoded straight into
// Arrow builders, one batch per answer (a middleware below the SDK's deserializer reads the
// JSON answer in one pass and base64-decodes each record's data straight into the Arrow data
// buffer; error answers keep the SDK's typed errors), and waits in a buffer of at most
// fetchBufferSize bytes: each GetRecords call reserves room for its answer before it starts
// (the largest answer so far, or Kinesis' 10 MB limit before the first), so the buffer is
// overshot by about one answer at most, and prefetching pauses while it is full.
//
// Memory: fetchBufferSize bounds the payload the source holds, the blocks of the micro-batch
// being written included (they stay in the buffer until the batch commits). Beside it the
// process holds the answers being decoded (at most one per core, up to 8, each up to 14 MB of
// JSON), what the operators and the sink keep (a ForeachBatch sink concatenates the micro-batch
// into a copy; ForeachTable does not), and Go's collector lets the heap grow to twice the live
// data before it collects (GOGC 100). For a buffer that really fills (a consumer slower than the
// stream), set a soft memory limit (GOMEMLIMIT, or debug.SetMemoryLimit) of about
// fetchBufferSize × 5/4 + 40 MiB, more if the operators keep state: with a full 512 MiB buffer
// the process then peaked at about 1.4× fetchBufferSize, against 1.5-2.2× without the limit
// (bench/README.md). The library sets neither.
//
// Prefetched data is made available to micro-batches in "prefetch steps", as the reference
// describes for maxFetchDuration: a shard's buffered blocks are released together once the
// oldest of them has waited maxFetchDuration, or at once when the shard's end is reached, when
// the buffer is full, or under AvailableNow when the shard has been read up to the recorded
// time. LatestOffset reports the end of the released data; lower maxFetchDuration (200ms, say)
// for low latency, raise it for larger batches. As in the reference there is no per-batch row
// limit (a sources.ReadLimit is ignored): a micro-batch takes everything released, which
// fetchBufferSize bounds.
//
// Read serves a range from the buffer as zero-copy slices of its batches. When a micro-batch's
// blocks average fewer than coalesceThresholdBlockSize payload bytes (data plus partition
// keys), consecutive blocks of the same task are concatenated into batches of up to
// coalesceBinSize bytes; a block larger than that is emitted alone. Rows of one shard are always
// emitted in order, by one goroutine.
//
// # Resharding
//
// A child shard is read only after its parents have been read to their end, and only once the
// parents' closed state is part of a committed batch (the end offsets of a batch that Commit
// received). So a parent's rows and its child's never share a micro-batch, and the rows of one
// partition key keep their order across splits and merges. Closed shards stay in the offsets as
// "closed" and are not read again; once a closed shard has left the stream (its retention has
// passed) and no listed shard names it as a parent, it is dropped from the offsets. A shard that
// leaves the stream before it was read to its end is logged and counted (numExpiredShards), and
// its children are read.
//
// # Offsets
//
// An offset is versioned canonical JSON holding, per stream (keyed by the name or ARN as
// configured), the stream's creation timestamp and, per shard, where the next read starts:
//
//	{"version":1,"streams":{"orders":{"createdMs":1700000000123,"shards":{
//	  "shardId-000000000000":{"pos":"after","seq":"49650..."},
//	  "shardId-000000000001":{"pos":"after","seq":"49650...","sub":3},
//	  "shardId-000000000002":{"pos":"at_timestamp","timestampMs":1700000100000},
//	  "shardId-000000000003":{"pos":"trim_horizon"},
//	  "shardId-000000000004":{"pos":"closed"}}}}}
//
// "after" names the last user record read: its sequence number and, for a KPL aggregate, its
// sub-sequence number ("sub", left out when 0), so a restart resumes inside an aggregate. A
// shard of a stream that is not in the offset has not been read at all and starts at its trim
// horizon (a child shard discovered later).
//
// InitialOffset gives every shard listed at that moment the initial position. latest is resolved
// to at_timestamp of the moment InitialOffset runs (shards already closed are marked closed),
// the same rule the reference uses for AvailableNow, so that a replay of the first batch reads
// exactly the same rows; it relies on the local clock agreeing with Kinesis' arrival times.
//
// Read(start, end) returns the same rows in any process: when the buffer does not hold a range,
// it is read again from Kinesis (GetShardIterator AT_SEQUENCE_NUMBER, AT_TIMESTAMP or
// TRIM_HORIZON from start, up to end). Records trimmed by the stream's retention in between
// cannot be read again; that is an error, not a silent gap. Commit(end) drops the buffered data
// before end.
//
// The creation timestamp detects a stream deleted and re-created under the same name: the query
// stops with an error wrapping ErrStreamRecreated instead of silently starting over. A missing
// stream stops it with ErrStreamNotFound, and missing permissions with ErrAccessDenied, naming
// the actions the source needs (DescribeStreamSummary, ListShards, GetShardIterator, GetRecords).
//
// # AvailableNow
//
// PrepareForAvailableNow records the current time. Each shard is then read up to the first
// record that arrived at or after it (later records stay for the next run), or to its tip (an
// empty answer with MillisBehindLatest 0, asked after that time), or to its end; children of
// shards that end are read too. LatestOffset then stops advancing and the query stops. As the
// reference notes, records whose arrival time is close to the recorded time may be left to the
// next run (the recorded time is the local clock; arrival times are Kinesis'). Each batch waits
// until every shard that can be read has fetched data for it (or has been read to that end),
// so that a batch of a backlog holds a part of every shard, not only of the one fetched first
// (an event-time watermark moved by its rows would make the others' late). A batch so holds at
// least one GetRecords answer of every shard (up to maxRecordsPerFetch records each) and what
// was fetched while waiting for the slowest, within fetchBufferSize. A lower maxRecordsPerFetch
// makes batches smaller, but when shards hold unequal backlogs each batch then takes about the
// same number of records from each, so the fullest shard falls behind the others in event time
// and a watermark driven by them can make its rows late: give WithWatermark a delay that covers
// the backlog's skew, or keep maxRecordsPerFetch high.
// Trigger.Once, deprecated (use AvailableNow), fixes the same end and waits until all of it is
// prefetched (or fetchBufferSize is full), then runs it as one batch (children of shards that
// end in it are left for the next run).
//
// Under ProcessingTime a batch takes what has been prefetched when it starts, so while a query
// catches up on a backlog, shards may be read at different paces: give WithWatermark a delay
// that covers that skew, or catch up with AvailableNow first.
//
// # KPL aggregation
//
// Records aggregated by the Kinesis Producer Library are split into their user records, each
// with the partition key from the aggregate's table; data that is not a valid aggregate
// (including a corrupt one) is passed through as one plain record, as the KCL does (see
// internal/kpl). User records are not filtered by the shard's hash key range. The sequenceNumber
// column holds the Kinesis record's sequence number for every user record of an aggregate: the
// schema has no sub-sequence column, so (sequenceNumber, order within the batch) identifies a
// user record, and sequenceNumber can be handed to GetShardIterator as it is.
//
// # Errors and retries
//
// The clients the source builds have the SDK's retryer turned off; the source retries itself,
// per shard. Throttling (ProvisionedThroughputExceeded, LimitExceeded, KMSThrottling) is retried
// without limit after a jittered exponential backoff and counted in numThrottled; 5xx answers,
// broken connections and the SDK's "use of closed network connection" deserialization error are
// retried likewise but stop the query after 12 failures in a row (5 while Start opens the
// source, so that a wrong endpoint fails Start within seconds); an expired shard iterator is
// made again from the last buffered record. HTTP requests go through
// internal/awshttp.RewindableBodyClient, which avoids that SDK race on fast endpoints. A client
// passed in Options.Client keeps its own retryer.
//
// # Metrics
//
// Metrics reports avgMsBehindLatest, maxMsBehindLatest and minMsBehindLatest (as in the
// reference), totalPrefetchedBytes, numTotalShards, numClosedShards, numThrottled and more; see
// Source.Metrics.
package kinesis
