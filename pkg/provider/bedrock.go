package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/encoding/httpbinding"
	"github.com/tidwall/sjson"

	"github.com/lynkr/lynkr/pkg/config"
	"github.com/lynkr/lynkr/pkg/llm"
	"github.com/lynkr/lynkr/pkg/llm/converse"
)

// bedrockProvider calls the Bedrock Converse API: POST /model/{modelId}/converse, or
// /converse-stream for a streamed answer, which comes back as an AWS event stream
// (DecodeStream).
type bedrockProvider struct {
	base
	url    *url.URL // the bedrock-runtime endpoint
	region string
	token  config.Secret // a Bedrock API key, sent as a bearer token
	creds  *awsCreds     // otherwise, AWS credentials for SigV4 signing
	signer *v4.Signer
	now    func() time.Time
	betas  betaFilter
}

// awsCreds holds the credential chain behind a pointer, so that no printing of the provider
// reaches the keys it caches.
type awsCreds struct {
	provider aws.CredentialsProvider
}

// staticCreds are the AWS keys given in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN, held as Secrets until a call is signed.
type staticCreds struct {
	id              string // the access key id, which every signature carries in the clear
	secret, session config.Secret
}

// Retrieve reveals the keys, for the signer.
func (s staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{
		AccessKeyID:     s.id,
		SecretAccessKey: s.secret.Reveal(),
		SessionToken:    s.session.Reveal(),
		Source:          credentials.StaticCredentialsName,
	}, nil
}

// NewRequest takes the model id out of the body (see converse.SplitModelID) into the URL; a
// body naming none calls the default model. The client's anthropic-beta flags that Bedrock
// takes go into additionalModelRequestFields.anthropic_beta, for Claude models only.
func (p *bedrockProvider) NewRequest(ctx context.Context, body []byte, stream bool, clientHeader http.Header) (*http.Request, error) {
	id, rest, err := converse.SplitModelID(body)
	if err != nil {
		return nil, fmt.Errorf("bedrock: %w", err)
	}
	if id == "" {
		id = p.models.def
	}
	if betas := p.betas.betas(clientHeader); len(betas) > 0 && converse.IsAnthropicModel(id) {
		if rest, err = sjson.SetBytes(rest, "additionalModelRequestFields.anthropic_beta", betas); err != nil {
			return nil, fmt.Errorf("bedrock: %w: %w", llm.ErrInvalid, err)
		}
	}
	op, accept := "converse", contentJSON
	if stream {
		op, accept = "converse-stream", contentAWSStream
	}
	u := *p.url
	// The model id is one path segment, escaped as the AWS SDK escapes it (: and / too): a
	// SigV4 signature covers the escaped path.
	u.Path = strings.TrimSuffix(p.url.Path, "/") + "/model/" + id + "/" + op
	u.RawPath = strings.TrimSuffix(p.url.EscapedPath(), "/") + "/model/" + httpbinding.EscapePath(id, true) + "/" + op
	req, err := newCall(ctx, p.name, u.String(), rest, newHeader(accept))
	if err != nil {
		return nil, err
	}
	if !p.token.IsZero() {
		bearer(p.token).apply(req.Header)
		return req, nil
	}
	creds, err := p.creds.provider.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("bedrock: AWS credentials: %w", err)
	}
	sum := sha256.Sum256(rest)
	if err := p.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "bedrock", p.region, p.now()); err != nil {
		return nil, fmt.Errorf("bedrock: signing: %w", err)
	}
	return req, nil
}

// credentialCheckTimeout bounds the look for AWS credentials at start-up (the chain may ask
// the EC2 instance metadata service, which is not there on a laptop).
const credentialCheckTimeout = 5 * time.Second

// buildBedrock: AWS_BEDROCK_API_KEY (or AWS's own AWS_BEARER_TOKEN_BEDROCK), a Bedrock API key
// sent as a bearer token; without one, AWS credentials signed with SigV4: AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or else the standard AWS chain (AWS_PROFILE,
// shared config and credentials files, SSO, web identity, container and instance roles).
// AWS_BEDROCK_REGION, else AWS_REGION, else us-east-1. AWS_BEDROCK_MODEL_ID (default
// anthropic.claude-3-5-sonnet-20241022-v2:0). AWS_ENDPOINT_URL_BEDROCK_RUNTIME, else
// AWS_ENDPOINT_URL, replaces https://bedrock-runtime.<region>.amazonaws.com (VPC endpoints,
// proxies).
//
// The chain is the AWS SDK's own, which reads the process environment and files itself, not
// through Load's lookup; it is consulted only when no key is given through lookup. When
// bedrock is chosen (MODEL_PROVIDER or FALLBACK_PROVIDER) without a key, start-up checks that
// the chain yields credentials.
func buildBedrock(e env, c choice) (Provider, error) {
	region := e.first("AWS_BEDROCK_REGION", "AWS_REGION")
	if region == "" {
		region = "us-east-1"
	}
	if !validRegion(region) {
		return nil, invalid("AWS_BEDROCK_REGION", fmt.Sprintf("expected an AWS region such as us-east-1, got %q", region))
	}
	endpointVar, rawURL := "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", e.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
	if rawURL == "" {
		endpointVar, rawURL = "AWS_ENDPOINT_URL", e.get("AWS_ENDPOINT_URL")
	}
	if rawURL == "" {
		rawURL = "https://bedrock-runtime." + region + ".amazonaws.com"
	}
	u, err := parseHTTPURL(endpointVar, rawURL, "https://bedrock-runtime."+region+".amazonaws.com")
	if err != nil {
		return nil, err
	}
	m, err := e.models(c, "AWS_BEDROCK", e.or("AWS_BEDROCK_MODEL_ID", "anthropic.claude-3-5-sonnet-20241022-v2:0"), isBedrockID)
	if err != nil {
		return nil, err
	}
	p := &bedrockProvider{
		base:   base{name: "bedrock", format: llm.FormatConverse, models: m, endpoint: config.RedactURL(u.String())},
		url:    u,
		region: region,
		signer: v4.NewSigner(),
		now:    time.Now,
		betas:  betaPolicy("bedrock"),
	}
	for _, name := range []string{"AWS_BEDROCK_API_KEY", "AWS_BEARER_TOKEN_BEDROCK"} {
		if key := e.optionalSecret(name); !key.IsZero() {
			p.token = key
			return p, nil
		}
	}
	if p.creds, err = awsCredentials(e, c, region); err != nil {
		return nil, err
	}
	return p, nil
}

func awsCredentials(e env, c choice, region string) (*awsCreds, error) {
	id, secret := e.get("AWS_ACCESS_KEY_ID"), e.optionalSecret("AWS_SECRET_ACCESS_KEY")
	switch {
	case id != "" && !secret.IsZero():
		return &awsCreds{provider: staticCreds{id: id, secret: secret, session: e.optionalSecret("AWS_SESSION_TOKEN")}}, nil
	case id != "":
		return nil, required("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID is set")
	case !secret.IsZero():
		return nil, required("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY is set")
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(region)}
	if profile := e.get("AWS_PROFILE"); profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(profile))
	}
	ctx, cancel := context.WithTimeout(context.Background(), credentialCheckTimeout)
	defer cancel()
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, invalid("AWS_PROFILE", "loading the AWS configuration: "+oneLine(err))
	}
	if cfg.Credentials == nil {
		return nil, required("AWS_BEDROCK_API_KEY", c.why+" and no AWS credentials are configured")
	}
	if c.chosen {
		if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			return nil, required("AWS_BEDROCK_API_KEY", c.why+" and the AWS credential chain has none ("+oneLine(err)+")")
		}
	}
	return &awsCreds{provider: cfg.Credentials}, nil
}

func validRegion(r string) bool {
	for _, c := range r {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return r != ""
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
