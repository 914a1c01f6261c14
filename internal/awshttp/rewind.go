// Package awshttp holds HTTP plumbing shared by sluice's AWS clients: things that sit between
// aws-sdk-go-v2 and net/http and are needed by production code and tests alike.
package awshttp

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkhttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// defaultNext is used by RewindableBodyClient values whose Next is nil.
var defaultNext aws.HTTPClient = sdkhttp.NewBuildableClient()

// RewindableBodyClient is an aws.HTTPClient (set it as aws.Config.HTTPClient or a service's
// Options.HTTPClient) that reads each request body into memory and hands Next a request whose
// body is a fresh bytes.Reader, with ContentLength and GetBody set. The caller's request is not
// modified; its body is read and closed.
//
// It exists because of an intermittent failure seen with aws-sdk-go-v2 on fast endpoints
// (aws-sdk-go-v2 issues 1825 and 2737): a call fails with "deserialization failed, failed to
// decode response body, read tcp ...: use of closed network connection", because net/http's
// write loop closed the connection under the response being decoded. Our notes on the local
// Kinesis servers saw it on large GetRecords responses from loopback with GOMAXPROCS >= 2 and
// trace it to the request body: the SDK wraps it in a reader that returns io.EOF once the SDK
// has closed it, and closes it as soon as the HTTP client returns, while the write loop may
// still be using it. A body that net/http owns outright (and can re-create through GetBody)
// takes the SDK's Close out of the picture. Upstream closed 2737 by making the SDK retry the
// error instead; a retried PutRecords can write its records twice, so not provoking the error
// beats retrying it.
//
// Requests without a body, and requests whose length is unknown (ContentLength < 0, as for
// event-stream input), are passed to Next unchanged. Because bodies are buffered, use it for
// bounded request bodies (Kinesis and DynamoDB calls, small S3 objects), not streaming uploads.
//
// The zero value is ready to use. A RewindableBodyClient is safe for concurrent use if Next is.
type RewindableBodyClient struct {
	// Next sends the rewritten request. Nil means a shared client built with the SDK's
	// defaults (aws/transport/http.NewBuildableClient).
	Next aws.HTTPClient
}

var _ aws.HTTPClient = (*RewindableBodyClient)(nil)

// Do buffers req's body as described on RewindableBodyClient and sends the request through Next.
// A failure to read the body is returned without sending anything.
func (c *RewindableBodyClient) Do(req *http.Request) (*http.Response, error) {
	next := c.Next
	if next == nil {
		next = defaultNext
	}
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength < 0 {
		return next.Do(req)
	}
	body, err := io.ReadAll(req.Body)
	if cerr := req.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("awshttp: buffer request body: %w", err)
	}
	r := req.WithContext(req.Context()) // shallow copy: the caller's request stays as it was
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(body)), nil
	}
	r.ContentLength = int64(len(body))
	return next.Do(r)
}

// CloseIdleConnections closes Next's idle connections if Next has a CloseIdleConnections
// method (as *http.Client does), and does nothing otherwise.
func (c *RewindableBodyClient) CloseIdleConnections() {
	if n, ok := c.Next.(interface{ CloseIdleConnections() }); ok {
		n.CloseIdleConnections()
	}
}
