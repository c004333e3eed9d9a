package alicloud

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"

	"github.com/spillway-io/spillway/providers"
)

// ctxTransport ties the SDK's HTTP requests to the caller's context. The
// alibaba-cloud-sdk-go builds its *http.Request without a context, so a
// cancelled ctx would otherwise not stop a call in flight: each call gets
// its own SDK client whose transport is a ctxTransport carrying that
// call's ctx. The request's own context (which holds the SDK's read
// timeout) is kept; the call's ctx is added to it.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

// RoundTrip sends req under the call's ctx, unless ctx's deadline has
// passed by the clock although ctx is not done yet: its timer has not
// fired, as in a process resumed after a SIGSTOP or starved on a loaded
// machine, where the goroutine sending the call runs before the timer's.
// net/http checks only that the context is done, and sent such a request:
// a leader's launch or delete, bounded by its term's end
// (scheduler.Leader), went out after its term had ended, when another
// server may act. The window left is from here to the write.
func (t *ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := providers.PastDeadline(t.ctx, req.Method+" "+req.URL.Path+" not sent"); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancelCause(req.Context())
	stop := context.AfterFunc(t.ctx, func() { cancel(context.Cause(t.ctx)) })
	release := func() { stop(); cancel(nil) }
	resp, err := t.base.RoundTrip(req.WithContext(rctx))
	if err != nil {
		release()
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// releasingBody releases the request's context once the SDK closed the body.
type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// lockedCredentials serialises a credentials provider. The SDK's default
// chain remembers which provider answered in an unguarded field, and
// signing calls GetCredentials on every request, from every goroutine.
type lockedCredentials struct {
	mu      sync.Mutex
	p       credentials.CredentialsProvider
	profile string // the provider's profile:, "" for another source
}

func (l *lockedCredentials) GetCredentials() (*credentials.Credentials, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := l.p.GetCredentials()
	if err != nil {
		return nil, &credentialsError{provider: l.p.GetProviderName(), profile: l.profile, err: err}
	}
	return c, nil
}

// credentialsError: the credentials provider (chain) found no credentials,
// so no request was sent.
type credentialsError struct {
	provider string
	profile  string
	err      error
}

func (e *credentialsError) Error() string {
	if e.profile != "" {
		return fmt.Sprintf("no Alibaba Cloud credentials from profile %q (the provider's profile:, a section of ALIBABA_CLOUD_CREDENTIALS_FILE or ~/.alibabacloud/credentials with type access_key, ram_role_arn or ecs_ram_role): %v", e.profile, e.err)
	}
	return fmt.Sprintf("no Alibaba Cloud credentials from the %s credentials provider (set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, a credentials profile, or an ECS RAM role): %v", e.provider, e.err)
}

func (e *credentialsError) Unwrap() error { return e.err }

func (l *lockedCredentials) GetProviderName() string { return l.p.GetProviderName() }
