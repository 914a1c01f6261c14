// Package file is the file sink: WriteStream().Format("parquet") and Format("json") write each
// micro-batch as files below a local directory or an S3 prefix, exactly once, with a manifest
// log that tells readers which files are committed.
//
// Importing the package registers both formats:
//
//	import _ "github.com/sluicedev/sluice/sinks/file"
//
//	q, err := events.WriteStream().Format("parquet").
//		Option("path", "s3://lake/events").
//		Option("partitionBy", "day").
//		Option("checkpointLocation", "/var/lib/sluice/events").
//		Trigger(pipeline.ProcessingTime(5 * time.Minute)).
//		Start(ctx)
//
// Go callers may build the sink with New(Options{...}) and pass it with WriteStream().Sink,
// giving an aws.Config (Options.AWSConfig) or a ready S3 client (Options.S3Client).
//
// # Formats
//
// Parquet files are written with arrow-go's pqarrow, compressed with snappy (default), zstd or
// not at all, with dictionary encoding and statistics, and with the Arrow schema stored in the
// file metadata. Row groups are flushed at rowGroupSize encoded bytes (64 MiB); each open file
// buffers one row group in memory. JSON files hold one object per row, keys in column order,
// values as arrowbatch.JSONValue renders them (binary as base64, timestamps as RFC 3339), NaN
// and infinities as the strings Spark writes, nested values as JSON; optionally gzipped.
//
// # Layout
//
//	<path>/
//	  _sluice_metadata/0          manifest of batch 0 (JSON, see Manifest)
//	  _sluice_metadata/1
//	  day=2024-05-01/part-00000-00000-<attempt uuid>.snappy.parquet
//	  day=2024-05-01/part-00001-00000-<attempt uuid>.snappy.parquet
//	  day=__HIVE_DEFAULT_PARTITION__/part-00001-00001-<attempt uuid>.snappy.parquet
//
// A data file is named part-<batch>-<n>-<attempt>.<ext>: the micro-batch ID, the file's number
// within the attempt, and a UUID drawn for each attempt at writing the batch. With partitionBy,
// files go to Hive-style directories col=value/ (values escaped as Spark escapes them; null and
// "" as __HIVE_DEFAULT_PARTITION__) and the partition columns are not stored in the files, as
// in Spark. Files roll at maxRecordsPerFile rows and at about maxBytesPerFile bytes.
//
// # Exactly once
//
// The sink implements sinks.Idempotent. For micro-batch N:
//
//  1. Begin(N) draws a new attempt UUID. (If N is at or below the last manifest, the writer
//     discards its input: that batch is already in the output. The coordinator asks
//     LastBatchID first and does not even begin such a batch.)
//  2. Write encodes rows into files named after N and the attempt. Locally each file is
//     written to a hidden temporary file (.part-....tmp) that is fsynced and renamed when the
//     file is complete; on S3 each file is streamed to the transfer manager and appears whole
//     when its upload completes.
//  3. Commit finishes every file, fsyncs the directories that hold them (local), then writes
//     the manifest <path>/_sluice_metadata/N listing the files, their sizes, row counts and
//     partition values. The manifest is written atomically and never replaces an existing
//     one: locally to a temporary file, fsynced, hard-linked into place (so a second writer
//     gets an error, not a silent overwrite) and the directory fsynced; on S3 with a single
//     PutObject (atomic) with If-None-Match: * (S3 refuses an existing key; note that s3rver
//     ignores the header). The batch is committed when, and only when, its manifest exists.
//  4. LastBatchID is the highest N with a manifest (read at Open, advanced by Commit).
//
// A crash before the manifest exists leaves files that no manifest lists; the coordinator
// replays batch N with the same rows, the new attempt writes new files under a new UUID, and
// its manifest lists only those. A crash after the manifest exists (before the checkpoint's
// commits/N) makes the coordinator skip N at restart, since LastBatchID is N. Either way each
// row is in exactly one committed file, and readers that take their file list from the
// manifests (ReadManifest) never see a partial or duplicate file.
//
// # Cleaning up
//
// Abort stops the uploads and deletes the files the attempt completed. Files it could not
// delete, and files of attempts that crashed, are orphans: never listed in a manifest. After
// the first commit following Open (and after a commit that follows an attempt that could not
// clean up), the sink lists the path and deletes every file named like its data files (or their
// temporary files) whose batch is at or below the batch just committed, has a manifest, and is
// not listed in that manifest; it also deletes leftover temporary manifest files. That is safe
// because the sink is the path's only writer while the query holds its checkpoint, and because
// an attempt's files are only ever listed by the manifest written at the end of that attempt:
// once manifest N exists no other attempt at N can commit. Files of batches without a
// manifest are never deleted (they are not provably orphans), nor is anything the sink did not
// name. On S3, an upload interrupted by a crash may leave an incomplete multipart upload, which
// is invisible but billed: give the bucket a lifecycle rule that aborts incomplete multipart
// uploads after a day.
//
// Rules that follow: use one query per path; and if you delete a query's checkpoint, also
// delete (or move) its output path, or the new query's batches 0..N are skipped as already
// committed — as with Spark's file sink.
//
// # Reading
//
// ReadManifest returns the committed batches at a path; Table.Files lists the committed files
// and Table.ReadFile reads one. ParsePartitionDir recovers partition values from a file path.
package file
