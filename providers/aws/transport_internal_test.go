package aws

import (
	"fmt"
	"net"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/spillway-io/spillway/providers"
)

// TestRetryerRetriesABodyReadOnAClosedConnection: the error the SDK returns
// when the connection closes under a 200 response's body is retried by the
// provider's retryer (and, once retries are spent, is a transient error),
// while a capacity error is not retried.
func TestRetryerRetriesABodyReadOnAClosedConnection(t *testing.T) {
	closedRead := &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}
	bodyErr := &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 200}},
		Err:      &smithy.DeserializationError{Err: fmt.Errorf("failed to decode response body, %w", closedRead)},
	}}
	capacity := &smithy.GenericAPIError{Code: "InsufficientInstanceCapacity", Message: "none left"}
	r := newRetryer(defaultOptions())
	if !r.IsErrorRetryable(bodyErr) {
		t.Errorf("IsErrorRetryable(%v) = false, want true", bodyErr)
	}
	if r.IsErrorRetryable(capacity) {
		t.Errorf("IsErrorRetryable(%v) = true, want false (a stock-out falls through to the next subnet)", capacity)
	}
	p := &Provider{name: "aws"}
	if err := p.classify(bodyErr, "", ""); !providers.IsTransient(err) {
		t.Errorf("classify(%v) = %T, want *providers.TransientError", bodyErr, err)
	}
}
