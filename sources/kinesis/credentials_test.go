package kinesis

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// TestNoCredentials: when the SDK cannot obtain credentials (here a provider that fails the way
// the instance-metadata lookup does, with an HTTP 403), the error says so and how to give
// credentials; it is not reported as the stream's access being denied.
func TestNoCredentials(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()
	imds := aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		resp, err := http.Get(srv.URL)
		if err != nil {
			return aws.Credentials{}, err
		}
		resp.Body.Close()
		return aws.Credentials{}, errors.New("no EC2 IMDS role found, request to EC2 IMDS failed: StatusCode: 403")
	})
	client := awskinesis.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: aws.NewCredentialsCache(imds),
		BaseEndpoint: aws.String("http://127.0.0.1:1"), Retryer: func() aws.Retryer { return aws.NopRetryer{} }})
	_, err := client.DescribeStreamSummary(context.Background(), &awskinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")})
	if err == nil || calls == 0 {
		t.Fatalf("DescribeStreamSummary: %v (provider called %d times); want a credentials failure", err, calls)
	}
	if got := classify(err); got != classNoCredentials {
		t.Fatalf("classify(%v) = %d; want classNoCredentials", err, got)
	}
	s := &Source{}
	msg := s.apiError("describe stream", &streamInfo{key: "s"}, "", err)
	if !errors.Is(msg, ErrNoCredentials) || errors.Is(msg, ErrAccessDenied) || !strings.Contains(msg.Error(), "awsAccessKey and awsSecretKey") {
		t.Errorf("apiError: %v; want ErrNoCredentials with the hint, not ErrAccessDenied", msg)
	}
}
