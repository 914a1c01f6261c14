package kinesis

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sluicedev/sluice/internal/localaws"
	"github.com/sluicedev/sluice/sources"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestAssumeRole checks the roleArn path: the static keys sign an STS AssumeRole call (with the
// external ID and session name), and the Kinesis calls are signed with the assumed role's
// credentials. One fake endpoint serves STS and proxies Kinesis calls to kinesalite.
func TestAssumeRole(t *testing.T) {
	t.Parallel()
	ep := localaws.KinesaliteEndpoint(t)
	c := localaws.KinesisClient(t, ep)
	name := localaws.CreateStream(t, c, 1)
	want := records("r", 20, 2)
	localaws.PutRecords(t, c, name, want)

	target, _ := url.Parse(ep)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	var assumeForms []url.Values
	var kinesisKeys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		keyID := ""
		if _, after, ok := strings.Cut(auth, "Credential="); ok {
			keyID, _, _ = strings.Cut(after, "/")
		}
		if r.Header.Get("X-Amz-Target") == "" { // STS (query protocol)
			body, _ := io.ReadAll(r.Body)
			form, _ := url.ParseQuery(string(body))
			mu.Lock()
			assumeForms = append(assumeForms, form)
			mu.Unlock()
			if keyID != "AKIDSTATIC" || form.Get("Action") != "AssumeRole" {
				w.WriteHeader(403)
				fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>bad caller</Message></Error></ErrorResponse>`)
				return
			}
			w.Header().Set("Content-Type", "text/xml")
			fmt.Fprint(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>`+
				`<AccessKeyId>ASIAASSUMED</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey><SessionToken>assumed-token</SessionToken>`+
				`<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/reader/s</Arn>`+
				`<AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></AssumeRoleResponse>`)
			return
		}
		mu.Lock()
		kinesisKeys = append(kinesisKeys, keyID+" "+r.Header.Get("X-Amz-Security-Token"))
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()

	o := DefaultOptions()
	o.StreamNames = []string{name}
	o.AWSConfig = &aws.Config{Region: localaws.Region, BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDFROMCONFIG", "x", "")}
	o.AWSAccessKey, o.AWSSecretKey = "AKIDSTATIC", "static-secret"
	o.RoleARN, o.RoleExternalID, o.RoleSessionName = "arn:aws:iam::123456789012:role/reader", "ext-123", "nightly"
	o.InitialPosition = InitialPosition{Kind: TrimHorizon}
	o.MaxFetchDuration = 50 * time.Millisecond
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := s.Open(t.Context(), sources.Info{Allocator: newChecked(t), Logger: logger}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	start, err := s.InitialOffset(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rows, end := readUntil(t, s, start, len(want), 30*time.Second)
	checkExactlyOnce(t, rows, want)
	s.Close(t.Context())
	text := logs.String() + fmt.Sprint(s.Metrics(end)) + s.Description() + string(end)
	for _, secret := range []string{"static-secret", "assumed-secret", "assumed-token", "ext-123"} {
		if strings.Contains(text, secret) {
			t.Errorf("%q appears in the logs, metrics, description or offsets", secret)
		}
	}
	if !strings.Contains(logs.String(), "source opened") {
		t.Errorf("no logs captured: %q", logs.String())
	}

	mu.Lock()
	defer mu.Unlock()
	if len(assumeForms) == 0 {
		t.Fatal("no AssumeRole call")
	}
	f := assumeForms[0]
	if f.Get("RoleArn") != o.RoleARN || f.Get("ExternalId") != "ext-123" || f.Get("RoleSessionName") != "nightly" {
		t.Errorf("AssumeRole form %v", f)
	}
	for _, k := range kinesisKeys {
		if k != "ASIAASSUMED assumed-token" {
			t.Fatalf("a Kinesis call was signed with %q", k)
		}
	}
}
