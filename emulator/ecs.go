package emulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ECSVersion is the ECS API version the emulator speaks.
const ECSVersion = "2014-05-26"

// ECSHandler serves the Alibaba Cloud ECS RPC API (Action, Version and
// parameters in the query string or a form body; JSON responses whatever
// Format says) and the /_emulator/ control API. Signatures are not checked:
// any AccessKey is accepted.
func (e *Emulator) ECSHandler() http.Handler {
	return e.serveControlOr(http.HandlerFunc(e.serveECS))
}

// ecsCall is one parsed ECS request.
type ecsCall struct {
	action, region, requestID string
	p                         url.Values
}

type ecsAction struct {
	run    func(e *Emulator, c *ecsCall) (any, *apiError)
	bucket BucketSpec
}

var ecsActions = map[string]ecsAction{
	"RunInstances":      {run: (*Emulator).ecsRunInstances, bucket: ECSRunInstancesBucket},
	"DescribeInstances": {run: (*Emulator).ecsDescribeInstances, bucket: ECSDescribeInstancesBucket},
	"DeleteInstances":   {run: (*Emulator).ecsDeleteInstances, bucket: ECSDeleteInstancesBucket},
	"StopInstances":     {run: (*Emulator).ecsStopInstances, bucket: ECSOtherBucket},
	"DescribeZones":     {run: (*Emulator).ecsDescribeZones, bucket: ECSOtherBucket},
}

// maxSpotPriceLimit bounds SpotPriceLimit (USD or CNY per hour).
const maxSpotPriceLimit = 1e6

// ecsHostID is the HostId the emulator's ECS errors carry (the real
// service names its regional endpoint there).
const ecsHostID = "ecs.emulator"

type ecsError struct {
	RequestID string `json:"RequestId"`
	HostID    string `json:"HostId"`
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	Recommend string `json:"Recommend"`
}

func writeECSError(w http.ResponseWriter, requestID string, e *apiError) {
	writeJSONCompact(w, e.Status, ecsError{RequestID: requestID, HostID: ecsHostID, Code: e.Code, Message: e.Message,
		Recommend: "Look up error code " + e.Code + " in the ECS API reference."})
}

func writeJSONCompact(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (e *Emulator) serveECS(w http.ResponseWriter, r *http.Request) {
	c := &ecsCall{requestID: strings.ToUpper(e.newRequestID())}
	if err := parseForm(w, r, "InvalidParameter"); err != nil {
		writeECSError(w, c.requestID, err)
		return
	}
	c.p = r.Form
	c.action = c.p.Get("Action")
	if c.action == "" {
		writeECSError(w, c.requestID, missingECS("Action"))
		return
	}
	if c.p.Get("Version") == "" {
		writeECSError(w, c.requestID, missingECS("Version"))
		return
	}
	// An unknown action is refused before it is counted: only the
	// service's own action names are remembered.
	act, ok := ecsActions[c.action]
	if !ok {
		writeECSError(w, c.requestID, errorf(http.StatusNotFound, "InvalidAction.NotFound", "Specified api %s is not found, please check your url and method.", echo(c.action)))
		return
	}
	e.countCall(APIECS, c.action)
	if err := e.checkECSTimestamp(c.p.Get("Timestamp")); err != nil {
		writeECSError(w, c.requestID, err)
		return
	}
	if err := e.wait(r.Context(), e.currentLatency()); err != nil {
		return
	}
	if fail, unavailable := e.injectFault(); fail {
		if unavailable {
			writeECSError(w, c.requestID, errorf(http.StatusServiceUnavailable, "ServiceUnavailable", "The request has failed due to a temporary failure of the server."))
		} else {
			writeECSError(w, c.requestID, errorf(http.StatusInternalServerError, "InternalError", "The request processing has failed due to some unknown error, exception or failure."))
		}
		return
	}
	if v := c.p.Get("Version"); v != ECSVersion {
		writeECSError(w, c.requestID, errorf(http.StatusBadRequest, "InvalidVersion", "Specified parameter Version %s is not valid (the emulator serves ECS %s).", echo(v), ECSVersion))
		return
	}
	c.region = c.p.Get("RegionId")
	if c.region == "" {
		writeECSError(w, c.requestID, missingECS("RegionId"))
		return
	}
	if !validRegion(c.region) {
		writeECSError(w, c.requestID, errorf(http.StatusBadRequest, "InvalidRegionId.MalFormed", "The specified RegionId %q is not valid: want a region such as cn-hangzhou (lower-case letters, digits and dashes, at most %d characters).", echo(c.region), maxRegionLen))
		return
	}
	if ok, served := e.serveRegion(APIECS, c.region); !ok {
		writeECSError(w, c.requestID, errorf(http.StatusNotFound, "InvalidRegionId.NotFound", "The specified RegionId %s does not exist (%s).", c.region, regionsFull(served)))
		return
	}
	if !e.admit("ecs/"+c.region+"/"+c.action, act.bucket, 1) {
		writeECSError(w, c.requestID, errorf(http.StatusBadRequest, "Throttling.User", "Request was denied due to user flow control."))
		return
	}
	if err := checkECSParams(c.p); err != nil {
		writeECSError(w, c.requestID, err)
		return
	}
	if strings.EqualFold(c.p.Get("DryRun"), "true") {
		writeECSError(w, c.requestID, errorf(http.StatusBadRequest, "DryRunOperation", "Request validation has been passed with DryRun flag set."))
		return
	}
	out, apiErr := act.run(e, c)
	e.logger.Debug("ecs call", "action", c.action, "region", c.region, "error", apiErr)
	if d := e.takeStall(APIECS, c.action); d > 0 {
		if err := e.wait(r.Context(), d); err != nil {
			return
		}
	}
	if apiErr != nil {
		writeECSError(w, c.requestID, apiErr)
		return
	}
	writeJSONCompact(w, http.StatusOK, out)
}

// checkECSParams refuses a parameter given more than once (the query
// string and the body count together) and a list index (InstanceId.N)
// that is not a plain number from 1 to MaxListIndex, as checkEC2Params
// does for EC2: the handlers read the first value of a name and take any
// integer for an index, so InstanceId.1=a&InstanceId.1=b deleted a alone
// and answered success, and InstanceId.-1 or InstanceId.0 counted as ids.
// Tag.N keeps ECS's own check (InvalidTagCount, N from 1 to 20).
func checkECSParams(p url.Values) *apiError {
	for _, k := range sortedKeys(p) {
		if n := len(p[k]); n > 1 {
			return errorf(http.StatusBadRequest, "InvalidParameter", "The specified parameter %q is given %d times; give it once.", echo(k), n)
		}
		if strings.HasPrefix(k, "Tag.") {
			continue
		}
		for _, seg := range strings.Split(k, ".")[1:] {
			i, err := strconv.Atoi(seg)
			if err != nil && strings.Trim(seg, "0123456789+-") != "" {
				continue // not a list index
			}
			if err != nil || i < 1 || i > MaxListIndex || strconv.Itoa(i) != seg {
				return errorf(http.StatusBadRequest, "InvalidParameter", "The specified parameter %q has the list index %s: list indexes run from 1 to %d.", echo(k), echo(seg), MaxListIndex)
			}
		}
	}
	return nil
}

func missingECS(param string) *apiError {
	return errorf(http.StatusBadRequest, "MissingParameter", "The input parameter \"%s\" that is mandatory for processing this request is not supplied.", param)
}

func invalidECS(param, value, valid string) *apiError {
	return errorf(http.StatusBadRequest, "InvalidParameter", "The specified parameter \"%s\" is not valid: %q (%s).", param, value, valid)
}

var (
	ecsInstanceType = regexp.MustCompile(`^ecs\.[a-z0-9][a-z0-9.-]*$`)
)

// ecsTags reads Tag.N.Key / Tag.N.Value pairs (N from 1 to 20): tags to
// create when launching, else tags to match (where a URL is not refused).
func ecsTags(p url.Values, launching bool) ([]Tag, *apiError) {
	var tags []Tag
	for _, n := range indexes(p, "Tag") {
		if n < 1 || n > 20 {
			return nil, errorf(http.StatusBadRequest, "InvalidTagCount", "The specified tags are beyond the permitted range: Tag.%d (N is 1 to 20).", n)
		}
		k := p.Get(fmt.Sprintf("Tag.%d.Key", n))
		v := p.Get(fmt.Sprintf("Tag.%d.Value", n))
		// Characters in UTF-8 only: bytes that are not came back in
		// every answer as U+FFFD, a tag no filter on what was sent matches.
		if !utf8.ValidString(k) {
			return nil, errorf(http.StatusBadRequest, "InvalidTagKey.Malformed", "The specified Tag.%d.Key %q is not valid: it is not UTF-8.", n, echo(k))
		}
		if !utf8.ValidString(v) {
			return nil, errorf(http.StatusBadRequest, "InvalidTagValue.Malformed", "The specified Tag.%d.Value %q is not valid: it is not UTF-8.", n, echo(v))
		}
		// ECS's rules (RunInstances, TagResources: "up to 128 characters
		// in length. It cannot start with aliyun or acs: and cannot contain
		// http:// or https://"), in characters, not bytes: a key of 128
		// Chinese characters is one ECS takes.
		if k == "" || strings.HasPrefix(k, "aliyun") || strings.HasPrefix(k, "acs:") || utf8.RuneCountInString(k) > 128 || (launching && ecsHasURL(k)) {
			return nil, errorf(http.StatusBadRequest, "InvalidTagKey.Malformed", "The specified Tag.%d.Key %q is not valid: 1 to 128 characters, not starting with aliyun or acs:, without http:// or https://.", n, echo(k))
		}
		// ECS's limit: every instance of the launch carries the tags, and
		// every answer listing it repeats them.
		if utf8.RuneCountInString(v) > maxECSNameLen {
			return nil, errorf(http.StatusBadRequest, "InvalidTagValue.Malformed", "The specified Tag.%d.Value is not valid: at most %d characters, it has %d.", n, maxECSNameLen, utf8.RuneCountInString(v))
		}
		if launching && (strings.HasPrefix(v, "acs:") || ecsHasURL(v)) {
			return nil, errorf(http.StatusBadRequest, "InvalidTagValue.Malformed", "The specified Tag.%d.Value %q is not valid: it must not start with acs: or contain http:// or https://.", n, echo(v))
		}
		tags = append(tags, Tag{Key: k, Value: v})
	}
	return tags, nil
}

// ecsHasURL reports whether s holds http:// or https://, which ECS
// refuses in a tag's key and value.
func ecsHasURL(s string) bool {
	return strings.Contains(s, "http://") || strings.Contains(s, "https://")
}

func (e *Emulator) ecsRunInstances(c *ecsCall) (any, *apiError) {
	p := c.p
	spec := launchSpec{api: APIECS, region: c.region, imageID: p.Get("ImageId"), instanceType: p.Get("InstanceType"),
		clientToken: p.Get("ClientToken"), name: p.Get("InstanceName"), hostName: p.Get("HostName"),
		accessKeyID: echo(p.Get("AccessKeyId"))}
	template := p.Get("LaunchTemplateId") + p.Get("LaunchTemplateName")
	if spec.imageID == "" && template == "" {
		return nil, missingECS("ImageId")
	}
	if spec.imageID == "" {
		spec.imageID = "m-template-" + template
	}
	if spec.instanceType == "" {
		return nil, missingECS("InstanceType")
	}
	if len(spec.instanceType) > maxInstanceTypeLen || !ecsInstanceType.MatchString(spec.instanceType) {
		return nil, errorf(http.StatusBadRequest, "InvalidInstanceType.ValueNotSupported", "The specified InstanceType %q does not exist or beyond the permitted range (ECS types look like ecs.gn7i-c8g1.2xlarge).", echo(spec.instanceType))
	}
	spec.maxCount, spec.minCount = 1, 0
	if s := p.Get("Amount"); s != "" {
		n, ok := parseCount(s, 1, 100)
		if !ok {
			return nil, invalidECS("Amount", echo(s), "an integer from 1 to 100")
		}
		spec.maxCount = n
	}
	spec.minCount = spec.maxCount
	if s := p.Get("MinAmount"); s != "" {
		n, ok := parseCount(s, 1, spec.maxCount)
		if !ok {
			return nil, invalidECS("MinAmount", echo(s), fmt.Sprintf("an integer from 1 to Amount (%d)", spec.maxCount))
		}
		spec.minCount = n
	}
	if len(spec.clientToken) > 64 {
		return nil, invalidECS("ClientToken", echo(spec.clientToken), "at most 64 ASCII characters")
	}
	// ECS's limits; each instance of the launch carries them, and every
	// answer listing it repeats them.
	for _, f := range []struct{ param, code, v string }{
		{"InstanceName", "InvalidInstanceName.Malformed", spec.name},
		{"HostName", "InvalidHostName.Malformed", spec.hostName},
	} {
		if !utf8.ValidString(f.v) {
			return nil, errorf(http.StatusBadRequest, f.code, "The specified parameter %s %q is not valid: it is not UTF-8.", f.param, echo(f.v))
		}
	}
	if n := utf8.RuneCountInString(spec.name); n > maxECSNameLen {
		return nil, errorf(http.StatusBadRequest, "InvalidInstanceName.Malformed", "The specified parameter InstanceName is not valid: at most %d characters, it has %d.", maxECSNameLen, n)
	}
	if n := utf8.RuneCountInString(spec.hostName); n > maxECSHostNameLen {
		return nil, errorf(http.StatusBadRequest, "InvalidHostName.Malformed", "The specified parameter HostName is not valid: at most %d characters, it has %d.", maxECSHostNameLen, n)
	}
	spec.chargeType = p.Get("InstanceChargeType")
	switch spec.chargeType {
	case "":
		spec.chargeType = "PostPaid"
	case "PostPaid", "PrePaid":
	default:
		return nil, invalidECS("InstanceChargeType", echo(spec.chargeType), "PostPaid or PrePaid")
	}
	switch s := p.Get("SpotStrategy"); s {
	case "", "NoSpot":
		spec.spotStrategy = "NoSpot"
	case "SpotAsPriceGo", "SpotWithPriceLimit":
		if spec.chargeType != "PostPaid" {
			return nil, invalidECS("SpotStrategy", echo(s), "spot instances must be PostPaid")
		}
		spec.spot, spec.spotStrategy = true, s
		if s == "SpotWithPriceLimit" {
			limit, ok := parseFinitePositive(p.Get("SpotPriceLimit"), maxSpotPriceLimit)
			if !ok {
				return nil, invalidECS("SpotPriceLimit", echo(p.Get("SpotPriceLimit")), fmt.Sprintf("a finite hourly price above 0 and at most %g, required by SpotWithPriceLimit", float64(maxSpotPriceLimit)))
			}
			spec.spotPriceLimit = limit
		}
	default:
		return nil, invalidECS("SpotStrategy", echo(s), "NoSpot, SpotAsPriceGo or SpotWithPriceLimit")
	}
	if ud := p.Get("UserData"); ud != "" {
		dec, err := base64.StdEncoding.DecodeString(ud)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "InvalidUserData.Base64FormatInvalid", "The specified UserData is not valid Base64.")
		}
		if len(ud) > 32*1024 {
			return nil, errorf(http.StatusBadRequest, "InvalidUserData.SizeExceeded", "The specified UserData is %d bytes encoded; at most 32768 are allowed.", len(ud))
		}
		spec.userData = string(dec)
	}
	zones := zonesOf(APIECS, c.region)
	if vsw := p.Get("VSwitchId"); vsw != "" {
		zone, ok := zoneOfSubnet(APIECS, c.region, vsw)
		if !ok {
			return nil, errorf(http.StatusNotFound, "InvalidVSwitchId.NotFound", "The specified VSwitchId %q does not exist (vSwitches in %s: %s).", echo(vsw), c.region, strings.Join(subnetsOf(APIECS, c.region), ", "))
		}
		spec.zone = zone
	}
	if z := p.Get("ZoneId"); z != "" {
		if !slices.Contains(zones, z) {
			return nil, errorf(http.StatusNotFound, "InvalidZoneId.NotFound", "The specified ZoneId %q does not exist in %s (zones: %s).", echo(z), c.region, strings.Join(zones, ", "))
		}
		if spec.zone != "" && spec.zone != z {
			return nil, errorf(http.StatusBadRequest, "InvalidParameter.Mismatch", "The specified VSwitchId %s is in zone %s, not in ZoneId %s.", p.Get("VSwitchId"), spec.zone, z)
		}
		spec.zone = z
	}
	tags, terr := ecsTags(p, true)
	if terr != nil {
		return nil, terr
	}
	spec.tags = tags
	spec.fingerp = fingerprint(p, ecsIgnoredParam)
	recs, _, lerr := e.launch(spec)
	if lerr != nil {
		return nil, ecsLaunchError(spec, lerr)
	}
	out := ecsRunInstancesResponse{RequestID: c.requestID, OrderID: strconv.FormatInt(recs[0].launch.UnixMicro()%1e15, 10)}
	out.InstanceIDSets.InstanceIDSet = make([]string, 0, len(recs))
	for _, r := range recs {
		out.InstanceIDSets.InstanceIDSet = append(out.InstanceIDSets.InstanceIDSet, r.id)
	}
	return out, nil
}

// ecsIgnoredParam names the parameters that do not define a launch: the
// signature's and the client token itself.
func ecsIgnoredParam(k string) bool {
	switch k {
	case "ClientToken", "Action", "Version", "Format", "AccessKeyId", "Signature", "SignatureMethod",
		"SignatureVersion", "SignatureNonce", "SignatureType", "Timestamp", "SecurityToken", "BearerToken":
		return true
	}
	return false
}

func ecsLaunchError(spec launchSpec, l *launchError) *apiError {
	switch l.kind {
	case failTokenMismatch:
		return errorf(http.StatusBadRequest, "IdempotentParameterMismatch", "The request uses the same client token %q as a previous, but non-identical request.", spec.clientToken)
	case failInstanceLimit:
		return errorf(http.StatusForbidden, "QuotaExceed.ElasticQuota", "The number of instances has exceeded the quota: %d more allowed, MinAmount %d. (An emulator bound, not an account quota: the emulator keeps at most %d ECS instances not yet released, and has %d; delete some to make room.)", l.available, spec.minCount, l.quota, l.live)
	case failInstanceBytes:
		return errorf(http.StatusForbidden, "QuotaExceed.ElasticQuota", "The number of instances has exceeded the quota: %d more allowed, MinAmount %d. (An emulator bound, not an account quota: the ECS instances the emulator keeps carry at most %d bytes of user data, tags and names, and carry %d; each of these would carry %d. Delete some to make room.)", l.available, spec.minCount, l.quota, l.live, l.payload)
	case failQuota:
		return errorf(http.StatusForbidden, "QuotaExceed.ElasticQuota", "The number of vCPUs assigned to the ECS instances has exceeded the quota in the zone: quota %d, %d left, MinAmount %d x %d for %s.", l.quota, l.vcpusLeft, spec.minCount, VCPUs(spec.instanceType), spec.instanceType)
	case failZoneClosed:
		return errorf(http.StatusForbidden, "Zone.NotOnSale", "The specified zone %s is not available for purchase.", l.zone)
	case failNotOffered:
		return errorf(http.StatusForbidden, "InvalidInstanceType.ZoneNotSupported", "The specified zone %s does not support the instance type %s (try %s).", l.zone, spec.instanceType, strings.Join(l.otherZone, ", "))
	default:
		return errorf(http.StatusForbidden, "OperationDenied.NoStock", "The requested resource %s is sold out in zone %s (%d available, MinAmount %d); try other types of resources or other regions and zones.", spec.instanceType, l.zone, l.available, spec.minCount)
	}
}

type ecsRunInstancesResponse struct {
	RequestID      string  `json:"RequestId"`
	OrderID        string  `json:"OrderId"`
	TradePrice     float64 `json:"TradePrice"`
	InstanceIDSets struct {
		InstanceIDSet []string `json:"InstanceIdSet"`
	} `json:"InstanceIdSets"`
}

type ecsTag struct {
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

type ecsLock struct {
	LockReason string `json:"LockReason"`
}

type ecsInstanceDoc struct {
	InstanceID               string  `json:"InstanceId"`
	InstanceName             string  `json:"InstanceName"`
	HostName                 string  `json:"HostName"`
	Description              string  `json:"Description"`
	ImageID                  string  `json:"ImageId"`
	InstanceType             string  `json:"InstanceType"`
	RegionID                 string  `json:"RegionId"`
	ZoneID                   string  `json:"ZoneId"`
	Status                   string  `json:"Status"`
	CreationTime             string  `json:"CreationTime"`
	StartTime                string  `json:"StartTime"`
	ExpiredTime              string  `json:"ExpiredTime"`
	InstanceChargeType       string  `json:"InstanceChargeType"`
	InternetChargeType       string  `json:"InternetChargeType"`
	SpotStrategy             string  `json:"SpotStrategy"`
	SpotPriceLimit           float64 `json:"SpotPriceLimit"`
	SpotInterruptionBehavior string  `json:"SpotInterruptionBehavior"`
	InstanceNetworkType      string  `json:"InstanceNetworkType"`
	StoppedMode              string  `json:"StoppedMode"`
	VpcAttributes            struct {
		VpcID            string `json:"VpcId"`
		VSwitchID        string `json:"VSwitchId"`
		PrivateIPAddress struct {
			IPAddress []string `json:"IpAddress"`
		} `json:"PrivateIpAddress"`
	} `json:"VpcAttributes"`
	Tags struct {
		Tag []ecsTag `json:"Tag"`
	} `json:"Tags"`
	OperationLocks struct {
		LockReason []ecsLock `json:"LockReason"`
	} `json:"OperationLocks"`
}

const ecsTimeLayout = "2006-01-02T15:04Z"

// ecsStatus maps the canonical state to ECS's vocabulary: a booting
// instance is Pending for the first half of the boot delay and Starting for
// the second; a deleted one is Stopping until it disappears; a stopped one
// is Stopping, then Stopped.
func ecsStatus(r *record, now time.Time) string {
	switch r.state(now) {
	case stateStopping:
		return "Stopping"
	case stateStopped:
		return "Stopped"
	case statePending:
		if now.Sub(r.launch) < r.bootDelay/2 {
			return "Pending"
		}
		return "Starting"
	case stateRunning:
		return "Running"
	case stateShuttingDown:
		return "Stopping"
	default:
		return "Deleted"
	}
}

func ecsInstanceJSON(r *record, now time.Time) ecsInstanceDoc {
	d := ecsInstanceDoc{
		InstanceID: r.id, InstanceName: r.name, HostName: r.hostName, ImageID: r.imageID,
		InstanceType: r.instanceType, RegionID: r.region, ZoneID: r.zone, Status: ecsStatus(r, now),
		CreationTime: r.launch.UTC().Format(ecsTimeLayout), ExpiredTime: "2099-12-31T15:59Z",
		InstanceChargeType: r.chargeType, InternetChargeType: "PayByTraffic", SpotStrategy: r.spotStrategy,
		SpotPriceLimit: r.spotPriceLimit, InstanceNetworkType: "vpc",
	}
	if d.InstanceName == "" {
		d.InstanceName = r.id
	}
	if d.HostName == "" {
		d.HostName = "iZ" + strings.TrimPrefix(r.id, "i-") + "Z"
	}
	if r.spot {
		d.SpotInterruptionBehavior = "Terminate"
	}
	d.StoppedMode = "Not-applicable"
	if st := r.state(now); st == stateStopping || st == stateStopped {
		d.StoppedMode = "KeepCharging"
		if r.stopCharging {
			d.StoppedMode = "StopCharging"
		}
	}
	if st := r.state(now); st == stateRunning || st == stateShuttingDown {
		d.StartTime = r.launch.Add(r.bootDelay).UTC().Format(ecsTimeLayout)
	}
	d.VpcAttributes.VpcID = r.vpc
	d.VpcAttributes.VSwitchID = r.subnet
	d.VpcAttributes.PrivateIPAddress.IPAddress = []string{r.privateIP}
	d.Tags.Tag = make([]ecsTag, 0, len(r.tags))
	for _, t := range r.tags {
		d.Tags.Tag = append(d.Tags.Tag, ecsTag{TagKey: t.Key, TagValue: t.Value})
	}
	d.OperationLocks.LockReason = []ecsLock{}
	if r.noticeAt != nil && !now.Before(*r.noticeAt) && (r.terminateAt == nil || r.reclaimed(now)) {
		d.OperationLocks.LockReason = append(d.OperationLocks.LockReason, ecsLock{LockReason: "Recycling"})
	}
	return d
}

// ecsVisible reports whether DescribeInstances lists r: once its launch
// has propagated (Options.ConsistencyLag), until it is released (ECS
// forgets a deleted instance at once).
func ecsVisible(r *record, region string, now time.Time) bool {
	return r.api == APIECS && r.region == region && !now.Before(r.visibleAt) && r.state(now) != stateTerminated
}

// ecsSelecting reports whether an ECS DescribeInstances parameter
// chooses the listing's instances (what a NextToken is bound to).
func ecsSelecting(k string) bool {
	switch k {
	case "InstanceIds", "ZoneId", "VSwitchId", "InstanceType", "Status":
		return true
	}
	return strings.HasPrefix(k, "Tag.")
}

type ecsDescribeInstancesResponse struct {
	RequestID  string `json:"RequestId"`
	TotalCount int    `json:"TotalCount"`
	PageNumber int    `json:"PageNumber"`
	PageSize   int    `json:"PageSize"`
	NextToken  string `json:"NextToken"`
	Instances  struct {
		Instance []ecsInstanceDoc `json:"Instance"`
	} `json:"Instances"`
}

var ecsStatuses = []string{"Pending", "Starting", "Running", "Stopping", "Stopped"}

func (e *Emulator) ecsDescribeInstances(c *ecsCall) (any, *apiError) {
	p := c.p
	var ids []string
	if s := p.Get("InstanceIds"); s != "" {
		// JSON null decodes to no list at all, which would describe every
		// instance: a client that marshals an empty Go slice sends it.
		if err := json.Unmarshal([]byte(s), &ids); err != nil || ids == nil || len(ids) > 100 {
			return nil, errorf(http.StatusBadRequest, "InvalidInstanceIds.Malformed", "The specified parameter InstanceIds %q is not valid: expected a JSON array of at most 100 instance ids, e.g. [\"i-bp67acfmxazb4p****\"].", echo(s))
		}
	}
	tags, terr := ecsTags(p, false)
	if terr != nil {
		return nil, terr
	}
	status := p.Get("Status")
	if status != "" && !slices.Contains(ecsStatuses, status) {
		return nil, invalidECS("Status", echo(status), strings.Join(ecsStatuses, ", "))
	}
	// A parameter given empty is no number: ECS's paging parameters are
	// read as given, and NextToken or MaxResults (given at all) page by
	// token, PageNumber and PageSize then being of no effect.
	for _, k := range []string{"MaxResults", "PageSize", "PageNumber"} {
		if v, given := p[k]; given && (len(v) == 0 || v[0] == "") {
			valid := "an integer from 1 to 100"
			if k == "PageNumber" {
				valid = fmt.Sprintf("an integer from 1 to %d", math.MaxInt32)
			}
			return nil, invalidECS(k, "", valid)
		}
	}
	scope := newPageScope("ecs", c.action, c.region, p, ecsSelecting)
	tokenMode := p.Get("NextToken") != "" || p.Get("MaxResults") != ""
	size, number, offset := 10, 1, 0
	if tokenMode {
		if s := p.Get("MaxResults"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 100 {
				return nil, invalidECS("MaxResults", echo(s), "an integer from 1 to 100")
			}
			size = n
		}
		if tok := p.Get("NextToken"); tok != "" {
			off, other, problem := scope.offset(tok)
			switch problem {
			case pageTokenMalformed:
				return nil, invalidECS("NextToken", echo(tok), "pass the NextToken of a previous response unchanged")
			case pageTokenOtherCall:
				return nil, invalidECS("NextToken", echo(tok), fmt.Sprintf("it continues a listing of %s: pass a NextToken that ECS %s answered, or leave it out to list from the start", apiName(other), c.action))
			case pageTokenOtherList:
				return nil, invalidECS("NextToken", echo(tok), "it continues a listing with other filters, ids or tags, or in another region: pass the same ones as the call that answered it (only MaxResults may change), or leave it out to list from the start")
			}
			offset = off
		}
	} else {
		if s := p.Get("PageSize"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 100 {
				return nil, invalidECS("PageSize", echo(s), "an integer from 1 to 100")
			}
			size = n
		}
		if s := p.Get("PageNumber"); s != "" {
			n, ok := parseCount(s, 1, math.MaxInt32)
			if !ok {
				return nil, invalidECS("PageNumber", echo(s), fmt.Sprintf("an integer from 1 to %d", math.MaxInt32))
			}
			number = n
		}
		offset = (number - 1) * size
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock()
	var matched []*record
	keep := func(r *record) bool {
		if !ecsVisible(r, c.region, now) {
			return false
		}
		if z := p.Get("ZoneId"); z != "" && r.zone != z {
			return false
		}
		if v := p.Get("VSwitchId"); v != "" && r.subnet != v {
			return false
		}
		if t := p.Get("InstanceType"); t != "" && r.instanceType != t {
			return false
		}
		if status != "" && ecsStatus(r, now) != status {
			return false
		}
		have := r.tagMap()
		for _, t := range tags {
			v, ok := have[t.Key]
			if !ok || (t.Value != "" && v != t.Value) {
				return false
			}
		}
		return true
	}
	if ids != nil {
		for _, id := range ids {
			if r, ok := e.instances[id]; ok && keep(r) {
				matched = append(matched, r)
			}
		}
	} else {
		for _, r := range e.order {
			if keep(r) {
				matched = append(matched, r)
			}
		}
	}
	out := ecsDescribeInstancesResponse{RequestID: c.requestID, TotalCount: len(matched), PageSize: size}
	if !tokenMode {
		out.PageNumber = number
	}
	offset = min(offset, len(matched))
	end := min(offset+size, len(matched))
	if tokenMode && end < len(matched) {
		out.NextToken = scope.token(end)
	}
	out.Instances.Instance = make([]ecsInstanceDoc, 0, end-offset)
	for _, r := range matched[offset:end] {
		out.Instances.Instance = append(out.Instances.Instance, ecsInstanceJSON(r, now))
	}
	return out, nil
}

type ecsDeleteInstancesResponse struct {
	RequestID string `json:"RequestId"`
}

// ecsInstanceIDs reads the InstanceId.N of a call acting on instances
// (DeleteInstances, StopInstances): 1 to 100 of them.
func ecsInstanceIDs(c *ecsCall) ([]string, *apiError) {
	ids := indexed(c.p, "InstanceId")
	if len(ids) == 0 {
		return nil, missingECS("InstanceId.1")
	}
	if len(ids) > 100 {
		return nil, invalidECS("InstanceId", fmt.Sprintf("%d ids", len(ids)), "at most 100 instance ids per call")
	}
	return ids, nil
}

func (e *Emulator) ecsDeleteInstances(c *ecsCall) (any, *apiError) {
	ids, err := ecsInstanceIDs(c)
	if err != nil {
		return nil, err
	}
	force := strings.EqualFold(c.p.Get("Force"), "true")
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock()
	var missing []string
	for _, id := range ids {
		if r, ok := e.instances[id]; !ok || !ecsVisible(r, c.region, now) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, errorf(http.StatusNotFound, "InvalidInstanceId.NotFound", "The specified InstanceId does not exist: %s.", strings.Join(missing, ", "))
	}
	if !force {
		// Without Force, ECS releases only Stopped instances: one still
		// Stopping (stopped by hand a moment ago, or being released) is
		// refused like a running one.
		for _, id := range ids {
			if st := e.instances[id].state(now); st != stateStopped {
				return nil, errorf(http.StatusForbidden, "IncorrectInstanceStatus", "The current status of the resource does not support this operation: instance %s is %s; stop it first or pass Force=true.", id, ecsStatus(e.instances[id], now))
			}
		}
	}
	for _, id := range ids {
		e.terminateLocked(e.instances[id], now)
	}
	return ecsDeleteInstancesResponse{RequestID: c.requestID}, nil
}

type ecsStopInstancesResponse struct {
	RequestID         string `json:"RequestId"`
	InstanceResponses struct {
		InstanceResponse []ecsInstanceResponse `json:"InstanceResponse"`
	} `json:"InstanceResponses"`
}

type ecsInstanceResponse struct {
	InstanceID     string `json:"InstanceId"`
	Code           string `json:"Code"`
	Message        string `json:"Message"`
	PreviousStatus string `json:"PreviousStatus"`
	CurrentStatus  string `json:"CurrentStatus"`
}

// ecsStopInstances stops Running instances as ECS StopInstances does
// (InstanceId.N, 1 to 100; StoppedMode KeepCharging, the default, or
// StopCharging; BatchOptimization AllTogether, the default, refusing the
// whole call if one instance cannot be stopped, or SuccessFirst, answering
// each). A stopped instance is not released: DescribeInstances lists it as
// Stopped until DeleteInstances releases it.
func (e *Emulator) ecsStopInstances(c *ecsCall) (any, *apiError) {
	ids, err := ecsInstanceIDs(c)
	if err != nil {
		return nil, err
	}
	stopCharging := false
	switch m := c.p.Get("StoppedMode"); m {
	case "", "KeepCharging":
	case "StopCharging":
		stopCharging = true
	default:
		return nil, invalidECS("StoppedMode", echo(m), "KeepCharging or StopCharging")
	}
	successFirst := false
	switch b := c.p.Get("BatchOptimization"); b {
	case "", "AllTogether":
	case "SuccessFirst":
		successFirst = true
	default:
		return nil, invalidECS("BatchOptimization", echo(b), "AllTogether or SuccessFirst")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock()
	out := ecsStopInstancesResponse{RequestID: c.requestID}
	refuse := func(id string) *ecsInstanceResponse {
		r, ok := e.instances[id]
		if !ok || !ecsVisible(r, c.region, now) {
			return &ecsInstanceResponse{InstanceID: id, Code: "InvalidInstanceId.NotFound", Message: "The specified InstanceId does not exist."}
		}
		if st := r.state(now); st != stateRunning {
			return &ecsInstanceResponse{InstanceID: id, Code: "IncorrectInstanceStatus", Message: "The current status of the resource does not support this operation.",
				PreviousStatus: ecsStatus(r, now), CurrentStatus: ecsStatus(r, now)}
		}
		return nil
	}
	if !successFirst {
		for _, id := range ids {
			if bad := refuse(id); bad != nil {
				status := http.StatusForbidden
				if bad.Code == "InvalidInstanceId.NotFound" {
					status = http.StatusNotFound
				}
				return nil, errorf(status, bad.Code, "%s (instance %s)", strings.TrimSuffix(bad.Message, "."), id)
			}
		}
	}
	for _, id := range ids {
		if bad := refuse(id); bad != nil {
			out.InstanceResponses.InstanceResponse = append(out.InstanceResponses.InstanceResponse, *bad)
			continue
		}
		r := e.instances[id]
		prev := ecsStatus(r, now)
		e.stopLocked(r, now, stopCharging)
		out.InstanceResponses.InstanceResponse = append(out.InstanceResponses.InstanceResponse,
			ecsInstanceResponse{InstanceID: id, Code: "200", Message: "success", PreviousStatus: prev, CurrentStatus: ecsStatus(r, now)})
	}
	return out, nil
}

type ecsDescribeZonesResponse struct {
	RequestID string `json:"RequestId"`
	Zones     struct {
		Zone []ecsZone `json:"Zone"`
	} `json:"Zones"`
}

type ecsZone struct {
	ZoneID    string `json:"ZoneId"`
	LocalName string `json:"LocalName"`
}

func (e *Emulator) ecsDescribeZones(c *ecsCall) (any, *apiError) {
	out := ecsDescribeZonesResponse{RequestID: c.requestID}
	for _, z := range zonesOf(APIECS, c.region) {
		out.Zones.Zone = append(out.Zones.Zone, ecsZone{ZoneID: z, LocalName: z})
	}
	return out, nil
}
