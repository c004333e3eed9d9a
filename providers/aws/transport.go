package aws

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/spillway-io/spillway/providers"
)

// bufferedBodyClient hands net/http a private copy of each request body.
//
// smithy-go closes the request body it passed to Do as soon as Do returns
// (response headers received), while net/http's write loop may still hold
// that body; the write loop then fails, closes the connection, and the SDK's
// read of a 200 response fails with "deserialization failed … use of closed
// network connection" (aws-sdk-go-v2 issue #2737). Against the loopback
// emulator a third of 100-instance DescribeInstances pages failed this way.
// With a copy the SDK's close cannot reach what net/http reads. EC2 Query
// request bodies are small (a few KiB; user data at most 16 KiB), so the
// copy is cheap.
type bufferedBodyClient struct {
	inner awssdk.HTTPClient
}

// Do sends r with its body replaced by an in-memory copy, unless the
// deadline of r's context has passed (providers.PastDeadline).
func (c bufferedBodyClient) Do(r *http.Request) (*http.Response, error) {
	if err := providers.PastDeadline(r.Context(), r.Method+" "+r.URL.Path+" not sent"); err != nil {
		return nil, err
	}
	if r.Body == nil || r.Body == http.NoBody {
		return c.inner.Do(r)
	}
	data, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("buffering the %s request body: %w", r.URL.Path, err)
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(data))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	r.ContentLength = int64(len(data))
	return c.inner.Do(r)
}

// newRetryer is the SDK's standard retryer as the provider configures it.
// Besides throttling, 5xx and timeouts it retries connection errors, among
// them "use of closed network connection" on a response body (the SDK's
// RetryableConnectionError), so that should the body race above ever
// recur, the attempt is repeated — RunInstances with the same client token,
// so no duplicate is launched.
func newRetryer(o Options) awssdk.Retryer {
	return retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = o.MaxAttempts
		so.MaxBackoff = o.MaxBackoff
		// Pacing already spreads calls under EC2's buckets; the SDK's
		// retry quota would turn a burst of retried throttles into
		// immediate failures instead of backed-off retries.
		so.RateLimiter = ratelimit.None
		// EC2 answers InsufficientInstanceCapacity with HTTP 500, which
		// the SDK would retry in the same subnet; a stock-out should
		// fall through to the next subnet at once instead.
		so.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(noRetryForCapacity)}, so.Retryables...)
	})
}
