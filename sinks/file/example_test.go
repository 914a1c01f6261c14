package file_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicedev/sluice/pipeline"
	filesink "github.com/sluicedev/sluice/sinks/file"
)

// Write a stream as Parquet files, exactly once, then list what was committed.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	p := pipeline.New(pipeline.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	q, err := p.ReadStream().Format("rate-micro-batch").Option("rowsPerBatch", "10").Load().
		WriteStream().Format("parquet").
		Option("path", filepath.Join(dir, "events")).
		Option("maxRecordsPerFile", "4").
		Option("checkpointLocation", filepath.Join(dir, "checkpoint")).
		Trigger(pipeline.AvailableNow()).
		Start(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := q.AwaitTermination(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(q.LastProgress().Sink.Metrics["numRows"], "rows written")

	table, err := filesink.ReadManifest(ctx, filepath.Join(dir, "events"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, b := range table.Batches {
		for _, f := range b.Files {
			// part-<batch>-<file>-<attempt uuid>.snappy.parquet
			fmt.Printf("batch %d: %s<uuid>%s, %d rows\n", b.BatchID, f.Path[:17], f.Path[len(f.Path)-15:], f.Rows)
		}
	}
	// Output:
	// 10 rows written
	// batch 0: part-00000-00000-<uuid>.snappy.parquet, 4 rows
	// batch 0: part-00000-00001-<uuid>.snappy.parquet, 4 rows
	// batch 0: part-00000-00002-<uuid>.snappy.parquet, 2 rows
}

// Options are validated together, each problem naming its key; secrets are never shown.
func ExampleNew() {
	_, err := filesink.New(filesink.Options{
		Format:       filesink.Parquet,
		Path:         "s3://my-bucket/events",
		Compression:  "lz4",
		AWSSecretKey: "wJalrXUtnFEMI/K7MDENG",
	})
	fmt.Println(strings.ReplaceAll(err.Error(), "\n", "\n  "))
	// Output:
	// parquet sink: option "compression": "lz4" is not a Parquet codec: must be snappy, zstd or none
	//   parquet sink: option "awsAccessKey": required when awsSecretKey is given
}

// The options table of the "parquet" format, for the docs.
func ExampleSpec() {
	md := filesink.Spec(filesink.Parquet).Markdown()
	fmt.Println(strings.Split(md, "\n")[2])
	// Output:
	// | `path` | path or s3:// URL | (required) | Output directory: a local directory (or a file:///dir URL), or s3://bucket/prefix. |
}
