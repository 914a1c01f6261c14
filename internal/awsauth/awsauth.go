// Package awsauth holds the AWS connection options that sluice's AWS-backed components share —
// region, endpoint, static keys, an IAM role to assume, a caller's aws.Config — with their one
// option declaration, their validation and the aws.Config they build.
//
// The options stay fields of each component's own Options struct (Region, AWSAccessKey, ...),
// documented there and settable in a composite literal by callers outside the module, who
// cannot name this internal package's types. The component hands awsauth pointers to them
// (Fields): Specs declares the options through those pointers, Component.Validate checks them
// and Component.Config builds the aws.Config its client starts from. What is particular to one
// AWS service (the endpoint of its client, its retryer, S3 path-style addressing) stays in the
// component, applied as functional options of the service client on top of that aws.Config.
package awsauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/sluicedev/sluice/internal/awshttp"
	"github.com/sluicedev/sluice/optspec"
)

// Options are the values of a component's AWS connection options (see Fields.Options). The
// zero value uses the SDK's default configuration and credential chain.
type Options struct {
	// Region is the AWS region. Empty: the SDK's resolution (AWS_REGION, the shared config
	// file, ...); a component may derive it from a resource ARN first.
	Region string
	// Endpoint overrides the endpoint of the component's service, e.g. http://localhost:4567.
	// It applies to that service's client only, not to STS.
	Endpoint string
	// AWSAccessKey is the access key ID of static credentials. Without static credentials the
	// SDK's default credential chain is used. Secret: never printed.
	AWSAccessKey string
	// AWSSecretKey is the secret access key of AWSAccessKey. Secret: never printed.
	AWSSecretKey string
	// AWSSessionToken is the session token of temporary static credentials. Secret: never
	// printed.
	AWSSessionToken string
	// RoleARN is a role to assume through STS, with the static credentials if given, else with
	// the default chain.
	RoleARN string
	// RoleExternalID is the external ID to pass when assuming RoleARN (optional). Secret:
	// never printed.
	RoleExternalID string
	// RoleSessionName is the session name when assuming RoleARN; empty means the component's
	// default (Component.RoleSessionName).
	RoleSessionName string
	// AWSConfig, if set, is the base configuration instead of config.LoadDefaultConfig (Go
	// callers only). Region, Endpoint and the credential options still apply on top.
	AWSConfig *aws.Config
}

// Fields points at the AWS connection options in a component's Options struct; each pointer
// must be non-nil.
type Fields struct {
	Region, Endpoint                            *string
	AWSAccessKey, AWSSecretKey, AWSSessionToken *string
	RoleARN, RoleExternalID, RoleSessionName    *string
	AWSConfig                                   **aws.Config
}

// Options returns the values f points at.
func (f Fields) Options() Options {
	return Options{
		Region: *f.Region, Endpoint: *f.Endpoint,
		AWSAccessKey: *f.AWSAccessKey, AWSSecretKey: *f.AWSSecretKey, AWSSessionToken: *f.AWSSessionToken,
		RoleARN: *f.RoleARN, RoleExternalID: *f.RoleExternalID, RoleSessionName: *f.RoleSessionName,
		AWSConfig: *f.AWSConfig,
	}
}

// Component describes one component that uses Options: the words its option docs and errors
// use, and the session name of the roles it assumes.
type Component struct {
	// RegionDoc documents the region option, e.g. "The stream's region.".
	RegionDoc string
	// EndpointDoc documents the endpoint option.
	EndpointDoc string
	// EndpointExample is an endpoint URL quoted when the endpoint option is malformed, e.g.
	// "https://kinesis.us-east-1.amazonaws.com".
	EndpointExample string
	// RoleSessionName is the session name of an assumed role when roleSessionName is not given,
	// e.g. "sluice-kinesis-source".
	RoleSessionName string
}

var (
	regionRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,48}[a-z0-9]$`)
	roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$`)
	sessionRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

// The messages of malformed values, shared by Specs (parsing) and Validate.
const (
	msgRegion      = "must be an AWS region such as us-east-1"
	msgRoleARN     = "must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
	msgSessionName = `must be 2 to 64 characters of letters, digits and "+=,.@_-"`
)

// Declarations are the option declarations of Options for a component whose options are T.
// Region and Endpoint are apart from Credentials so that a component can list them next to the
// resource they locate.
type Declarations[T any] struct {
	// Region declares "region".
	Region optspec.Option[T]
	// Endpoint declares "endpoint".
	Endpoint optspec.Option[T]
	// Credentials declares, in this order, "awsAccessKey", "awsSecretKey", "awsSessionToken",
	// "roleArn", "roleExternalId" and "roleSessionName". The keys and the external ID are
	// secret.
	Credentials []optspec.Option[T]
}

// Specs declares the options whose fields in a component's T fields returns.
func Specs[T any](c Component, fields func(*T) Fields) Declarations[T] {
	str := func(f func(Fields) *string) func(*T) *string {
		return func(o *T) *string { return f(fields(o)) }
	}
	secret := func(o optspec.Option[T]) optspec.Option[T] {
		o.Secret = true
		return o
	}
	// checked declares a string option whose trimmed value must satisfy valid.
	checked := func(key, def, doc string, valid func(string) error, f func(Fields) *string) optspec.Option[T] {
		return optspec.Option[T]{Key: key, Type: "string", Default: def, Doc: doc, Set: func(o *T, v string) error {
			v = strings.TrimSpace(v)
			if err := valid(v); err != nil {
				return err
			}
			*str(f)(o) = v
			return nil
		}}
	}
	matches := func(re *regexp.Regexp, msg string) func(string) error {
		return func(v string) error {
			if !re.MatchString(v) {
				return errors.New(msg)
			}
			return nil
		}
	}
	endpoint := checked("endpoint", "the regional endpoint", c.EndpointDoc, c.validEndpoint, func(f Fields) *string { return f.Endpoint })
	endpoint.Type = "URL"
	return Declarations[T]{
		Region:   checked("region", "locally resolved region", c.RegionDoc, matches(regionRE, msgRegion), func(f Fields) *string { return f.Region }),
		Endpoint: endpoint,
		Credentials: []optspec.Option[T]{
			secret(optspec.NonEmpty("awsAccessKey", "", "AWS access key ID; without keys the default credential chain is used.", str(func(f Fields) *string { return f.AWSAccessKey }))),
			secret(optspec.NonEmpty("awsSecretKey", "", "AWS secret access key of awsAccessKey.", str(func(f Fields) *string { return f.AWSSecretKey }))),
			secret(optspec.NonEmpty("awsSessionToken", "", "Session token of temporary awsAccessKey/awsSecretKey credentials.", str(func(f Fields) *string { return f.AWSSessionToken }))),
			checked("roleArn", "", "ARN of a role to assume through STS (with the keys above, or the default chain).", matches(roleARNRE, msgRoleARN), func(f Fields) *string { return f.RoleARN }),
			secret(optspec.NonEmpty("roleExternalId", "", "External ID to pass when assuming roleArn.", str(func(f Fields) *string { return f.RoleExternalID }))),
			checked("roleSessionName", c.RoleSessionName, "Session name when assuming roleArn.", matches(sessionRE, msgSessionName), func(f Fields) *string { return f.RoleSessionName }),
		},
	}
}

// validEndpoint checks an endpoint URL: http or https, with a host and no user information.
func (c Component) validEndpoint(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be an http:// or https:// URL such as %s", c.EndpointExample)
	}
	if u.User != nil {
		return errors.New("must not hold user information")
	}
	return nil
}

// Validate checks o and returns one *optspec.Error per problem, naming component (e.g.
// "kinesis source") and the key: a malformed region, endpoint, role ARN or session name; keys
// not given in pairs; a session token without keys; role options without roleArn. Secrets are
// never quoted.
func (c Component) Validate(component string, o Options) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &optspec.Error{Component: component, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if o.Region != "" && !regionRE.MatchString(o.Region) {
		bad("region", "%q is not an AWS region such as us-east-1", o.Region)
	}
	if o.Endpoint != "" {
		if err := c.validEndpoint(o.Endpoint); err != nil {
			bad("endpoint", "%v", err)
		}
	}
	if o.AWSAccessKey != "" && o.AWSSecretKey == "" {
		bad("awsSecretKey", "required when awsAccessKey is given")
	}
	if o.AWSSecretKey != "" && o.AWSAccessKey == "" {
		bad("awsAccessKey", "required when awsSecretKey is given")
	}
	if o.AWSSessionToken != "" && (o.AWSAccessKey == "" || o.AWSSecretKey == "") {
		bad("awsSessionToken", "given without awsAccessKey and awsSecretKey")
	}
	if o.RoleARN != "" && !roleARNRE.MatchString(o.RoleARN) {
		bad("roleArn", msgRoleARN)
	}
	if o.RoleARN == "" && o.RoleExternalID != "" {
		bad("roleExternalId", "given without roleArn")
	}
	if o.RoleARN == "" && o.RoleSessionName != "" {
		bad("roleSessionName", "given without roleArn")
	}
	if o.RoleSessionName != "" && !sessionRE.MatchString(o.RoleSessionName) {
		bad("roleSessionName", msgSessionName)
	}
	return errs
}

// Given names the options of o that are set, for a component to say that a client of its own
// makes them pointless: region, endpoint, then the names in service (the component's own
// client settings that are set), then AWSConfig, the static keys as one entry, and roleArn.
func (o Options) Given(service ...string) []string {
	var given []string
	add := func(set bool, name string) {
		if set {
			given = append(given, name)
		}
	}
	add(o.Region != "", "region")
	add(o.Endpoint != "", "endpoint")
	given = append(given, service...)
	add(o.AWSConfig != nil, "AWSConfig")
	add(o.AWSAccessKey != "" || o.AWSSecretKey != "" || o.AWSSessionToken != "", "awsAccessKey/awsSecretKey/awsSessionToken")
	add(o.RoleARN != "", "roleArn")
	return given
}

// Config returns the aws.Config a service client of the component is built from: a copy of
// o.AWSConfig, else config.LoadDefaultConfig; with o.Region, if set; with static credentials
// from the keys, if given; then, if o.RoleARN is set, with credentials of that role, assumed
// through STS (signed with the credentials before it, passing o.RoleExternalID and
// o.RoleSessionName or c.RoleSessionName); and with its HTTP client wrapped in an
// awshttp.RewindableBodyClient (unless it is one already), which avoids the SDK's request-body
// race on fast endpoints. STS calls use the HTTP client as given.
//
// o.Endpoint is not applied: it is the endpoint of the component's service, which the
// component sets on its client (e.g. kinesis.Options.BaseEndpoint), with the retryer it needs.
// Errors (no region, a configuration that does not load) do not name the component; the caller
// adds it. They never hold a secret.
func (c Component) Config(ctx context.Context, o Options) (aws.Config, error) {
	var cfg aws.Config
	if o.AWSConfig != nil {
		cfg = o.AWSConfig.Copy()
	} else {
		var err error
		if cfg, err = config.LoadDefaultConfig(ctx); err != nil {
			return aws.Config{}, fmt.Errorf("load the AWS configuration: %w", err)
		}
	}
	if o.Region != "" {
		cfg.Region = o.Region
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New(`no region: set the "region" option (or AWS_REGION, or a region in the shared config file)`)
	}
	if o.AWSAccessKey != "" {
		cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(o.AWSAccessKey, o.AWSSecretKey, o.AWSSessionToken))
	}
	if o.RoleARN != "" {
		role := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), o.RoleARN, func(ro *stscreds.AssumeRoleOptions) {
			ro.RoleSessionName = o.RoleSessionName
			if ro.RoleSessionName == "" {
				ro.RoleSessionName = c.RoleSessionName
			}
			if o.RoleExternalID != "" {
				ro.ExternalID = aws.String(o.RoleExternalID)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(role)
	}
	if _, ok := cfg.HTTPClient.(*awshttp.RewindableBodyClient); !ok {
		cfg.HTTPClient = &awshttp.RewindableBodyClient{Next: cfg.HTTPClient}
	}
	return cfg, nil
}
