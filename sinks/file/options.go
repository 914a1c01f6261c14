package file

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicedev/sluice/checkpoint"
	"github.com/sluicedev/sluice/internal/awsauth"
	"github.com/sluicedev/sluice/optspec"
)

// Format is an output file format.
type Format string

// The formats, registered as WriteStream().Format("parquet") and Format("json").
const (
	// Parquet writes Apache Parquet files through arrow-go's pqarrow, with the Arrow schema
	// stored in the file metadata so that readers get the exact Arrow types back.
	Parquet Format = "parquet"
	// JSON writes newline-delimited JSON: one object per row, keys in column order.
	JSON Format = "json"
)

// Compression codecs. Parquet accepts Snappy (its default), Zstd and None; JSON accepts None
// (its default) and Gzip.
const (
	Snappy = "snappy"
	Zstd   = "zstd"
	Gzip   = "gzip"
	None   = "none"
)

// Defaults of the options.
const (
	// DefaultRowGroupSize is the default Options.RowGroupSize: 64 MiB of encoded Parquet data
	// per row group.
	DefaultRowGroupSize = 64 << 20
	// DefaultUploadPartSize is the default Options.UploadPartSize: 8 MiB parts.
	DefaultUploadPartSize = 8 << 20
	// MinUploadPartSize is the smallest part S3 accepts (but for the last part of an object).
	MinUploadPartSize = 5 << 20
	// DefaultUploadConcurrency is the default Options.UploadConcurrency.
	DefaultUploadConcurrency = 4
)

// S3API is the part of the S3 client the sink calls: the transfer manager's calls plus
// DeleteObject. *s3.Client implements it; Go callers and tests may pass their own
// (Options.S3Client).
type S3API interface {
	transfermanager.S3APIClient
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

var _ S3API = (*s3.Client)(nil)

// Options configures the file sink. Build them with DefaultOptions and set fields, or let the
// "parquet" and "json" formats parse Spark-style options (see ParquetSpec and JSONSpec).
// Validate reports every problem at once.
type Options struct {
	// Format is Parquet or JSON. The format name sets it.
	Format Format
	// Path is the output directory: a local directory (created if missing) or
	// s3://bucket/prefix (s3a:// is accepted as an alias). Option path; required.
	Path string
	// Compression is the codec: for Parquet snappy, zstd or none (default snappy); for JSON
	// none or gzip (default none). "" selects the format's default.
	Compression string
	// PartitionBy lists columns whose values become Hive-style directories
	// (col=value/col2=value2/), in order. Those columns are not stored in the files, as in
	// Spark. Option partitionBy, comma-separated.
	PartitionBy []string
	// MaxRecordsPerFile caps the rows of one file; 0 means no cap.
	MaxRecordsPerFile int64
	// MaxBytesPerFile rolls to a new file once a file has reached this many bytes (checked
	// every few thousand rows, so a file may exceed it by a little); 0 means no cap.
	MaxBytesPerFile int64
	// RowGroupSize is how many encoded bytes a Parquet row group holds before it is flushed;
	// each open file buffers up to one row group in memory. 0 means DefaultRowGroupSize.
	RowGroupSize int64

	// Region is the S3 bucket's region; empty means the SDK's resolution.
	Region string
	// Endpoint overrides the S3 endpoint, e.g. http://127.0.0.1:9000.
	Endpoint string
	// PathStyleAccess addresses buckets as endpoint/bucket/key instead of
	// bucket.endpoint/key; S3-compatible servers (MinIO, s3rver) usually need it.
	PathStyleAccess bool
	// AWSAccessKey and AWSSecretKey (and AWSSessionToken) are static credentials. Without
	// them the SDK's default credential chain is used.
	AWSAccessKey    string
	AWSSecretKey    string
	AWSSessionToken string
	// RoleARN is a role to assume through STS, with the static credentials if given, else
	// with the default chain. RoleExternalID and RoleSessionName are optional.
	RoleARN         string
	RoleExternalID  string
	RoleSessionName string
	// UploadPartSize is the part size of multipart uploads to S3 (at least 5 MiB); 0 means
	// DefaultUploadPartSize. Each open file buffers up to UploadConcurrency+1 parts.
	UploadPartSize int64
	// UploadConcurrency is how many parts of one file are uploaded at once; 0 means
	// DefaultUploadConcurrency.
	UploadConcurrency int64

	// AWSConfig, if set, is the base AWS configuration instead of config.LoadDefaultConfig
	// (Go callers only). Region, Endpoint and the credential options still apply on top.
	AWSConfig *aws.Config
	// S3Client, if set, is used for every S3 call instead of a client the sink builds (Go
	// callers only). Region, Endpoint, PathStyleAccess, AWSConfig and the credential options
	// must then be empty.
	S3Client S3API
}

// DefaultOptions returns the defaults of format; set Path before use.
func DefaultOptions(format Format) Options {
	o := Options{Format: format, RowGroupSize: DefaultRowGroupSize,
		UploadPartSize: DefaultUploadPartSize, UploadConcurrency: DefaultUploadConcurrency}
	if format == Parquet {
		o.Compression = Snappy
	} else {
		o.Compression = None
	}
	return o
}

var (
	bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
)

// auth describes the sink to awsauth.
var auth = awsauth.Component{
	RegionDoc:       "Region of the S3 bucket.",
	EndpointDoc:     "S3 endpoint, e.g. http://127.0.0.1:9000 for an S3-compatible server.",
	EndpointExample: "https://s3.us-east-1.amazonaws.com",
	RoleSessionName: "sluice-file-sink",
}

// awsFields points at the AWS connection options, for awsauth.
func (o *Options) awsFields() awsauth.Fields {
	return awsauth.Fields{Region: &o.Region, Endpoint: &o.Endpoint,
		AWSAccessKey: &o.AWSAccessKey, AWSSecretKey: &o.AWSSecretKey, AWSSessionToken: &o.AWSSessionToken,
		RoleARN: &o.RoleARN, RoleExternalID: &o.RoleExternalID, RoleSessionName: &o.RoleSessionName,
		AWSConfig: &o.AWSConfig}
}

// commonOptions are the options both formats take.
func commonOptions() []optspec.Option[Options] {
	awsSpecs := awsauth.Specs(auth, (*Options).awsFields)
	return slices.Concat([]optspec.Option[Options]{
		{Key: "path", Type: "path or s3:// URL", Required: true,
			Doc: "Output directory: a local directory (or a file:///dir URL), or s3://bucket/prefix.",
			Set: func(o *Options, v string) error {
				if _, err := parsePath(v); err != nil {
					return err
				}
				o.Path = strings.TrimSpace(v)
				return nil
			}},
		{Key: "partitionBy", Type: "column list",
			Doc: "Comma-separated columns written as Hive-style directories col=value/; they are not stored in the files.",
			Set: func(o *Options, v string) error {
				cols, err := splitColumns(v)
				if err != nil {
					return err
				}
				o.PartitionBy = cols
				return nil
			}},
		optspec.Int("maxRecordsPerFile", "0", "Most rows in one file; 0 means no limit.", 0, math.MaxInt64,
			func(o *Options) *int64 { return &o.MaxRecordsPerFile }),
		optspec.Bytes("maxBytesPerFile", "0", "Roll to a new file once a file reaches this size (checked every few thousand rows); 0 means no limit.", 0, math.MaxInt64,
			func(o *Options) *int64 { return &o.MaxBytesPerFile }),
		awsSpecs.Region,
		awsSpecs.Endpoint,
		optspec.Bool("pathStyleAccess", "false", "Address S3 buckets by path (endpoint/bucket/key), as S3-compatible servers usually need.",
			func(o *Options) *bool { return &o.PathStyleAccess }),
	}, awsSpecs.Credentials, []optspec.Option[Options]{
		optspec.Bytes("uploadPartSize", "8mb", "Part size of multipart uploads to S3, at least 5mb; each open file buffers up to uploadConcurrency+1 parts.", MinUploadPartSize, 5<<30,
			func(o *Options) *int64 { return &o.UploadPartSize }),
		optspec.Int("uploadConcurrency", "4", "Parts of one file uploaded to S3 at once.", 1, 64,
			func(o *Options) *int64 { return &o.UploadConcurrency }),
	})
}

// ParquetSpec declares the "parquet" format's options.
var ParquetSpec = &optspec.Spec[Options]{Component: "parquet sink", Options: append(commonOptions(),
	optspec.Enum("compression", Snappy, "Parquet compression codec.", []string{Snappy, Zstd, None},
		func(o *Options) *string { return &o.Compression }),
	optspec.Bytes("rowGroupSize", "64mb", "Encoded bytes of a Parquet row group; each open file buffers one row group in memory.", 1<<10, 2<<30,
		func(o *Options) *int64 { return &o.RowGroupSize }),
)}

// JSONSpec declares the "json" format's options.
var JSONSpec = &optspec.Spec[Options]{Component: "json sink", Options: append(commonOptions(),
	optspec.Enum("compression", None, "Compression of the JSON files.", []string{None, Gzip},
		func(o *Options) *string { return &o.Compression }),
)}

// Spec returns the option declaration of format (ParquetSpec or JSONSpec), or nil.
func Spec(format Format) *optspec.Spec[Options] {
	switch format {
	case Parquet:
		return ParquetSpec
	case JSON:
		return JSONSpec
	}
	return nil
}

// splitColumns parses a comma-separated column list.
func splitColumns(v string) ([]string, error) {
	var cols []string
	seen := map[string]bool{}
	for _, c := range strings.Split(v, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			return nil, errors.New("must be a comma-separated list of column names without empty entries")
		}
		if seen[c] {
			return nil, fmt.Errorf("column %q is listed twice", c)
		}
		seen[c] = true
		cols = append(cols, c)
	}
	return cols, nil
}

// location is a parsed Path: a local directory, or an S3 bucket and key prefix.
type location struct {
	local  string // local directory, when bucket is ""
	bucket string
	prefix string // "" or ending in "/"
}

func (l location) isS3() bool { return l.bucket != "" }

func (l location) String() string {
	if l.isS3() {
		return "s3://" + l.bucket + "/" + l.prefix
	}
	return l.local
}

// parsePath parses the path option.
func parsePath(p string) (location, error) {
	p = strings.TrimSpace(p)
	if p == "" {
		return location{}, errors.New("must not be empty")
	}
	lower := strings.ToLower(p)
	for _, scheme := range []string{"s3://", "s3a://"} {
		if !strings.HasPrefix(lower, scheme) {
			continue
		}
		rest := p[len(scheme):]
		bucket, prefix, _ := strings.Cut(rest, "/")
		if !bucketRE.MatchString(bucket) {
			return location{}, fmt.Errorf("bucket %q is not a valid S3 bucket name; expected s3://bucket/prefix", bucket)
		}
		prefix = strings.Trim(prefix, "/")
		for _, seg := range strings.Split(prefix, "/") {
			if prefix != "" && (seg == "" || seg == "." || seg == "..") {
				return location{}, fmt.Errorf("prefix %q has an empty, \".\" or \"..\" segment", prefix)
			}
		}
		if prefix != "" {
			prefix += "/"
		}
		return location{bucket: bucket, prefix: prefix}, nil
	}
	if strings.HasPrefix(lower, "file:") { // file:///dir or file:/dir, as Spark's Hadoop paths
		local, err := checkpoint.LocalPath(p)
		if err != nil {
			return location{}, err
		}
		return location{local: local}, nil
	}
	if i := strings.Index(p, "://"); i > 0 && !strings.ContainsAny(p[:i], `/\`) {
		return location{}, fmt.Errorf("scheme %q is not supported: give a local directory or s3://bucket/prefix", p[:i+3])
	}
	return location{local: p}, nil
}

// Validate checks the options and reports every problem at once, each an *optspec.Error
// naming the option. Secrets are never quoted.
func (o Options) Validate() error {
	comp := string(o.Format) + " sink"
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &optspec.Error{Component: comp, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if o.Format != Parquet && o.Format != JSON {
		return &optspec.Error{Component: "file sink", Msg: fmt.Sprintf("unknown format %q: must be parquet or json", o.Format)}
	}
	loc, err := parsePath(o.Path)
	if err != nil {
		if strings.TrimSpace(o.Path) == "" {
			bad("path", "required option is missing")
		} else {
			bad("path", "%v", err)
		}
	}
	switch {
	case o.Compression == "":
	case o.Format == Parquet && o.Compression != Snappy && o.Compression != Zstd && o.Compression != None:
		bad("compression", "%q is not a Parquet codec: must be snappy, zstd or none", o.Compression)
	case o.Format == JSON && o.Compression != None && o.Compression != Gzip:
		bad("compression", "%q is not a JSON codec: must be none or gzip", o.Compression)
	}
	seen := map[string]bool{}
	for _, c := range o.PartitionBy {
		if strings.TrimSpace(c) == "" {
			bad("partitionBy", "has an empty column name")
		} else if seen[c] {
			bad("partitionBy", "column %q is listed twice", c)
		}
		seen[c] = true
	}
	if o.MaxRecordsPerFile < 0 {
		bad("maxRecordsPerFile", "must not be negative, got %d", o.MaxRecordsPerFile)
	}
	if o.MaxBytesPerFile < 0 {
		bad("maxBytesPerFile", "must not be negative, got %d", o.MaxBytesPerFile)
	}
	if o.RowGroupSize < 0 {
		bad("rowGroupSize", "must not be negative, got %d", o.RowGroupSize)
	}
	if o.UploadPartSize != 0 && o.UploadPartSize < MinUploadPartSize {
		bad("uploadPartSize", "must be at least 5 MiB (the S3 minimum), got %d", o.UploadPartSize)
	}
	if o.UploadConcurrency < 0 {
		bad("uploadConcurrency", "must not be negative, got %d", o.UploadConcurrency)
	}
	awsOpts := o.awsFields().Options()
	errs = append(errs, auth.Validate(comp, awsOpts)...)
	var service []string
	if o.PathStyleAccess {
		service = append(service, "pathStyleAccess")
	}
	given := awsOpts.Given(service...)
	if err == nil && !loc.isS3() && (len(given) > 0 || o.S3Client != nil) {
		if o.S3Client != nil {
			given = append(given, "S3Client")
		}
		errs = append(errs, &optspec.Error{Component: comp, Key: "path", Msg: fmt.Sprintf("is a local directory, but S3 settings are given (%s): use s3://bucket/prefix or drop them", strings.Join(given, ", "))})
	} else if o.S3Client != nil && len(given) > 0 {
		errs = append(errs, &optspec.Error{Component: comp, Msg: fmt.Sprintf("S3Client is given, so %s would be ignored: configure the client instead", strings.Join(given, ", "))})
	}
	return errors.Join(errs...)
}
