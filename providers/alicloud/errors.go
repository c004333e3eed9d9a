package alicloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"

	"github.com/spillway-io/spillway/providers"
)

// apiError is an ECS error answer in one line: the action, the ECS error
// code, the HTTP status, the request id and ECS's message. It wraps the
// SDK's *errors.ServerError, whose own text spans several lines and
// carries every response header.
type apiError struct {
	Action    string
	Code      string
	Status    int
	RequestID string
	Message   string
	err       *sdkerrors.ServerError
}

func (e *apiError) Error() string {
	return fmt.Sprintf("ECS %s answered %s (HTTP %d, request %s): %s", e.Action, e.Code, e.Status, e.RequestID, e.Message)
}

func (e *apiError) Unwrap() error { return e.err }

// errorKind is what the scheduler should do about an ECS error.
type errorKind int

const (
	kindTransient errorKind = iota
	kindCapacity
	kindQuota
	kindThrottled
	kindInvalid
	kindNotFound
)

// capacityCodes are ECS's stock-out answers: this instance type is not
// available in this zone now, another zone or offering may be.
var capacityCodes = map[string]bool{
	"OperationDenied.NoStock":              true,
	"OperationDenied.NoSpotStock":          true,
	"Zone.NotOnSale":                       true,
	"InvalidInstanceType.ZoneNotSupported": true,
	"InvalidResourceType.NotSupported":     true,
	// The vSwitch has no free private address left: another vSwitch may.
	"InvalidVSwitchId.IpNotEnough": true,
}

// codeTimeStampExpired is ECS's answer (HTTP 400) to a request whose
// Timestamp is more than 15 minutes off its clock: this machine's clock is
// wrong (the SDK signs with it and does not correct it).
const codeTimeStampExpired = "InvalidTimeStamp.Expired"

// invalidCodes are exact codes that mean a config or credential problem.
var invalidCodes = map[string]bool{
	"IdempotentParameterMismatch":      true,
	"MissingParameter":                 true,
	"SignatureDoesNotMatch":            true,
	codeTimeStampExpired:               true,
	"IncompleteSignature":              true,
	"InvalidImageId.NotFound":          true,
	"InvalidVSwitchId.NotFound":        true,
	"InvalidSecurityGroupId.NotFound":  true,
	"InvalidLaunchTemplate.NotFound":   true,
	"InvalidRegionId.NotFound":         true,
	"InvalidInstanceType.NotSupported": true,
}

// invalidPrefixes are code families that mean a config or credential problem.
var invalidPrefixes = []string{"InvalidParameter", "Forbidden", "InvalidAccessKeyId", "InvalidAccessKeySecret"}

// kindOf classifies an ECS error code and HTTP status. Only the code is
// read, never the message text.
func kindOf(code string, status int) errorKind {
	switch {
	case capacityCodes[code]:
		return kindCapacity
	case code == "InvalidInstanceId.NotFound":
		return kindNotFound
	case strings.HasPrefix(code, "QuotaExceed.") || strings.HasPrefix(code, "QuotaExceeded.") ||
		code == "QuotaExceed" || code == "QuotaExceeded":
		return kindQuota
	case strings.HasPrefix(code, "Throttling"):
		return kindThrottled
	case invalidCodes[code]:
		return kindInvalid
	}
	for _, p := range invalidPrefixes {
		if strings.HasPrefix(code, p) {
			return kindInvalid
		}
	}
	switch {
	case status >= 500:
		return kindTransient
	case status == http.StatusTooManyRequests:
		return kindThrottled
	case status >= 400:
		// An unknown 4xx is a request ECS will refuse again unchanged.
		return kindInvalid
	}
	return kindTransient
}

// asAPIError turns an SDK error into an *apiError when it is an ECS
// answer; other errors (network, timeouts) come back unchanged.
func asAPIError(action string, err error) error {
	var se *sdkerrors.ServerError
	if errors.As(err, &se) {
		return &apiError{Action: action, Code: se.ErrorCode(), Status: se.HttpStatus(), RequestID: se.RequestId(), Message: se.Message(), err: se}
	}
	return err
}

// classifyKind reports how err should be handled and the code to report.
func classifyKind(err error) (errorKind, string) {
	var ae *apiError
	if errors.As(err, &ae) {
		return kindOf(ae.Code, ae.Status), ae.Code
	}
	var ce *credentialsError
	if errors.As(err, &ce) {
		return kindInvalid, "CredentialsUnavailable"
	}
	var se sdkerrors.Error
	if errors.As(err, &se) {
		// Client-side SDK errors: timeouts, unreadable answers, bad params.
		switch se.ErrorCode() {
		case sdkerrors.TimeoutErrorCode, sdkerrors.JsonUnmarshalErrorCode:
			return kindTransient, se.ErrorCode()
		case sdkerrors.UnsupportedCredentialErrorCode, sdkerrors.MissingParamErrorCode, sdkerrors.InvalidParamErrorCode, sdkerrors.CanNotResolveEndpointErrorCode:
			return kindInvalid, se.ErrorCode()
		}
		return kindTransient, se.ErrorCode()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return kindTransient, "RequestTimeout"
	}
	return kindTransient, "NetworkError"
}

// errContext is where a failed call was aimed, for the typed error.
type errContext struct {
	provider, region, zone, instanceType string
	ids                                  []string
}

// classify wraps err in the providers error the scheduler acts on.
func classify(ec errContext, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	kind, code := classifyKind(err)
	switch kind {
	case kindCapacity:
		return &providers.CapacityError{Provider: ec.provider, Region: ec.region, Zone: ec.zone, InstanceType: ec.instanceType, Code: code, Err: err}
	case kindQuota:
		return &providers.QuotaError{Provider: ec.provider, Region: ec.region, Code: code, Err: err}
	case kindThrottled:
		return &providers.ThrottledError{Provider: ec.provider, Code: code, Err: err}
	case kindInvalid:
		if code == codeTimeStampExpired {
			err = fmt.Errorf("%w: %w", providers.ErrClockSkew, err)
		}
		return &providers.InvalidError{Provider: ec.provider, Code: code, Err: err}
	case kindNotFound:
		return &providers.NotFoundError{Provider: ec.provider, IDs: ec.ids, Err: err}
	}
	return &providers.TransientError{Provider: ec.provider, Code: code, Err: err}
}

// retryable reports whether the same call may succeed if simply repeated.
func retryable(err error) bool {
	kind, _ := classifyKind(err)
	return kind == kindThrottled || kind == kindTransient
}
