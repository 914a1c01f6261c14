package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// newS3Client returns Options.S3Client, or a client built from the aws.Config of awsauth
// (Options.AWSConfig, else the SDK's default configuration, with the region and credential
// options applied) with the endpoint and path style applied. Requests go through
// awshttp.RewindableBodyClient, set up by awsauth (bodies are bounded: parts of at most
// UploadPartSize, manifests), which avoids the SDK's request-body race on fast endpoints.
// The SDK's standard retryer stays on: S3 calls are idempotent here (whole objects and parts
// under fixed keys).
func (o *Options) newS3Client(ctx context.Context) (S3API, error) {
	if o.S3Client != nil {
		return o.S3Client, nil
	}
	cfg, err := auth.Config(ctx, o.awsFields().Options())
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(so *s3.Options) {
		so.UsePathStyle = o.PathStyleAccess
		// Servers that return no checksum (S3-compatible stores, s3rver) would otherwise make
		// the SDK log a line per response on the default logger.
		so.DisableLogOutputChecksumValidationSkipped = true
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
	}), nil
}

// s3Storage keeps objects under a bucket's key prefix. Data files are streamed to the transfer
// manager, which uploads them with one PutObject or as a multipart upload; either way the
// object appears whole, or not at all, when the upload completes. Small objects are written
// with one PutObject, atomic in S3.
type s3Storage struct {
	client S3API
	tm     *transfermanager.Client
	bucket string
	prefix string // "" or ending in "/"
}

func newS3Storage(client S3API, loc location, partSize, concurrency int64) *s3Storage {
	tm := transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = partSize
		o.MultipartUploadThreshold = partSize
		o.Concurrency = int(concurrency)
	})
	return &s3Storage{client: client, tm: tm, bucket: loc.bucket, prefix: loc.prefix}
}

func (s *s3Storage) String() string { return "s3://" + s.bucket + "/" + s.prefix }

func (s *s3Storage) key(name string) string { return s.prefix + name }

// errObjectAborted ends the body of an aborted upload.
var errObjectAborted = errors.New("file sink: upload aborted")

func (s *s3Storage) create(ctx context.Context, name string) (object, error) {
	pr, pw := io.Pipe()
	o := &s3Object{pw: pw, done: make(chan error, 1)}
	go func() {
		_, err := s.tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
			Bucket: aws.String(s.bucket),
			Key:    aws.String(s.key(name)),
			Body:   pr,
		})
		if err != nil {
			err = fmt.Errorf("upload s3://%s/%s: %w", s.bucket, s.key(name), err)
			pr.CloseWithError(err) // a blocked Write returns err
		} else {
			pr.Close()
		}
		o.done <- err
	}()
	return o, nil
}

// s3Object is an object being uploaded: writes go through a pipe to the transfer manager.
type s3Object struct {
	pw       *io.PipeWriter
	done     chan error
	finished atomic.Bool
}

func (o *s3Object) Write(p []byte) (int, error) { return o.pw.Write(p) }

func (o *s3Object) commit() error {
	o.pw.Close()
	o.finished.Store(true)
	return <-o.done
}

func (o *s3Object) abort() error {
	if o.finished.Swap(true) {
		return nil
	}
	o.pw.CloseWithError(errObjectAborted) // the transfer manager aborts a multipart upload
	err := <-o.done
	if errors.Is(err, errObjectAborted) {
		err = nil
	}
	return err
}

func (s *s3Storage) put(ctx context.Context, name string, data []byte, noClobber bool) error {
	in := &s3.PutObjectInput{
		Bucket:      aws.String(s.bucket),
		Key:         aws.String(s.key(name)),
		Body:        bytes.NewReader(data),
		ContentType: aws.String("application/json"),
	}
	if noClobber {
		in.IfNoneMatch = aws.String("*")
	}
	_, err := s.client.PutObject(ctx, in)
	if err == nil {
		return nil
	}
	if noClobber && isPreconditionFailed(err) {
		// Someone wrote it first; perhaps this very call, retried by the SDK after a lost
		// response. Then the content is ours.
		got, gerr := s.get(ctx, name)
		if gerr == nil && bytes.Equal(got, data) {
			return nil
		}
		return fmt.Errorf("s3://%s/%s: %w", s.bucket, s.key(name), errExists)
	}
	return fmt.Errorf("put s3://%s/%s: %w", s.bucket, s.key(name), err)
}

func isPreconditionFailed(err error) bool {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed"
}

func (s *s3Storage) get(ctx context.Context, name string) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(name))})
	if err != nil {
		var nsk *s3types.NoSuchKey
		var re *smithyhttp.ResponseError
		if errors.As(err, &nsk) || (errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound) {
			return nil, fmt.Errorf("s3://%s/%s: %w", s.bucket, s.key(name), fs.ErrNotExist)
		}
		return nil, fmt.Errorf("get s3://%s/%s: %w", s.bucket, s.key(name), err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", s.bucket, s.key(name), err)
	}
	return data, nil
}

func (s *s3Storage) list(ctx context.Context, prefix string) ([]objectInfo, error) {
	var out []objectInfo
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.key(prefix)),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", s.bucket, s.key(prefix), err)
		}
		for _, obj := range page.Contents {
			k := aws.ToString(obj.Key)
			if len(k) < len(s.prefix) || k[:len(s.prefix)] != s.prefix {
				continue
			}
			out = append(out, objectInfo{name: k[len(s.prefix):], size: aws.ToInt64(obj.Size)})
		}
	}
	return out, nil
}

func (s *s3Storage) remove(ctx context.Context, name string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(name))})
	if err != nil {
		return fmt.Errorf("delete s3://%s/%s: %w", s.bucket, s.key(name), err)
	}
	return nil
}

func (s *s3Storage) sync(context.Context, []string) error { return nil }
