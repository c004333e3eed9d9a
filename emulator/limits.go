package emulator

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Bounds on what one request may carry and on the emulator's settings. A
// request beyond them is refused with an error in the API's own vocabulary
// before any of it is remembered, so no input can grow the emulator's
// memory, hold a connection or a handler for long, or crash it.
const (
	// MaxRequestBytes bounds a request body (form-encoded parameters). The
	// largest legitimate request, TerminateInstances with 1000 ids, is
	// about 40 KiB.
	MaxRequestBytes = 1 << 20
	// MaxHeaderBytes bounds the request line and headers, the query string
	// of a GET included.
	MaxHeaderBytes = 1 << 20
	// MaxParams bounds the number of distinct parameter names in one call.
	MaxParams = 4096
	// MaxListIndex bounds the N of an EC2 list parameter (InstanceId.N,
	// Filter.N.Value.M): a list no call could fill has no use for more.
	MaxListIndex = MaxParams
	// MaxEC2LaunchCount is the most instances one EC2 RunInstances call
	// creates: the emulated account's instance quota per launch. A larger
	// MaxCount launches this many (EC2 launches "the largest possible
	// number"); a larger MinCount fails with InstanceLimitExceeded.
	MaxEC2LaunchCount = 5000
	// MaxInstances bounds the instances the emulator keeps per API (each
	// takes one to two KiB). Terminated instances are forgotten, oldest
	// launch first, to make room for a launch; a launch that would need
	// more than MaxInstances instances not yet terminated fails with the
	// API's own quota error, InstanceLimitExceeded (EC2) or
	// QuotaExceed.ElasticQuota (ECS), whose message names this bound.
	MaxInstances = 100_000
	// MaxInstanceBytes bounds what the instances kept per API carry
	// besides their one to two KiB: user data, tags, names. A launch
	// carries up to about 90 KiB of them (16 KiB of EC2 user data, 50
	// tags of 384 characters), which each of its instances keeps, so
	// MaxInstances one-instance launches could hold 9 GiB. Terminated
	// instances are forgotten to make room, as for MaxInstances, and a
	// launch past it fails with the same quota error, naming this bound.
	MaxInstanceBytes = 256 << 20
	// MaxLargeAnswers bounds how many EC2 Describe answers of more than
	// LargeAnswerItems items (unpaginated calls: EC2 answers them whole)
	// are built and sent at once. One over MaxInstances instances takes
	// about 440 MB while it is built and sent; a call past the bound is
	// answered RequestLimitExceeded (503), as EC2 throttles unpaginated
	// calls over many resources, and the SDKs retry it.
	MaxLargeAnswers  = 2
	LargeAnswerItems = 1000
	// MaxEC2Filters and MaxEC2FilterValues bound a Describe call's
	// Filter.N and the values of all its filters together (EC2 answers
	// FilterLimitExceeded beyond them).
	MaxEC2Filters      = 50
	MaxEC2FilterValues = 200
	// MaxEC2FilterValueLen bounds one filter value, in bytes. EC2 documents
	// no limit, but what filters test is short (a tag value is at most 256
	// characters), so a longer value could only add stars.
	MaxEC2FilterValueLen = 1024
	// MaxTagSpecifications bounds TagSpecification.N of RunInstances (one
	// per resource type: instance, volume, network interface, …).
	MaxTagSpecifications = 10
	// MaxStallCount bounds how many calls one POST /_emulator/stall
	// stalls.
	MaxStallCount = 10_000
	// MaxSettingDuration bounds the latency, boot delay, stall and
	// interruption notice the flags and the control API accept.
	MaxSettingDuration = 24 * time.Hour
	// DefaultReadTimeout is how long Serve waits for a request's headers
	// and body; DefaultIdleTimeout how long it keeps an idle keep-alive
	// connection. Options.ReadTimeout and IdleTimeout override them.
	DefaultReadTimeout = 10 * time.Second
	DefaultIdleTimeout = 60 * time.Second
	// maxEcho bounds how much of a bad value an error message quotes back.
	maxEcho = 128
	// maxInstanceTypeLen bounds an instance type name.
	maxInstanceTypeLen = 64
	// maxEC2TagKeyLen and maxEC2TagValueLen are EC2's limits on a tag, in
	// characters; maxECSNameLen is ECS's on a tag value and an
	// InstanceName, maxECSHostNameLen on a HostName (a Windows one is
	// shorter still).
	maxEC2TagKeyLen   = 128
	maxEC2TagValueLen = 256
	maxECSNameLen     = 128
	maxECSHostNameLen = 64
	// maxRegionLen bounds a region name (the longest real ones, such as
	// ap-southeast-5 or us-gov-west-1, are under 20 characters).
	maxRegionLen = 32
	// MaxRegions bounds the regions of one API the emulator serves, more
	// than either cloud has (about 35 EC2 and 30 ECS regions): each names
	// throttling buckets, quotas and stock, so a client naming a new
	// region in every call would otherwise grow the emulator's memory
	// without bound. The first MaxRegions regions named (in calls, quotas
	// and the --vcpu-quota flag) are served; a call naming another is
	// refused as the clouds refuse a region they do not have: EC2's
	// AuthFailure, ECS's InvalidRegionId.NotFound.
	MaxRegions = 64
	// MaxOfferSettings bounds the stock and not-sold settings the control
	// API keeps (one per instance type and zone each).
	MaxOfferSettings = 10_000
)

// regionName is the shape of an EC2 or ECS region: us-east-1, us-gov-west-1,
// cn-hangzhou, ap-southeast-1.
var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+){1,4}$`)

// validRegion reports whether s can name a region. The emulator serves any
// well-formed region, but a region names throttling buckets and account
// quotas, so its length and alphabet are bounded.
func validRegion(s string) bool {
	return len(s) <= maxRegionLen && regionName.MatchString(s)
}

// serveRegion reports whether the emulator serves region in api, making it
// one of the regions served while fewer than MaxRegions are; with the
// regions served when it does not.
func (e *Emulator) serveRegion(api, region string) (bool, []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.serveRegionLocked(api, region)
}

func (e *Emulator) serveRegionLocked(api, region string) (bool, []string) {
	served := e.regions[api]
	if served[region] {
		return true, nil
	}
	if len(served) >= MaxRegions {
		return false, sortedKeys(served)
	}
	if served == nil {
		served = map[string]bool{}
		e.regions[api] = served
	}
	served[region] = true
	return true, nil
}

// regionsFull is the end of the message refusing a region past MaxRegions.
func regionsFull(served []string) string {
	list := strings.Join(served, ", ")
	return fmt.Sprintf("the emulator serves at most %d regions, and serves %s", MaxRegions, echo(list))
}

// echo returns s for quoting in an error message, cut to maxEcho bytes.
func echo(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	return s[:maxEcho] + fmt.Sprintf("…(%d bytes)", len(s))
}

// parseForm reads the query string and a form body of at most
// MaxRequestBytes, and refuses more than MaxParams parameter names. The
// error is an apiError with a 400 or 413 status; code names the API's
// malformed-request error.
func parseForm(w http.ResponseWriter, r *http.Request, code string) *apiError {
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
	}
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request body is larger than %d bytes.", MaxRequestBytes)
		}
		return errorf(http.StatusBadRequest, code, "The request body or query string could not be parsed: %v.", err)
	}
	if len(r.Form) > MaxParams {
		return errorf(http.StatusBadRequest, code, "The request has %d parameters; at most %d are accepted.", len(r.Form), MaxParams)
	}
	return nil
}

// parseCount parses an API integer parameter (a 32-bit integer in both
// APIs' models) and checks it lies in [lo, hi].
func parseCount(s string, lo, hi int) (int, bool) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < int64(lo) || n > int64(hi) {
		return 0, false
	}
	return int(n), true
}

// parseFinitePositive parses a price or rate: a finite number above 0 and
// at most max.
func parseFinitePositive(s string, max float64) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f > max {
		return 0, false
	}
	return f, true
}

// CheckSetting checks a duration setting (latency, boot delay, stall,
// interruption notice) lies in [0, MaxSettingDuration]. name is the flag or
// field the value came from; the error names it, the value and the range.
func CheckSetting(name string, d time.Duration) error {
	if d < 0 || d > MaxSettingDuration {
		return fmt.Errorf("%s %v is out of range: want a duration from 0s to %v", name, d, MaxSettingDuration)
	}
	return nil
}

// CheckFaultRate checks a fault rate is a fraction from 0 to 1.
func CheckFaultRate(name string, r float64) error {
	if math.IsNaN(r) || r < 0 || r > 1 {
		return fmt.Errorf("%s %v is out of range: want a fraction from 0 to 1", name, r)
	}
	return nil
}

// zoneName is the shape of a zone: a region and a letter (us-east-1a,
// cn-hangzhou-h).
var zoneName = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+){1,5}$`)

// checkOffer checks the instance type and zone of a stock setting ("" is
// allowed for either: every type of a zone, or every zone of a type).
// Settings are remembered per type and zone, so both are bounded.
func checkOffer(instanceType, zone string) error {
	if instanceType != "" && (len(instanceType) > maxInstanceTypeLen || !instanceTypeFmt.MatchString(instanceType) && !ecsInstanceType.MatchString(instanceType)) {
		return fmt.Errorf("instance type %q: want a name such as p4d.24xlarge or ecs.gn7i-c8g1.2xlarge (lower-case, at most %d characters)", echo(instanceType), maxInstanceTypeLen)
	}
	if zone != "" && (len(zone) > maxRegionLen+2 || !zoneName.MatchString(zone)) {
		return fmt.Errorf("zone %q: want a zone such as us-east-1a or cn-hangzhou-h (at most %d characters)", echo(zone), maxRegionLen+2)
	}
	return nil
}
