package emulator

import (
	"net/http"
	"time"
)

// MaxRequestSkew is how far a request's signing time may be from the
// cloud's clock, either way. EC2 answers RequestExpired to a request that
// reaches it more than 15 minutes after the date stamp it was signed with,
// or whose date stamp is more than 15 minutes in the future (the EC2 API
// reference, common errors); ECS answers InvalidTimeStamp.Expired to a
// Timestamp more than 15 minutes off (Alibaba Cloud's request signing:
// the time must be within 15 minutes of the request).
const MaxRequestSkew = 15 * time.Minute

// requestNow is the cloud's clock against which signing times are checked.
func (e *Emulator) requestNow() time.Time { return e.requestClock() }

// skewed reports whether a request signed at signed is refused at now.
func skewed(signed, now time.Time) bool {
	d := now.Sub(signed)
	return d > MaxRequestSkew || d < -MaxRequestSkew
}

// checkEC2Date refuses a request whose SigV4 date (the X-Amz-Date header,
// or the parameter of a presigned query) is malformed or more than
// MaxRequestSkew off the cloud's clock. A request without one is not
// refused: signatures are not checked.
func (e *Emulator) checkEC2Date(r *http.Request, p map[string][]string) *apiError {
	stamp := r.Header.Get("X-Amz-Date")
	if stamp == "" && len(p["X-Amz-Date"]) > 0 {
		stamp = p["X-Amz-Date"][0]
	}
	if stamp == "" {
		return nil
	}
	signed, err := time.Parse("20060102T150405Z", stamp)
	if err != nil {
		return errorf(http.StatusBadRequest, "IncompleteSignature", "Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", echo(stamp))
	}
	if now := e.requestNow(); skewed(signed, now) {
		return errorf(http.StatusBadRequest, "RequestExpired", "Request has expired. Signed at %s, the service's time is %s: more than %s apart.",
			signed.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), MaxRequestSkew)
	}
	return nil
}

// checkECSTimestamp refuses a request whose Timestamp is malformed or more
// than MaxRequestSkew off the cloud's clock. A request without one is not
// refused: signatures are not checked.
func (e *Emulator) checkECSTimestamp(stamp string) *apiError {
	if stamp == "" {
		return nil
	}
	signed, err := time.Parse("2006-01-02T15:04:05Z", stamp)
	if err != nil {
		return errorf(http.StatusBadRequest, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted: %q (want UTC yyyy-MM-ddTHH:mm:ssZ).", echo(stamp))
	}
	if now := e.requestNow(); skewed(signed, now) {
		return errorf(http.StatusBadRequest, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired: %s, the service's time is %s, more than %s apart.",
			signed.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), MaxRequestSkew)
	}
	return nil
}
