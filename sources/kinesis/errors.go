package kinesis

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ErrStreamRecreated is wrapped by the error that stops a query whose checkpoint was written
// for a stream that has since been deleted and re-created under the same name: its
// StreamCreationTimestamp differs from the one kept in the offsets. The query is not restarted
// from scratch silently; delete the checkpoint, or use a new checkpointLocation, to read the
// new stream.
var ErrStreamRecreated = errors.New("the stream was deleted and re-created since the checkpoint was written")

// ErrStreamNotFound is wrapped by the error that stops a query whose stream does not exist.
var ErrStreamNotFound = errors.New("stream not found")

// ErrAccessDenied is wrapped by the error that stops a query whose credentials may not read
// the stream.
var ErrAccessDenied = errors.New("access denied")

// ErrNoCredentials is wrapped by the error that stops a query when no AWS credentials could be
// obtained (none configured, an expired session, a role that could not be assumed): a call was
// never made, so it is not a matter of permissions.
var ErrNoCredentials = errors.New("no usable AWS credentials")

// credentialsHint says where credentials come from, for ErrNoCredentials errors.
const credentialsHint = "set awsAccessKey and awsSecretKey, or roleArn, or configure the default credential chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, an instance or task role)"

// permissions are the IAM actions the source needs, named in access-denied errors.
const permissions = "kinesis:DescribeStreamSummary, kinesis:ListShards, kinesis:GetShardIterator and kinesis:GetRecords"

// errClass says how the source reacts to a failed call.
type errClass int

const (
	classFatal         errClass = iota // stop the query
	classThrottled                     // back off and retry without limit; counted in numThrottled
	classTransient                     // back off and retry; fatal after maxTransientFailures in a row
	classExpired                       // the shard iterator expired: make a new one and retry
	classNotFound                      // the stream or the shard does not exist
	classDenied                        // the credentials may not do this
	classNotYet                        // an at-timestamp iterator for a time the server has not reached
	classNoCredentials                 // the SDK could not obtain credentials to sign the call
)

// maxTransientFailures is how many transient failures in a row of one shard (or of shard
// discovery) stop the query. With the backoff below they span about a minute.
const maxTransientFailures = 12

// throttleCodes are the error codes that mean "slow down".
var throttleCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"LimitExceededException":                 true,
	"KMSThrottlingException":                 true,
	"ThrottlingException":                    true,
	"Throttling":                             true,
	"TooManyRequestsException":               true,
	"RequestLimitExceeded":                   true,
}

// deniedCodes are the error codes that mean the credentials are not good for the call.
var deniedCodes = map[string]bool{
	"AccessDeniedException":       true,
	"AccessDenied":                true,
	"KMSAccessDeniedException":    true,
	"UnrecognizedClientException": true,
	"InvalidSignatureException":   true,
	"ExpiredTokenException":       true,
	"IncompleteSignature":         true,
	"MissingAuthenticationToken":  true,
}

// classify decides how to react to err, returned by a call made with a context that is not
// done (a deadline of the call's own is a transient failure).
func classify(err error) errClass {
	var (
		throttled  *types.ProvisionedThroughputExceededException
		limit      *types.LimitExceededException
		kmsThrottl *types.KMSThrottlingException
		expired    *types.ExpiredIteratorException
		notFound   *types.ResourceNotFoundException
		denied     *types.AccessDeniedException
		inUse      *types.ResourceInUseException
		internal   *types.InternalFailureException
		invalid    *types.InvalidArgumentException
	)
	switch {
	case isCredentialsError(err):
		// Before the HTTP status checks below: the instance metadata service answers a
		// credential lookup with 403, which is not the stream's access being denied.
		return classNoCredentials
	case errors.As(err, &throttled), errors.As(err, &limit), errors.As(err, &kmsThrottl):
		return classThrottled
	case errors.As(err, &expired):
		return classExpired
	case errors.As(err, &notFound):
		return classNotFound
	case errors.As(err, &denied):
		return classDenied
	case errors.As(err, &inUse), errors.As(err, &internal):
		return classTransient
	case errors.As(err, &invalid):
		// kinesalite (and a clock ahead of the server's) refuses an AT_TIMESTAMP iterator for
		// a time the server has not reached yet.
		if strings.Contains(invalid.ErrorMessage(), "cannot be greater than the currentTimestamp") {
			return classNotYet
		}
		return classFatal
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		switch {
		case throttleCodes[code]:
			return classThrottled
		case deniedCodes[code]:
			return classDenied
		case code == "ExpiredIteratorException":
			return classExpired
		case code == "ResourceNotFoundException":
			return classNotFound
		}
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		switch code := respErr.HTTPStatusCode(); {
		case code >= 500, code == 429:
			return classTransient
		case code == 403:
			return classDenied
		}
	}
	var (
		deser   *smithy.DeserializationError
		sendErr *smithyhttp.RequestSendError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &deser), errors.As(err, &sendErr):
		// A response cut short, the "use of closed network connection" race of the SDK on
		// fast endpoints, or a request that never reached the server.
		return classTransient
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed), errors.As(err, &netErr):
		return classTransient
	case strings.Contains(err.Error(), "use of closed network connection"),
		strings.Contains(err.Error(), "connection reset by peer"):
		return classTransient
	}
	return classFatal
}

// backoff returns the wait before retry number attempt (from 1): exponential from 100ms,
// capped at 10s, with jitter between half and all of it.
func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < attempt && d < 10*time.Second; i++ {
		d *= 2
	}
	d = min(d, 10*time.Second)
	return d/2 + rand.N(d/2+1)
}

// isCredentialsError reports whether err is the SDK failing to obtain credentials before a
// call. aws-sdk-go-v2 has no type for it: every service client wraps the credential provider's
// error as "get identity: ..." in its signing step.
func isCredentialsError(err error) bool {
	return err != nil && strings.Contains(err.Error(), "get identity: ")
}
