package providers

import (
	"errors"
	"fmt"
	"time"
)

// ErrClockSkew is wrapped by the *InvalidError of a call the cloud refused
// because of the request's timestamp (EC2 RequestExpired, ECS
// InvalidTimeStamp.Expired): both clouds sign every request with the
// caller's clock and refuse one more than 15 minutes off theirs. No config
// or credential change helps, and the clouds' own messages do not say so.
var ErrClockSkew = errors.New("the cloud refused the request's timestamp: this machine's clock is more than 15 minutes off the cloud's; set it right (compare `date -u` with a time server; run NTP: chrony or systemd-timesyncd)")

// CapacityError: this offering in this zone is out of stock; try the next.
type CapacityError struct {
	Provider, Region, Zone, InstanceType string
	Code                                 string // the cloud's error code
	Err                                  error
}

func (e *CapacityError) Error() string {
	return fmt.Sprintf("%s: no capacity for %s in %s (%s): %v", e.Provider, e.InstanceType, firstNonEmpty(e.Zone, e.Region), e.Code, e.Err)
}
func (e *CapacityError) Unwrap() error { return e.Err }

// QuotaError: an account limit was hit; block the region or provider.
type QuotaError struct {
	Provider, Region string
	Code             string
	Err              error
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("%s: quota exceeded in %s (%s): %v", e.Provider, e.Region, e.Code, e.Err)
}
func (e *QuotaError) Unwrap() error { return e.Err }

// ThrottledError: the API refused the call for rate; retry after RetryAfter.
type ThrottledError struct {
	Provider   string
	Code       string
	RetryAfter time.Duration
	Err        error
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%s: throttled (%s): %v", e.Provider, e.Code, e.Err)
}
func (e *ThrottledError) Unwrap() error { return e.Err }

// NotFoundError: the instance does not exist (terminate treats it as done).
type NotFoundError struct {
	Provider string
	IDs      []string
	Err      error
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s: instances not found %v: %v", e.Provider, e.IDs, e.Err)
}
func (e *NotFoundError) Unwrap() error { return e.Err }

// InvalidError: bad parameters or credentials — a config problem; stop and say so.
type InvalidError struct {
	Provider string
	Code     string
	Err      error
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("%s: invalid request (%s): %v", e.Provider, e.Code, e.Err)
}
func (e *InvalidError) Unwrap() error { return e.Err }

// TransientError: anything else that may succeed if retried.
type TransientError struct {
	Provider string
	Code     string
	Err      error
}

func (e *TransientError) Error() string {
	return fmt.Sprintf("%s: transient error (%s): %v", e.Provider, e.Code, e.Err)
}
func (e *TransientError) Unwrap() error { return e.Err }

// TerminateError: Terminate ended some of the instances it was asked to
// end but not all. Ended lists the ids it ended (or found already gone),
// Failed those it did not (failed or not tried), so the caller records
// the first as ending and asks again for the rest. Err is why the rest
// failed, itself one of the typed errors above.
type TerminateError struct {
	Provider      string
	Ended, Failed []string
	Err           error
}

func (e *TerminateError) Error() string {
	return fmt.Sprintf("%s: %d of %d instances not terminated %v: %v", e.Provider, len(e.Failed), len(e.Ended)+len(e.Failed), e.Failed, e.Err)
}
func (e *TerminateError) Unwrap() error { return e.Err }

// Ended returns, of ids, those that a Terminate(ctx, ids) which returned
// err ended: every id when err is nil, those listed in a *TerminateError,
// and none for any other error.
func Ended(ids []string, err error) []string {
	if err == nil {
		return ids
	}
	var te *TerminateError
	if !errors.As(err, &te) {
		return nil
	}
	ended := make(map[string]bool, len(te.Ended))
	for _, id := range te.Ended {
		ended[id] = true
	}
	var out []string
	for _, id := range ids {
		if ended[id] {
			out = append(out, id)
		}
	}
	return out
}

// IsCapacity reports whether err is or wraps a *CapacityError.
func IsCapacity(err error) bool { var e *CapacityError; return errors.As(err, &e) }

// IsQuota reports whether err is or wraps a *QuotaError.
func IsQuota(err error) bool { var e *QuotaError; return errors.As(err, &e) }

// IsThrottled reports whether err is or wraps a *ThrottledError.
func IsThrottled(err error) bool { var e *ThrottledError; return errors.As(err, &e) }

// IsNotFound reports whether err is or wraps a *NotFoundError.
func IsNotFound(err error) bool { var e *NotFoundError; return errors.As(err, &e) }

// IsInvalid reports whether err is or wraps a *InvalidError.
func IsInvalid(err error) bool { var e *InvalidError; return errors.As(err, &e) }

// IsTransient reports whether err is or wraps a *TransientError.
func IsTransient(err error) bool { var e *TransientError; return errors.As(err, &e) }

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
