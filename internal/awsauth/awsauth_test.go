package awsauth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/internal/awsauth"
	"github.com/sluicedev/sluice/internal/awshttp"
	"github.com/sluicedev/sluice/optspec"
)

// secrets are the values of secret options the tests use; none may appear in an error.
var secrets = []string{"static-secret", "static-token", "ext-123", "assumed-secret", "assumed-token"}

func checkNoSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q shows the secret %q", err, s)
		}
	}
}

var component = awsauth.Component{
	RegionDoc:       "The test's region.",
	EndpointDoc:     "The test endpoint.",
	EndpointExample: "https://test.us-east-1.amazonaws.com",
	RoleSessionName: "sluice-test",
}

// testOptions is a component's Options struct with the AWS fields of its own.
type testOptions struct {
	Name            string
	Region          string
	Endpoint        string
	AWSAccessKey    string
	AWSSecretKey    string
	AWSSessionToken string
	RoleARN         string
	RoleExternalID  string
	RoleSessionName string
	AWSConfig       *aws.Config
}

func (o *testOptions) fields() awsauth.Fields {
	return awsauth.Fields{Region: &o.Region, Endpoint: &o.Endpoint,
		AWSAccessKey: &o.AWSAccessKey, AWSSecretKey: &o.AWSSecretKey, AWSSessionToken: &o.AWSSessionToken,
		RoleARN: &o.RoleARN, RoleExternalID: &o.RoleExternalID, RoleSessionName: &o.RoleSessionName,
		AWSConfig: &o.AWSConfig}
}

func testSpec() *optspec.Spec[testOptions] {
	d := awsauth.Specs(component, (*testOptions).fields)
	return &optspec.Spec[testOptions]{Component: "test sink", Options: slices.Concat(
		[]optspec.Option[testOptions]{optspec.String("name", "", "A name.", func(o *testOptions) *string { return &o.Name }), d.Region, d.Endpoint},
		d.Credentials)}
}

func TestSpecs(t *testing.T) {
	spec := testSpec()
	if diff := cmp.Diff([]string{"name", "region", "endpoint", "awsAccessKey", "awsSecretKey", "awsSessionToken", "roleArn", "roleExternalId", "roleSessionName"}, spec.Keys()); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	var secret []string
	for _, o := range spec.Options {
		if o.Secret {
			secret = append(secret, o.Key)
		}
	}
	if diff := cmp.Diff([]string{"awsAccessKey", "awsSecretKey", "awsSessionToken", "roleExternalId"}, secret); diff != "" {
		t.Errorf("secret keys (-want +got):\n%s", diff)
	}
	if o, _ := spec.Lookup("roleSessionName"); o.Default != "sluice-test" {
		t.Errorf("roleSessionName default %q", o.Default)
	}

	var got testOptions
	err := spec.Parse(&got, map[string]string{
		"region": " eu-west-1 ", "endpoint": "http://127.0.0.1:4567", "awsAccessKey": "AKIDSTATIC",
		"awsSecretKey": "static-secret", "awsSessionToken": "static-token", "roleArn": "arn:aws:iam::123456789012:role/reader",
		"roleExternalId": "ext-123", "roleSessionName": "nightly",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := testOptions{Region: "eu-west-1", Endpoint: "http://127.0.0.1:4567", AWSAccessKey: "AKIDSTATIC",
		AWSSecretKey: "static-secret", AWSSessionToken: "static-token", RoleARN: "arn:aws:iam::123456789012:role/reader",
		RoleExternalID: "ext-123", RoleSessionName: "nightly"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parsed options (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(awsauth.Options{Region: "eu-west-1", Endpoint: "http://127.0.0.1:4567", AWSAccessKey: "AKIDSTATIC",
		AWSSecretKey: "static-secret", AWSSessionToken: "static-token", RoleARN: "arn:aws:iam::123456789012:role/reader",
		RoleExternalID: "ext-123", RoleSessionName: "nightly"}, got.fields().Options()); diff != "" {
		t.Errorf("Fields.Options (-want +got):\n%s", diff)
	}

	err = spec.Parse(&testOptions{}, map[string]string{
		"region": "US East", "endpoint": "localhost:4567", "awsSecretKey": " ", "roleArn": "admin", "roleSessionName": "a b",
	})
	wantErrs := []string{
		`test sink: option "awsSecretKey": invalid value "*****(redacted)": must not be empty`,
		`test sink: option "endpoint": invalid value "localhost:4567": must be an http:// or https:// URL such as https://test.us-east-1.amazonaws.com`,
		`test sink: option "region": invalid value "US East": must be an AWS region such as us-east-1`,
		`test sink: option "roleArn": invalid value "admin": must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)`,
		`test sink: option "roleSessionName": invalid value "a b": must be 2 to 64 characters of letters, digits and "+=,.@_-"`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	if diff := cmp.Diff(wantErrs, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("parse errors (-want +got):\n%s", diff)
	}
	err = spec.Parse(&testOptions{}, map[string]string{"endpoint": "https://user:static-secret@example.com"})
	if err == nil || !strings.Contains(err.Error(), "must not hold user information") {
		t.Errorf("endpoint with user information: %v", err)
	}
}

func TestValidate(t *testing.T) {
	const role = "arn:aws:iam::123456789012:role/reader"
	for _, tc := range []struct {
		name string
		o    awsauth.Options
		want []string // "key: message"
	}{
		{"zero", awsauth.Options{}, nil},
		{"all valid", awsauth.Options{Region: "us-east-1", Endpoint: "http://127.0.0.1:4567", AWSAccessKey: "AKID",
			AWSSecretKey: "static-secret", AWSSessionToken: "static-token", RoleARN: role, RoleExternalID: "ext-123", RoleSessionName: "job"}, nil},
		{"bad region", awsauth.Options{Region: "US East"}, []string{`region: "US East" is not an AWS region such as us-east-1`}},
		{"bad endpoint", awsauth.Options{Endpoint: "ftp://example.com"}, []string{`endpoint: must be an http:// or https:// URL such as https://test.us-east-1.amazonaws.com`}},
		{"endpoint with user", awsauth.Options{Endpoint: "https://u:static-secret@example.com"}, []string{`endpoint: must not hold user information`}},
		{"key without secret", awsauth.Options{AWSAccessKey: "AKID"}, []string{`awsSecretKey: required when awsAccessKey is given`}},
		{"secret without key", awsauth.Options{AWSSecretKey: "static-secret"}, []string{`awsAccessKey: required when awsSecretKey is given`}},
		{"token without keys", awsauth.Options{AWSSessionToken: "static-token"}, []string{`awsSessionToken: given without awsAccessKey and awsSecretKey`}},
		{"token with one key", awsauth.Options{AWSSecretKey: "static-secret", AWSSessionToken: "static-token"},
			[]string{`awsAccessKey: required when awsSecretKey is given`, `awsSessionToken: given without awsAccessKey and awsSecretKey`}},
		{"bad role", awsauth.Options{RoleARN: "arn:aws:iam::123:user/x"}, []string{`roleArn: must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)`}},
		{"external id without role", awsauth.Options{RoleExternalID: "ext-123"}, []string{`roleExternalId: given without roleArn`}},
		{"session without role", awsauth.Options{RoleSessionName: "job"}, []string{`roleSessionName: given without roleArn`}},
		{"bad session", awsauth.Options{RoleARN: role, RoleSessionName: "a"}, []string{`roleSessionName: must be 2 to 64 characters of letters, digits and "+=,.@_-"`}},
		{"bad session without role", awsauth.Options{RoleSessionName: "a b"},
			[]string{`roleSessionName: given without roleArn`, `roleSessionName: must be 2 to 64 characters of letters, digits and "+=,.@_-"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, err := range component.Validate("test sink", tc.o) {
				var oe *optspec.Error
				if !errors.As(err, &oe) || oe.Component != "test sink" || oe.Key == "" {
					t.Errorf("%v: not an *optspec.Error naming the component and a key", err)
					continue
				}
				if !strings.HasPrefix(err.Error(), fmt.Sprintf("test sink: option %q: ", oe.Key)) {
					t.Errorf("message %q", err)
				}
				got = append(got, oe.Key+": "+oe.Msg)
				checkNoSecret(t, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGiven(t *testing.T) {
	if got := (awsauth.Options{}).Given(); got != nil {
		t.Errorf("zero options: %q", got)
	}
	o := awsauth.Options{Region: "us-east-1", Endpoint: "http://x", AWSConfig: &aws.Config{}, AWSSessionToken: "static-token", RoleARN: "r", RoleSessionName: "s"}
	want := []string{"region", "endpoint", "pathStyleAccess", "AWSConfig", "awsAccessKey/awsSecretKey/awsSessionToken", "roleArn"}
	if diff := cmp.Diff(want, o.Given("pathStyleAccess")); diff != "" {
		t.Errorf("Given (-want +got):\n%s", diff)
	}
}

// credentialsOf retrieves the credentials of cfg.
func credentialsOf(t *testing.T, cfg aws.Config) aws.Credentials {
	t.Helper()
	if cfg.Credentials == nil {
		t.Fatal("no credentials provider")
	}
	c, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfigStaticKeys(t *testing.T) {
	given := &aws.Config{Region: "us-west-2", Credentials: credentials.NewStaticCredentialsProvider("AKIDFROMCONFIG", "config-secret", "")}
	cfg, err := component.Config(t.Context(), awsauth.Options{Region: "eu-west-1", Endpoint: "http://127.0.0.1:1",
		AWSAccessKey: "AKIDSTATIC", AWSSecretKey: "static-secret", AWSSessionToken: "static-token", AWSConfig: given})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" {
		t.Errorf("region %q; want the option's", cfg.Region)
	}
	if cfg.BaseEndpoint != nil {
		t.Errorf("BaseEndpoint %q: the endpoint is the service client's, not the config's", *cfg.BaseEndpoint)
	}
	c := credentialsOf(t, cfg)
	if c.AccessKeyID != "AKIDSTATIC" || c.SecretAccessKey != "static-secret" || c.SessionToken != "static-token" {
		t.Errorf("credentials %s / %s", c.AccessKeyID, c.SessionToken)
	}
	if _, ok := cfg.HTTPClient.(*awshttp.RewindableBodyClient); !ok {
		t.Errorf("HTTP client %T; want a *awshttp.RewindableBodyClient", cfg.HTTPClient)
	}
	// The caller's configuration is copied, not changed.
	if given.Region != "us-west-2" || given.HTTPClient != nil {
		t.Errorf("the given aws.Config was modified: %+v", given)
	}
	if c := credentialsOf(t, *given); c.AccessKeyID != "AKIDFROMCONFIG" {
		t.Errorf("the given aws.Config's credentials were replaced: %s", c.AccessKeyID)
	}
}

func TestConfigGivenAWSConfig(t *testing.T) {
	rewind := &awshttp.RewindableBodyClient{}
	given := &aws.Config{Region: "ap-south-1", HTTPClient: rewind, BaseEndpoint: aws.String("http://127.0.0.1:1"),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDFROMCONFIG", "config-secret", "")}
	cfg, err := component.Config(t.Context(), awsauth.Options{AWSConfig: given})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "ap-south-1" || aws.ToString(cfg.BaseEndpoint) != "http://127.0.0.1:1" {
		t.Errorf("region %q, endpoint %q; want the given config's", cfg.Region, aws.ToString(cfg.BaseEndpoint))
	}
	if c := credentialsOf(t, cfg); c.AccessKeyID != "AKIDFROMCONFIG" {
		t.Errorf("credentials %s; want the given config's", c.AccessKeyID)
	}
	if cfg.HTTPClient != rewind {
		t.Errorf("HTTP client %#v; want the given RewindableBodyClient, not wrapped again", cfg.HTTPClient)
	}

	_, err = component.Config(t.Context(), awsauth.Options{AWSConfig: &aws.Config{}, AWSAccessKey: "AKIDSTATIC", AWSSecretKey: "static-secret"})
	if err == nil || !strings.HasPrefix(err.Error(), `no region: set the "region" option`) {
		t.Errorf("no region: %v", err)
	}
	checkNoSecret(t, err)
}

// TestConfigDefault: without AWSConfig the SDK's default configuration is loaded (here from
// the environment), with the options on top.
func TestConfigDefault(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_REGION", "ca-central-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	cfg, err := component.Config(t.Context(), awsauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "ca-central-1" {
		t.Errorf("region %q; want AWS_REGION's", cfg.Region)
	}
	if c := credentialsOf(t, cfg); c.AccessKeyID != "AKIDENV" {
		t.Errorf("credentials %s; want the environment's", c.AccessKeyID)
	}
	cfg, err = component.Config(t.Context(), awsauth.Options{Region: "eu-north-1"})
	if err != nil || cfg.Region != "eu-north-1" {
		t.Errorf("region %q, %v; want the option's", cfg.Region, err)
	}

	t.Setenv("AWS_REGION", "")
	_, err = component.Config(t.Context(), awsauth.Options{AWSAccessKey: "AKIDSTATIC", AWSSecretKey: "static-secret"})
	if err == nil || !strings.HasPrefix(err.Error(), "no region") {
		t.Errorf("no region: %v", err)
	}
	checkNoSecret(t, err)
}

// fakeSTS is an STS endpoint that answers AssumeRole with a canned response when the call is
// signed with AKIDSTATIC, and with AccessDenied otherwise.
type fakeSTS struct {
	mu     sync.Mutex
	forms  []url.Values
	keyIDs []string
}

func (f *fakeSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	keyID := ""
	if _, after, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
		keyID, _, _ = strings.Cut(after, "/")
	}
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	f.mu.Lock()
	f.forms = append(f.forms, form)
	f.keyIDs = append(f.keyIDs, keyID)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	if keyID != "AKIDSTATIC" || form.Get("Action") != "AssumeRole" {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed to assume the role</Message></Error><RequestId>r0</RequestId></ErrorResponse>`)
		return
	}
	fmt.Fprint(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>`+
		`<AccessKeyId>ASIAASSUMED</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey><SessionToken>assumed-token</SessionToken>`+
		`<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/reader/s</Arn>`+
		`<AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></AssumeRoleResponse>`)
}

func TestConfigAssumeRole(t *testing.T) {
	sts := &fakeSTS{}
	srv := httptest.NewServer(sts)
	defer srv.Close()
	const role = "arn:aws:iam::123456789012:role/reader"
	base := &aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDFROMCONFIG", "config-secret", "")}

	for _, tc := range []struct {
		name, sessionName, externalID, wantSession string
	}{
		{"session name and external id", "nightly", "ext-123", "nightly"},
		{"defaults", "", "", "sluice-test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sts.mu.Lock()
			sts.forms, sts.keyIDs = nil, nil
			sts.mu.Unlock()
			cfg, err := component.Config(t.Context(), awsauth.Options{AWSConfig: base, AWSAccessKey: "AKIDSTATIC", AWSSecretKey: "static-secret",
				RoleARN: role, RoleExternalID: tc.externalID, RoleSessionName: tc.sessionName})
			if err != nil {
				t.Fatal(err)
			}
			c := credentialsOf(t, cfg)
			if c.AccessKeyID != "ASIAASSUMED" || c.SecretAccessKey != "assumed-secret" || c.SessionToken != "assumed-token" {
				t.Errorf("credentials %s; want the assumed role's", c.AccessKeyID)
			}
			credentialsOf(t, cfg) // cached: no second call
			sts.mu.Lock()
			defer sts.mu.Unlock()
			if len(sts.forms) != 1 {
				t.Fatalf("%d AssumeRole calls; want 1", len(sts.forms))
			}
			f := sts.forms[0]
			if f.Get("Action") != "AssumeRole" || f.Get("RoleArn") != role || f.Get("RoleSessionName") != tc.wantSession || f.Get("ExternalId") != tc.externalID {
				t.Errorf("AssumeRole form %v", f)
			}
			if _, ok := f["ExternalId"]; ok != (tc.externalID != "") {
				t.Errorf("ExternalId sent: %v; want %v", ok, tc.externalID != "")
			}
			if sts.keyIDs[0] != "AKIDSTATIC" {
				t.Errorf("AssumeRole signed with %q; want the static keys", sts.keyIDs[0])
			}
		})
	}

	t.Run("denied", func(t *testing.T) {
		// Signed with the given config's credentials, which the fake STS refuses.
		cfg, err := component.Config(t.Context(), awsauth.Options{AWSConfig: base, RoleARN: role, RoleExternalID: "ext-123"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		_, err = cfg.Credentials.Retrieve(ctx)
		if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
			t.Fatalf("Retrieve: %v; want AccessDenied", err)
		}
		checkNoSecret(t, err)
		if strings.Contains(err.Error(), "config-secret") {
			t.Errorf("error %q shows the config's secret", err)
		}
	})
}
