package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/spillway-io/spillway/providers"
)

// capacityCodes are EC2's errors for "this offering has no stock here now":
// the next subnet or zone (or a later try) may succeed.
var capacityCodes = map[string]bool{
	"InsufficientInstanceCapacity":         true,
	"InsufficientHostCapacity":             true,
	"InsufficientReservedInstanceCapacity": true,
	"InsufficientCapacity":                 true,
	"InsufficientCapacityOnHost":           true,
	"InsufficientCapacityOnOutpost":        true,
	"InsufficientFreeAddressesInSubnet":    true,
	"Unsupported":                          true, // the type is not offered in this zone
	"MaxSpotInstanceCountExceeded":         true,
	"SpotMaxPriceTooLow":                   true,
	"UnfulfillableCapacity":                true,
}

// quotaCodes are account limits: retrying elsewhere in the region will not
// help until instances end or the limit is raised.
var quotaCodes = map[string]bool{
	"InstanceLimitExceeded":         true,
	"VcpuLimitExceeded":             true,
	"ResourceLimitExceeded":         true,
	"VolumeLimitExceeded":           true,
	"MaxIOPSLimitExceeded":          true,
	"NetworkInterfaceLimitExceeded": true,
	"AddressLimitExceeded":          true,
	"PendingVerification":           true, // a new account's region is not enabled yet
}

// notFoundCodes mean the instance id names nothing that exists.
var notFoundCodes = map[string]bool{
	"InvalidInstanceID.NotFound":  true,
	"InvalidInstanceID.Malformed": true,
}

// invalidCodes are requests EC2 will refuse however often they are sent:
// configuration, parameter and credential problems. Unlisted 4xx codes are
// treated the same way.
var invalidCodes = map[string]bool{
	"IdempotentParameterMismatch":        true,
	"AuthFailure":                        true,
	"UnauthorizedOperation":              true,
	"InvalidClientTokenId":               true,
	"SignatureDoesNotMatch":              true,
	"MissingAuthenticationToken":         true,
	"OptInRequired":                      true,
	"Blocked":                            true,
	"InvalidParameterValue":              true,
	"InvalidParameterCombination":        true,
	"InvalidParameter":                   true,
	"MissingParameter":                   true,
	"UnknownParameter":                   true,
	"InvalidAMIID.NotFound":              true,
	"InvalidAMIID.Malformed":             true,
	"InvalidSubnetID.NotFound":           true,
	"InvalidGroup.NotFound":              true,
	"InvalidLaunchTemplateId.NotFound":   true,
	"InvalidLaunchTemplateName.NotFound": true,
	"InvalidLaunchTemplateId.Malformed":  true,
	"InvalidUserData.Malformed":          true,
	"InvalidKeyPair.NotFound":            true,
	"DryRunOperation":                    true,
}

// clockSkewCodes are EC2's answers to a request signed with a clock more
// than 15 minutes off (the SDK corrects its signing time from EC2's Date
// header and retries once it has seen the skew; these reach Spillway when
// that did not help).
var clockSkewCodes = map[string]bool{
	"RequestExpired":       true,
	"RequestInTheFuture":   true,
	"RequestTimeTooSkewed": true,
}

// classify maps an SDK error to the providers taxonomy by the API error
// code (never by message). zone and instanceType describe the launch
// attempt, when there was one.
func (p *Provider) classify(err error, zone, instanceType string) error {
	if err == nil {
		return nil
	}
	var ce *credentialsError
	if errors.As(err, &ce) {
		// No request was sent: retrying finds no credentials either.
		return &providers.InvalidError{Provider: p.name, Code: "CredentialsUnavailable", Err: err}
	}
	ae, ok := apiError(err)
	if !ok {
		// No answer from EC2: connection refused or reset, an attempt timed
		// out after every retry, or the caller's context ended.
		return &providers.TransientError{Provider: p.name, Code: "RequestFailed", Err: err}
	}
	code := ae.ErrorCode()
	switch {
	case capacityCodes[code]:
		return &providers.CapacityError{Provider: p.name, Region: p.cfg.Region, Zone: zone, InstanceType: instanceType, Code: code, Err: err}
	case quotaCodes[code]:
		return &providers.QuotaError{Provider: p.name, Region: p.cfg.Region, Code: code, Err: err}
	case isThrottle(code):
		return &providers.ThrottledError{Provider: p.name, Code: code, RetryAfter: p.opts.ThrottleRetryAfter, Err: err}
	case notFoundCodes[code]:
		return &providers.NotFoundError{Provider: p.name, Err: err}
	case clockSkewCodes[code]:
		return &providers.InvalidError{Provider: p.name, Code: code, Err: fmt.Errorf("%w: %w", providers.ErrClockSkew, err)}
	case invalidCodes[code], strings.HasPrefix(code, "Invalid"):
		return &providers.InvalidError{Provider: p.name, Code: code, Err: err}
	}
	if status := httpStatus(err); status >= 400 && status < 500 {
		return &providers.InvalidError{Provider: p.name, Code: code, Err: err}
	}
	// 5xx (InternalError, Unavailable, ServiceUnavailable) and anything
	// unrecognised: it may succeed later.
	return &providers.TransientError{Provider: p.name, Code: code, Err: err}
}

// noRetryForCapacity tells the SDK's retryer not to retry capacity and
// quota errors (some arrive as HTTP 500), leaving every other error to the
// standard checks.
func noRetryForCapacity(err error) awssdk.Ternary {
	if ae, ok := apiError(err); ok && (capacityCodes[ae.ErrorCode()] || quotaCodes[ae.ErrorCode()]) {
		return awssdk.FalseTernary
	}
	return awssdk.UnknownTernary
}

func isThrottle(code string) bool {
	_, ok := retry.DefaultThrottleErrorCodes[code]
	return ok
}

func apiError(err error) (smithy.APIError, bool) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae, true
	}
	return nil, false
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// credentialsGuard marks a failure to find credentials (the standard chain
// found none: no environment variables, profile, SSO, web identity or
// instance role) as a credentialsError, which classify reports as invalid
// with what to set; the SDK's own error is about the last link it tried
// (usually the EC2 instance metadata service) and classified as a network
// failure, retried every tick.
type credentialsGuard struct {
	inner   awssdk.CredentialsProvider
	profile string // the provider's profile:, "" for the standard chain
}

func (g credentialsGuard) Retrieve(ctx context.Context) (awssdk.Credentials, error) {
	c, err := g.inner.Retrieve(ctx)
	if err != nil && ctx.Err() == nil {
		return c, &credentialsError{err: err, profile: g.profile}
	}
	return c, err
}

// credentialsError: no AWS credentials were found, so no request was sent.
type credentialsError struct {
	err     error
	profile string
}

func (e *credentialsError) Error() string {
	if e.profile != "" {
		return fmt.Sprintf("no AWS credentials from profile %q (the provider's profile:; its keys, role or SSO in the shared config and credentials files, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE): %v", e.profile, e.err)
	}
	return fmt.Sprintf("no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE for a shared config profile, or the provider's profile:, or run where an instance role, SSO or web identity provides them): %v", e.err)
}

func (e *credentialsError) Unwrap() error { return e.err }
