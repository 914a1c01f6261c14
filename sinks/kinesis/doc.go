// Package kinesis is the Kinesis Data Streams sink: WriteStream().Format("kinesis") puts every
// row of each micro-batch into a stream with PutRecords, at least once.
//
// Importing the package registers the "kinesis" sink format (the Kinesis source is
// sources/kinesis; the two register in separate registries):
//
//	import _ "github.com/sluicedev/sluice/sinks/kinesis"
//
//	q, err := events.WriteStream().Format("kinesis").
//		Option("streamName", "enriched").
//		Option("region", "us-east-1").
//		Option("checkpointLocation", "/var/lib/sluice/enriched").
//		Start(ctx)
//
// Go callers may build the sink with New(Options{...}) and pass it with WriteStream().Sink,
// giving an aws.Config (Options.AWSConfig) or a ready client (Options.Client, any API).
//
// # Columns
//
// The sink reads the column data (binary or string; large and view variants too) and the
// column partitionKey (string), and optionally explicitHashKey (a decimal string overriding the
// partition key's hash; null or "" means none). Other columns are ignored, so a stream read
// from the Kinesis source can be written back as it is. Open checks the schema and reports a
// missing or mistyped column by name (CheckSchema does the same without I/O).
//
// # Options
//
// Spec declares every option; Spec.Markdown renders the table. The stream and authentication
// options are the Kinesis source's: streamName or streamARN, region, endpoint, awsAccessKey,
// awsSecretKey, awsSessionToken, roleArn, roleExternalId, roleSessionName; without keys the
// SDK's default credential chain is used. Secrets are never printed: RedactOptions hides them
// in Explain, and no error, log line or metric holds them. The IAM principal needs
// kinesis:PutRecords and kinesis:DescribeStreamSummary, and kinesis:ListShards with
// aggregationEnabled.
//
// # Sending
//
// Write checks each row as Kinesis would before anything of it is sent: a null data or
// partitionKey, a partition key that is empty, longer than 256 characters or not UTF-8, an
// invalid explicit hash key, or data plus partition key over 1 MiB fail the batch with a
// *RecordError naming the row. (Such a batch fails again when replayed: filter or fix the rows
// in the query.) Rows are packed, in order, into PutRecords requests of at most 500 records and
// 5 MiB (data plus partition keys); a full request is sent in the background while Write goes
// on, with at most maxInFlightRequests requests outstanding (Write then blocks). Commit sends
// the rest and waits for every request.
//
// # Retries and delivery
//
// The sink retries only what failed: entries that PutRecords reports as failed
// (ProvisionedThroughputExceededException, InternalFailure) are sent again alone, and a call
// that fails as a whole with throttling, a server error or a broken connection is sent again
// whole. Each retry waits a random time in [0, min(maxRetryDelay, minRetryDelay·2^n)) (full
// jitter). After maxAttempts tries of the same records the batch fails, the query stops with a
// *pipeline.BatchError, and the batch is replayed at the next start: nothing is dropped
// silently. Errors that retrying cannot fix (no such stream, access denied) fail at once.
//
// The sink is at-least-once, like the reference connector's: a replayed batch sends its rows
// again, and a call whose answer was lost may have written its records already. Consumers
// that need exactly-once must deduplicate, for instance on a key the query puts in the data.
// Records of one partition key keep their order only when no retry happens and
// maxInFlightRequests is 1; retries and concurrent requests may reorder them.
//
// # Aggregation
//
// With aggregationEnabled, rows are packed into KPL aggregated records of at most
// aggregationMaxSize bytes (51200 by default, the KPL's default), which the KCL, the KPL
// de-aggregators and sluice's Kinesis source unpack into the original rows. A row too large to
// aggregate is sent alone, as the KPL does.
//
// KCL consumers drop an aggregate whose user records do not all hash into the range of the
// shard it was read from. So the sink groups rows by the shard they map to, as the KPL does:
// Open lists the open shards and their hash key ranges (ListShards), and each row goes to the
// aggregate of the shard whose range holds its hash key (the explicit hash key, else the MD5 of
// the partition key). The aggregate's own key is its first row's, so it lands on that shard.
// Grouping only rows that share a partition key would be simpler and immune to resharding, but
// aggregates nothing when keys are unique (a common choice for spreading load), so it was not
// chosen.
//
// When the stream is resharded, the prediction can be wrong. The sink checks the ShardId that
// PutRecords returns for every aggregate; when it differs from the prediction it lists the
// shards again and checks each user record of that aggregate against the range of the shard it
// reached. If any lies outside (KCL consumers would drop the aggregate), all of its records are
// aggregated anew under the new shard map and sent again (counted in aggregatesResent). No row
// is lost for KCL consumers; readers that do not drop such aggregates see those rows twice,
// which at-least-once allows.
//
// # Metrics
//
// Metrics reports the last committed batch's recordsSent, kinesisRecordsSent, bytesSent,
// putRecordsCalls, recordsRetried, recordsThrottled and aggregatesResent; the coordinator puts
// them in the progress report's sink.metrics.
package kinesis
