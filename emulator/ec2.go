package emulator

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// EC2Namespace is the XML namespace of EC2 API version 2016-11-15.
const EC2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// EC2Handler serves the EC2 Query API (form-encoded POST, or GET with a
// query string; XML responses) and the /_emulator/ control API. Signatures
// are not checked: any credentials are accepted. The region is read from
// the SigV4 credential scope (us-east-1 when absent).
func (e *Emulator) EC2Handler() http.Handler {
	return e.serveControlOr(http.HandlerFunc(e.serveEC2))
}

// ec2Call is one parsed EC2 request.
type ec2Call struct {
	action, region, requestID string
	accessKeyID               string // the SigV4 credential's access key id
	p                         url.Values
	// release, when set, frees the large-answer slot the call holds
	// (admitLarge) once its answer is written.
	release func()
}

type ec2Action struct {
	run func(e *Emulator, c *ec2Call) (any, *apiError)
	// bucket names the request-rate class; resource, if set, the number of
	// resource tokens the call draws.
	class    func(c *ec2Call) BucketSpec
	resource func(c *ec2Call) (BucketSpec, float64)
}

var ec2Actions map[string]ec2Action

func init() {
	ec2Actions = map[string]ec2Action{
		"RunInstances": {run: (*Emulator).ec2RunInstances, class: mutating, resource: func(c *ec2Call) (BucketSpec, float64) {
			n, _ := parseCount(c.p.Get("MaxCount"), 1, math.MaxInt32)
			return EC2RunInstancesResource, float64(min(max(n, 1), MaxEC2LaunchCount))
		}},
		"DescribeInstances": {run: (*Emulator).ec2DescribeInstances, class: func(c *ec2Call) BucketSpec {
			for k := range c.p {
				if strings.HasPrefix(k, "Filter.") || strings.HasPrefix(k, "InstanceId.") || k == "MaxResults" {
					return EC2NonMutatingBucket
				}
			}
			return EC2UnfilteredBucket
		}},
		"TerminateInstances": {run: (*Emulator).ec2TerminateInstances, class: mutating, resource: func(c *ec2Call) (BucketSpec, float64) {
			return EC2TerminateInstancesRsrc, float64(max(len(indexed(c.p, "InstanceId")), 1))
		}},
		"StopInstances":                {run: (*Emulator).ec2StopInstances, class: mutating},
		"DescribeInstanceStatus":       {run: (*Emulator).ec2DescribeInstanceStatus, class: nonMutating},
		"DescribeSubnets":              {run: (*Emulator).ec2DescribeSubnets, class: nonMutating},
		"DescribeAvailabilityZones":    {run: (*Emulator).ec2DescribeAvailabilityZones, class: nonMutating},
		"DescribeSpotInstanceRequests": {run: (*Emulator).ec2DescribeSpotInstanceRequests, class: nonMutating},
	}
}

func mutating(*ec2Call) BucketSpec    { return EC2MutatingBucket }
func nonMutating(*ec2Call) BucketSpec { return EC2NonMutatingBucket }

var credentialRegion = regexp.MustCompile(`Credential=([^/, ]{1,128})/\d{8}/([a-z0-9-]+)/`)

func (e *Emulator) serveEC2(w http.ResponseWriter, r *http.Request) {
	c := &ec2Call{requestID: e.newRequestID(), region: DefaultEC2Region}
	if err := parseForm(w, r, "MalformedQueryString"); err != nil {
		writeEC2Error(w, c.requestID, err)
		return
	}
	c.p = r.Form
	if m := credentialRegion.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		c.accessKeyID, c.region = m[1], m[2]
	} else if m := credentialRegion.FindStringSubmatch("Credential=" + c.p.Get("X-Amz-Credential")); m != nil {
		c.accessKeyID, c.region = m[1], m[2]
	}
	if !validRegion(c.region) {
		writeEC2Error(w, c.requestID, errorf(http.StatusUnauthorized, "AuthFailure", "Credential should be scoped to a valid region, not '%s'.", echo(c.region)))
		return
	}
	// EC2's answers carry its clock (the SDK corrects its signing time
	// from it) and refuse a signing time too far off it.
	w.Header().Set("Date", e.requestNow().UTC().Format(http.TimeFormat))
	c.action = c.p.Get("Action")
	if c.action == "" {
		writeEC2Error(w, c.requestID, errorf(http.StatusBadRequest, "MissingAction", "The request must contain the parameter Action."))
		return
	}
	if c.p.Get("Version") == "" {
		writeEC2Error(w, c.requestID, errorf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter Version."))
		return
	}
	// An unknown action is refused before it is counted: only the
	// service's own action names are remembered.
	act, ok := ec2Actions[c.action]
	if !ok {
		writeEC2Error(w, c.requestID, errorf(http.StatusBadRequest, "InvalidAction", "The action %s is not valid for this web service.", echo(c.action)))
		return
	}
	if ok, served := e.serveRegion(APIEC2, c.region); !ok {
		writeEC2Error(w, c.requestID, errorf(http.StatusUnauthorized, "AuthFailure", "Credential should be scoped to a valid region, not '%s' (%s).", c.region, regionsFull(served)))
		return
	}
	e.countCall(APIEC2, c.action)
	if err := e.checkEC2Date(r, c.p); err != nil {
		writeEC2Error(w, c.requestID, err)
		return
	}
	if err := e.wait(r.Context(), e.currentLatency()); err != nil {
		return
	}
	if fail, unavailable := e.injectFault(); fail {
		if unavailable {
			writeEC2Error(w, c.requestID, errorf(http.StatusServiceUnavailable, "ServiceUnavailable", "The request has failed due to a temporary failure of the server."))
		} else {
			writeEC2Error(w, c.requestID, errorf(http.StatusInternalServerError, "InternalError", "An internal error has occurred."))
		}
		return
	}
	if !e.admitEC2(c, act) {
		writeEC2Error(w, c.requestID, errorf(http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded."))
		return
	}
	if err := checkEC2Params(c.p); err != nil {
		writeEC2Error(w, c.requestID, err)
		return
	}
	if strings.EqualFold(c.p.Get("DryRun"), "true") {
		writeEC2Error(w, c.requestID, errorf(http.StatusPreconditionFailed, "DryRunOperation", "Request would have succeeded, but DryRun flag is set."))
		return
	}
	out, apiErr := act.run(e, c)
	if c.release != nil {
		defer c.release()
	}
	e.logger.Debug("ec2 call", "action", c.action, "region", c.region, "error", apiErr)
	if d := e.takeStall(APIEC2, c.action); d > 0 {
		if err := e.wait(r.Context(), d); err != nil {
			return
		}
	}
	if apiErr != nil {
		writeEC2Error(w, c.requestID, apiErr)
		return
	}
	writeXML(w, http.StatusOK, out)
}

// admitEC2 draws from the call's request bucket and, for RunInstances and
// TerminateInstances, its resource bucket.
func (e *Emulator) admitEC2(c *ec2Call, act ec2Action) bool {
	spec := act.class(c)
	name := "ec2/" + c.region + "/" + c.action
	if spec == EC2UnfilteredBucket {
		name += "/unfiltered"
	}
	if !e.admit(name, spec, 1) {
		return false
	}
	if act.resource != nil {
		rs, n := act.resource(c)
		if !e.admit("ec2/"+c.region+"/"+c.action+"/resource", rs, n) {
			e.refund(name, 1)
			return false
		}
	}
	return true
}

type ec2ErrorResponse struct {
	XMLName   xml.Name     `xml:"Response"`
	Errors    []ec2ErrItem `xml:"Errors>Error"`
	RequestID string       `xml:"RequestID"`
}

type ec2ErrItem struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func writeEC2Error(w http.ResponseWriter, requestID string, e *apiError) {
	writeXML(w, e.Status, ec2ErrorResponse{Errors: []ec2ErrItem{{e.Code, e.Message}}, RequestID: requestID})
}

func writeXML(w http.ResponseWriter, status int, v any) {
	body, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(body)
}

// checkEC2Params refuses a parameter given more than once (the query
// string and the body count together) and a list index that is not a
// plain number from 1 to MaxListIndex: the Query protocol's lists start at
// 1, and an SDK never repeats a name.
func checkEC2Params(p url.Values) *apiError {
	for _, k := range sortedKeys(p) {
		if n := len(p[k]); n > 1 {
			return errorf(http.StatusBadRequest, "InvalidParameterValue", "The parameter %s is given %d times; give it once.", echo(k), n)
		}
		for _, seg := range strings.Split(k, ".")[1:] {
			i, err := strconv.Atoi(seg)
			if err != nil {
				continue // not a list index
			}
			if i < 1 || i > MaxListIndex || strconv.Itoa(i) != seg {
				return errorf(http.StatusBadRequest, "InvalidParameterValue", "The parameter %s has the list index %s: list indexes run from 1 to %d.", echo(k), echo(seg), MaxListIndex)
			}
		}
	}
	return nil
}

// indexed collects the values of prefix.1, prefix.2, … in index order.
func indexed(p url.Values, prefix string) []string {
	type kv struct {
		i int
		v string
	}
	var items []kv
	for k, vs := range p {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		if i, err := strconv.Atoi(rest); err == nil && len(vs) > 0 {
			items = append(items, kv{i, vs[0]})
		}
	}
	sort.Slice(items, func(a, b int) bool { return items[a].i < items[b].i })
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.v
	}
	return out
}

// indexes returns the sorted distinct N of keys prefix.N.* .
func indexes(p url.Values, prefix string) []int {
	seen := map[int]bool{}
	for k := range p {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ".")
		if i, err := strconv.Atoi(n); err == nil {
			seen[i] = true
		}
	}
	out := make([]int, 0, len(seen))
	for i := range seen {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// fingerprint hashes the request parameters that define a launch, so a
// retried client token can be compared with the first request.
func fingerprint(p url.Values, ignore func(string) bool) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		if !ignore(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%q\n", k, p[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

var (
	ec2InstanceID   = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)
	ec2ImageID      = regexp.MustCompile(`^ami-[0-9a-zA-Z]+$`)
	instanceTypeFmt = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*\.[a-z0-9-]+$`)
)

func (e *Emulator) ec2RunInstances(c *ec2Call) (any, *apiError) {
	p := c.p
	spec := launchSpec{api: APIEC2, region: c.region, imageID: p.Get("ImageId"), instanceType: p.Get("InstanceType"), clientToken: p.Get("ClientToken"), accessKeyID: c.accessKeyID}
	template := p.Get("LaunchTemplate.LaunchTemplateId") + p.Get("LaunchTemplate.LaunchTemplateName")
	if spec.imageID == "" && template == "" {
		return nil, errorf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter ImageId or LaunchTemplate.")
	}
	if spec.imageID == "" {
		// The emulator knows no launch templates: any template is accepted
		// and stands for an image derived from its name.
		sum := sha256.Sum256([]byte(template))
		spec.imageID = "ami-" + hex.EncodeToString(sum[:])[:17]
	} else if !ec2ImageID.MatchString(spec.imageID) {
		return nil, errorf(http.StatusBadRequest, "InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", echo(spec.imageID))
	}
	if spec.instanceType == "" {
		spec.instanceType = "m1.small" // EC2's default when neither request nor template names one
	} else if len(spec.instanceType) > maxInstanceTypeLen || !instanceTypeFmt.MatchString(spec.instanceType) {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "Invalid value '%s' for InstanceType.", echo(spec.instanceType))
	}
	for _, name := range []string{"MinCount", "MaxCount"} {
		if p.Get(name) == "" {
			return nil, errorf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter %s", name)
		}
	}
	var ok bool
	if spec.minCount, ok = parseCount(p.Get("MinCount"), 1, math.MaxInt32); !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "Invalid value '%s' for MinCount: expected an integer from 1 to %d.", echo(p.Get("MinCount")), math.MaxInt32)
	}
	if spec.maxCount, ok = parseCount(p.Get("MaxCount"), 1, math.MaxInt32); !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "Invalid value '%s' for MaxCount: expected an integer from 1 to %d.", echo(p.Get("MaxCount")), math.MaxInt32)
	}
	if spec.minCount > spec.maxCount {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "MinCount (%d) must be less than or equal to MaxCount (%d).", spec.minCount, spec.maxCount)
	}
	if spec.minCount > MaxEC2LaunchCount {
		return nil, errorf(http.StatusBadRequest, "InstanceLimitExceeded", "Your quota allows for %d more running instance(s) per launch. You requested at least %d.", MaxEC2LaunchCount, spec.minCount)
	}
	// Like EC2, launch the largest possible number up to MaxCount.
	spec.maxCount = min(spec.maxCount, MaxEC2LaunchCount)
	if len(spec.clientToken) > 64 {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "Value (%s) for parameter clientToken is invalid. Length exceeds maximum of 64.", echo(spec.clientToken))
	}
	if ud := p.Get("UserData"); ud != "" {
		dec, err := base64.StdEncoding.DecodeString(ud)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "Invalid BASE64 encoding of user data.")
		}
		if len(ud) > 16*1024 {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "User data is limited to 16384 bytes.")
		}
		spec.userData = string(dec)
	}
	subnet := p.Get("SubnetId")
	if subnet == "" {
		subnet = p.Get("NetworkInterface.1.SubnetId")
	}
	if subnet != "" {
		zone, ok := zoneOfSubnet(APIEC2, c.region, subnet)
		if !ok {
			return nil, errorf(http.StatusBadRequest, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist (subnets in %s: %s).", echo(subnet), c.region, strings.Join(subnetsOf(APIEC2, c.region), ", "))
		}
		spec.zone = zone
	}
	if az := p.Get("Placement.AvailabilityZone"); az != "" {
		if !slices.Contains(zonesOf(APIEC2, c.region), az) {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "Invalid availability zone: [%s]", echo(az))
		}
		if spec.zone != "" && spec.zone != az {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterCombination", "The subnet %s is in %s, not in the requested Availability Zone %s.", subnet, spec.zone, az)
		}
		spec.zone = az
	}
	switch mt := p.Get("InstanceMarketOptions.MarketType"); mt {
	case "", "on-demand":
	case "spot":
		spec.spot = true
		spec.spotStrategy = p.Get("InstanceMarketOptions.SpotOptions.SpotInstanceType")
		if spec.spotStrategy == "" {
			spec.spotStrategy = "one-time"
		}
		if spec.spotStrategy == "persistent" && p.Get("InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior") == "terminate" {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterCombination", "A persistent Spot request cannot use the interruption behaviour terminate.")
		}
	default:
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "Invalid value '%s' for InstanceMarketOptions.MarketType: expected spot or on-demand.", echo(mt))
	}
	specs := indexes(p, "TagSpecification")
	if len(specs) > MaxTagSpecifications {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "The request has %d TagSpecification entries; at most %d (one per resource type) are accepted.", len(specs), MaxTagSpecifications)
	}
	for _, n := range specs {
		pre := fmt.Sprintf("TagSpecification.%d.", n)
		rt := p.Get(pre + "ResourceType")
		if rt == "" {
			return nil, errorf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter %sResourceType.", pre)
		}
		if rt != "instance" {
			continue // volume, network-interface, … tags are accepted and dropped
		}
		for _, m := range indexes(p, pre+"Tag") {
			k := p.Get(fmt.Sprintf("%sTag.%d.Key", pre, m))
			if k == "" || strings.HasPrefix(strings.ToLower(k), "aws:") {
				return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "Invalid tag key '%s': keys must be non-empty and must not start with aws:.", echo(k))
			}
			v := p.Get(fmt.Sprintf("%sTag.%d.Value", pre, m))
			// EC2 takes any Unicode character but no bytes that are not
			// UTF-8: kept, they came back in every answer as U+FFFD, a
			// tag no filter on what was sent matches.
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "Tag %d of TagSpecification %d is not valid UTF-8 (key '%s'): tag keys and values are Unicode characters in UTF-8.", m, n, echo(k))
			}
			// EC2's limits: every instance of the launch carries the tags,
			// and every answer listing it repeats them, so a 1 MB value
			// made a 5000-instance launch's answer 5 GB.
			if utf8.RuneCountInString(k) > maxEC2TagKeyLen {
				return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "Tag key exceeds the maximum length of %d characters: '%s'.", maxEC2TagKeyLen, echo(k))
			}
			if utf8.RuneCountInString(v) > maxEC2TagValueLen {
				return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "Tag value exceeds the maximum length of %d characters (key '%s').", maxEC2TagValueLen, echo(k))
			}
			// EC2 refuses a key twice (the answers listed both, and which
			// one a reader took was a guess).
			if slices.ContainsFunc(spec.tags, func(t Tag) bool { return t.Key == k }) {
				return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "Duplicate tag key '%s' specified.", echo(k))
			}
			spec.tags = append(spec.tags, Tag{Key: k, Value: v})
		}
	}
	if len(spec.tags) > 50 {
		return nil, errorf(http.StatusBadRequest, "TagLimitExceeded", "The maximum number of tags per resource is 50; the request has %d.", len(spec.tags))
	}
	spec.fingerp = fingerprint(p, func(k string) bool {
		return k == "ClientToken" || k == "Action" || k == "Version" || strings.HasPrefix(k, "X-Amz-")
	})
	recs, _, lerr := e.launch(spec)
	if lerr != nil {
		return nil, ec2LaunchError(spec, lerr)
	}
	now := e.clock()
	e.mu.Lock()
	defer e.mu.Unlock()
	out := ec2RunInstancesResponse{Xmlns: EC2Namespace, RequestID: c.requestID, ReservationID: recs[0].reservationID, OwnerID: ec2OwnerID}
	for _, r := range recs {
		out.Instances = append(out.Instances, ec2InstanceXML(r, now))
	}
	return out, nil
}

func ec2LaunchError(spec launchSpec, l *launchError) *apiError {
	others := strings.Join(l.otherZone, ", ")
	if others == "" {
		others = "another instance type"
	}
	switch l.kind {
	case failTokenMismatch:
		return errorf(http.StatusBadRequest, "IdempotentParameterMismatch", "The client token %s was already used with different request parameters.", spec.clientToken)
	case failInstanceLimit:
		return errorf(http.StatusBadRequest, "InstanceLimitExceeded", "Your quota allows for %d more instance(s). You requested at least %d. (An emulator bound, not an account quota: the emulator keeps at most %d EC2 instances not yet terminated, and has %d; terminate some to make room.)", l.available, spec.minCount, l.quota, l.live)
	case failInstanceBytes:
		return errorf(http.StatusBadRequest, "InstanceLimitExceeded", "Your quota allows for %d more instance(s). You requested at least %d. (An emulator bound, not an account quota: the EC2 instances the emulator keeps carry at most %d bytes of user data and tags, and carry %d; each of these would carry %d. Terminate some to make room.)", l.available, spec.minCount, l.quota, l.live, l.payload)
	case failQuota:
		if spec.spot {
			return errorf(http.StatusBadRequest, "MaxSpotInstanceCountExceeded", "Max spot instance count exceeded: the vCPU quota of %d leaves %d vCPUs, fewer than MinCount %d x %d for %s.", l.quota, l.vcpusLeft, spec.minCount, VCPUs(spec.instanceType), spec.instanceType)
		}
		return errorf(http.StatusBadRequest, "VcpuLimitExceeded", "You have requested more vCPU capacity than your current vCPU limit of %d allows for the instance bucket that the specified instance type belongs to (%d vCPUs left, MinCount %d x %d for %s). Request an adjustment to this limit.", l.quota, l.vcpusLeft, spec.minCount, VCPUs(spec.instanceType), spec.instanceType)
	case failNotOffered, failZoneClosed:
		return errorf(http.StatusBadRequest, "Unsupported", "Your requested instance type (%s) is not supported in your requested Availability Zone (%s). Please retry your request by not specifying an Availability Zone or choosing %s.", spec.instanceType, l.zone, others)
	default:
		if spec.spot {
			return errorf(http.StatusInternalServerError, "InsufficientInstanceCapacity", "There is no Spot capacity available that matches your request (%s in %s: %d available, MinCount %d).", spec.instanceType, l.zone, l.available, spec.minCount)
		}
		return errorf(http.StatusInternalServerError, "InsufficientInstanceCapacity", "We currently do not have sufficient %s capacity in the Availability Zone you requested (%s): %d available, MinCount %d. Our system will be working on provisioning additional capacity. You can currently get %s capacity by not specifying an Availability Zone in your request or choosing %s.", spec.instanceType, l.zone, l.available, spec.minCount, spec.instanceType, others)
	}
}

// ec2OwnerID is the account id every emulated reservation belongs to.
const ec2OwnerID = "123456789012"

type ec2RunInstancesResponse struct {
	XMLName       xml.Name         `xml:"RunInstancesResponse"`
	Xmlns         string           `xml:"xmlns,attr"`
	RequestID     string           `xml:"requestId"`
	ReservationID string           `xml:"reservationId"`
	OwnerID       string           `xml:"ownerId"`
	GroupSet      struct{}         `xml:"groupSet"`
	Instances     []ec2InstanceDoc `xml:"instancesSet>item"`
}

type ec2State struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

var ec2StateCodes = map[string]int{statePending: 0, stateRunning: 16, stateShuttingDown: 32, stateTerminated: 48, stateStopping: 64, stateStopped: 80}

func ec2StateOf(name string) ec2State { return ec2State{Code: ec2StateCodes[name], Name: name} }

type ec2Reason struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type ec2TagItem struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type ec2InstanceDoc struct {
	InstanceID            string       `xml:"instanceId"`
	ImageID               string       `xml:"imageId"`
	State                 ec2State     `xml:"instanceState"`
	PrivateDNSName        string       `xml:"privateDnsName"`
	DNSName               string       `xml:"dnsName"`
	Reason                string       `xml:"reason"`
	AmiLaunchIndex        int          `xml:"amiLaunchIndex"`
	InstanceType          string       `xml:"instanceType"`
	LaunchTime            string       `xml:"launchTime"`
	AvailabilityZone      string       `xml:"placement>availabilityZone"`
	Tenancy               string       `xml:"placement>tenancy"`
	Monitoring            string       `xml:"monitoring>state"`
	SubnetID              string       `xml:"subnetId"`
	VpcID                 string       `xml:"vpcId"`
	PrivateIPAddress      string       `xml:"privateIpAddress"`
	SourceDestCheck       bool         `xml:"sourceDestCheck"`
	StateReason           *ec2Reason   `xml:"stateReason,omitempty"`
	Architecture          string       `xml:"architecture"`
	RootDeviceType        string       `xml:"rootDeviceType"`
	RootDeviceName        string       `xml:"rootDeviceName"`
	InstanceLifecycle     string       `xml:"instanceLifecycle,omitempty"`
	SpotInstanceRequestID string       `xml:"spotInstanceRequestId,omitempty"`
	VirtualizationType    string       `xml:"virtualizationType"`
	ClientToken           string       `xml:"clientToken"`
	Tags                  []ec2TagItem `xml:"tagSet>item"`
	Hypervisor            string       `xml:"hypervisor"`
	EbsOptimized          bool         `xml:"ebsOptimized"`
}

// ec2InstanceXML renders one instance. e.mu must be held (records mutate).
func ec2InstanceXML(r *record, now time.Time) ec2InstanceDoc {
	st := r.state(now)
	d := ec2InstanceDoc{
		InstanceID: r.id, ImageID: r.imageID, State: ec2StateOf(st),
		PrivateDNSName: "ip-" + strings.ReplaceAll(r.privateIP, ".", "-") + ".ec2.internal",
		AmiLaunchIndex: r.launchIndex, InstanceType: r.instanceType,
		LaunchTime:       r.launch.UTC().Format("2006-01-02T15:04:05.000Z"),
		AvailabilityZone: r.zone, Tenancy: "default", Monitoring: "disabled",
		SubnetID: r.subnet, VpcID: r.vpc, PrivateIPAddress: r.privateIP, SourceDestCheck: true,
		Architecture: "x86_64", RootDeviceType: "ebs", RootDeviceName: "/dev/xvda",
		VirtualizationType: "hvm", ClientToken: r.clientToken, Hypervisor: "xen",
	}
	if r.region != DefaultEC2Region {
		d.PrivateDNSName = "ip-" + strings.ReplaceAll(r.privateIP, ".", "-") + "." + r.region + ".compute.internal"
	}
	if r.spot {
		d.InstanceLifecycle = "spot"
		d.SpotInstanceRequestID = r.spotRequestID
	}
	if st == stateShuttingDown || st == stateTerminated {
		d.PrivateDNSName, d.PrivateIPAddress = "", ""
		if r.reclaimed(now) {
			d.StateReason = &ec2Reason{Code: "Server.SpotInstanceTermination", Message: "Server.SpotInstanceTermination: Spot instance termination"}
			d.Reason = "Server.SpotInstanceTermination: Spot instance termination"
		} else {
			d.StateReason = &ec2Reason{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"}
			d.Reason = fmt.Sprintf("User initiated (%s)", r.terminateAt.UTC().Format("2006-01-02 15:04:05 MST"))
		}
	} else if st == statePending {
		d.StateReason = &ec2Reason{Code: "pending", Message: "pending"}
	} else if st == stateStopping || st == stateStopped {
		d.StateReason = &ec2Reason{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"}
		d.Reason = fmt.Sprintf("User initiated (%s)", r.stoppedAt.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	for _, t := range r.tags {
		d.Tags = append(d.Tags, ec2TagItem(t))
	}
	return d
}

// ec2VisibleLocked reports whether DescribeInstances lists r: once its
// launch has propagated (Options.ConsistencyLag), and for an hour after
// it terminated.
func ec2VisibleLocked(r *record, now time.Time) bool {
	if r.api != APIEC2 || now.Before(r.visibleAt) {
		return false
	}
	t := r.terminatedAt(now)
	return t == nil || now.Sub(*t) < TerminatedRetention
}

type ec2DescribeInstancesResponse struct {
	XMLName      xml.Name            `xml:"DescribeInstancesResponse"`
	Xmlns        string              `xml:"xmlns,attr"`
	RequestID    string              `xml:"requestId"`
	Reservations []ec2ReservationDoc `xml:"reservationSet>item"`
	NextToken    string              `xml:"nextToken,omitempty"`
}

type ec2ReservationDoc struct {
	ReservationID string           `xml:"reservationId"`
	OwnerID       string           `xml:"ownerId"`
	GroupSet      struct{}         `xml:"groupSet"`
	Instances     []ec2InstanceDoc `xml:"instancesSet>item"`
}

// ec2Filter is one Filter.N of a Describe call, its values compiled.
type ec2Filter struct {
	name   string
	values []*wildcard
}

// matchAny reports whether any of have matches any of the filter's values.
func (f ec2Filter) matchAny(have ...string) bool {
	for _, h := range have {
		for _, v := range f.values {
			if v.match(h) {
				return true
			}
		}
	}
	return false
}

// parseEC2Filters reads Filter.N.Name and Filter.N.Value.M, refuses names
// that supported rejects (listing names in the message) and compiles the
// values.
func parseEC2Filters(p url.Values, supported func(name string) bool, names string) ([]ec2Filter, *apiError) {
	var out []ec2Filter
	filters, values := indexes(p, "Filter"), 0
	if len(filters) > MaxEC2Filters {
		return nil, errorf(http.StatusBadRequest, "FilterLimitExceeded", "The request has %d filters; the maximum number of filters is %d.", len(filters), MaxEC2Filters)
	}
	for _, n := range filters {
		pre := fmt.Sprintf("Filter.%d.", n)
		f := ec2Filter{name: p.Get(pre + "Name")}
		vals := indexed(p, pre+"Value")
		if values += len(vals); values > MaxEC2FilterValues {
			return nil, errorf(http.StatusBadRequest, "FilterLimitExceeded", "The maximum number of filter values specified on a single call is %d.", MaxEC2FilterValues)
		}
		if f.name == "" {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "The filter %sName is missing.", pre)
		}
		if len(vals) == 0 {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "The filter '%s' has no values (%sValue.1 is missing).", echo(f.name), pre)
		}
		for i, v := range vals {
			if len(v) > MaxEC2FilterValueLen {
				return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "The value %sValue.%d is %d bytes long; filter values are at most %d.", pre, i+1, len(v), MaxEC2FilterValueLen)
			}
			f.values = append(f.values, compileWildcard(v))
		}
		if !supported(f.name) {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "The filter '%s' is invalid (supported: %s).", echo(f.name), names)
		}
		out = append(out, f)
	}
	return out, nil
}

// instanceView is an instance as a Describe call filters it: the record's
// fields fixed at launch, read without the lock, and its state, taken
// under the lock when the call selected it.
type instanceView struct {
	r     *record
	state string
}

// ec2InstanceFilter accepts the filter names of DescribeInstances.
func ec2InstanceFilter(name string) bool {
	_, ok := ec2FilterFields[name]
	return ok || strings.HasPrefix(name, "tag:")
}

// ec2FilterFields maps filter names to the instance values they test. They
// read only what is fixed at launch, and the state of the view.
var ec2FilterFields = map[string]func(v instanceView) []string{
	"instance-id":              func(v instanceView) []string { return []string{v.r.id} },
	"instance-state-name":      func(v instanceView) []string { return []string{v.state} },
	"instance-state-code":      func(v instanceView) []string { return []string{strconv.Itoa(ec2StateCodes[v.state])} },
	"instance-type":            func(v instanceView) []string { return []string{v.r.instanceType} },
	"availability-zone":        func(v instanceView) []string { return []string{v.r.zone} },
	"subnet-id":                func(v instanceView) []string { return []string{v.r.subnet} },
	"vpc-id":                   func(v instanceView) []string { return []string{v.r.vpc} },
	"image-id":                 func(v instanceView) []string { return []string{v.r.imageID} },
	"reservation-id":           func(v instanceView) []string { return []string{v.r.reservationID} },
	"client-token":             func(v instanceView) []string { return []string{v.r.clientToken} },
	"private-ip-address":       func(v instanceView) []string { return []string{v.r.privateIP} },
	"spot-instance-request-id": func(v instanceView) []string { return []string{v.r.spotRequestID} },
	"instance-lifecycle": func(v instanceView) []string {
		if v.r.spot {
			return []string{"spot"}
		}
		return nil // on-demand instances carry no lifecycle value
	},
	"tag-key": func(v instanceView) []string {
		out := make([]string, len(v.r.tags))
		for i, t := range v.r.tags {
			out[i] = t.Key
		}
		return out
	},
	"tag-value": func(v instanceView) []string {
		out := make([]string, len(v.r.tags))
		for i, t := range v.r.tags {
			out[i] = t.Value
		}
		return out
	},
}

// match reports whether the instance passes the filter (OR across its
// values; * and ? are wildcards as in EC2). It takes no lock.
func (f ec2Filter) match(v instanceView) bool {
	var have []string
	if key, ok := strings.CutPrefix(f.name, "tag:"); ok {
		for _, t := range v.r.tags {
			if t.Key == key {
				have = append(have, t.Value)
			}
		}
	} else {
		have = ec2FilterFields[f.name](v)
	}
	if testHookFilterMatch != nil {
		testHookFilterMatch()
	}
	return f.matchAny(have...)
}

// testHookFilterMatch, when set by a test, runs as each filter is matched.
var testHookFilterMatch func()

// ec2Page is a Describe call's page: at most maxResults items (0: all of
// them) from offset, in the listing scope names.
type ec2Page struct {
	maxResults, offset int
	scope              pageScope
}

// ec2Selecting reports whether an EC2 Describe parameter chooses the
// listing's items (the filters and ids a NextToken is bound to).
func ec2Selecting(k string) bool {
	for _, prefix := range []string{"Filter.", "InstanceId.", "SubnetId.", "SpotInstanceRequestId."} {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return k == "IncludeAllInstances"
}

// parseEC2Page reads a paginated Describe call's MaxResults and NextToken,
// as EC2 checks them: MaxResults from 5 to 1000 (given empty, it is no
// number), and not with a list of instance ids (withIDs) where EC2
// forbids it; a NextToken that an answer to the same action, in the same
// region, with the same filters and ids handed out.
func parseEC2Page(c *ec2Call, withIDs bool) (ec2Page, *apiError) {
	p := c.p
	pg := ec2Page{scope: newPageScope("ec2", c.action, c.region, p, ec2Selecting)}
	if _, given := p["MaxResults"]; given {
		s := p.Get("MaxResults")
		if withIDs {
			return pg, errorf(http.StatusBadRequest, "InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 5 || n > 1000 {
			return pg, errorf(http.StatusBadRequest, "InvalidParameterValue", "Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", echo(s))
		}
		pg.maxResults = n
	}
	if tok := p.Get("NextToken"); tok != "" {
		off, other, problem := pg.scope.offset(tok)
		switch problem {
		case pageTokenMalformed:
			return pg, errorf(http.StatusBadRequest, "InvalidPaginationToken", "The pagination token '%s' is invalid: pass the nextToken of a previous response unchanged.", echo(tok))
		case pageTokenOtherCall:
			return pg, errorf(http.StatusBadRequest, "InvalidPaginationToken", "The pagination token '%s' is invalid for %s: it continues a listing of %s; pass a nextToken that %s answered, or leave NextToken out to list from the start.", echo(tok), c.action, apiName(other), c.action)
		case pageTokenOtherList:
			return pg, errorf(http.StatusBadRequest, "InvalidPaginationToken", "The pagination token '%s' is invalid: it continues a listing with other filters or ids, or in another region; pass the same filters and ids as the call that answered it (only MaxResults may change), or leave NextToken out to list from the start.", echo(tok))
		}
		pg.offset = off
	}
	return pg, nil
}

// pageOf is pg's page of items, and the token of the next page ("" when
// this is the last).
func pageOf[T any](items []T, pg ec2Page) ([]T, string) {
	offset := min(pg.offset, len(items))
	end := len(items)
	if pg.maxResults > 0 {
		end = min(offset+pg.maxResults, len(items))
	}
	next := ""
	if end < len(items) {
		next = pg.scope.token(end)
	}
	return items[offset:end], next
}

func (e *Emulator) ec2DescribeInstances(c *ec2Call) (any, *apiError) {
	p := c.p
	filters, ferr := parseEC2Filters(p, ec2InstanceFilter, "tag:KEY, "+strings.Join(sortedKeys(ec2FilterFields), ", "))
	if ferr != nil {
		return nil, ferr
	}
	ids := indexed(p, "InstanceId")
	for _, id := range ids {
		if !ec2InstanceID.MatchString(id) {
			return nil, errorf(http.StatusBadRequest, "InvalidInstanceID.Malformed", "Invalid id: \"%s\" (expecting \"i-\" followed by 8 or 17 hexadecimal characters)", echo(id))
		}
	}
	pg, apiErr := parseEC2Page(c, len(ids) > 0)
	if apiErr != nil {
		return nil, apiErr
	}
	// Select under the lock, noting each instance's state; match the
	// filters without it, so that a costly filter holds up no other call;
	// render the page under the lock again.
	e.mu.Lock()
	now := e.clock()
	selected, apiErr := e.ec2SelectLocked(c, ids, now)
	views := make([]instanceView, len(selected))
	for i, r := range selected {
		views[i] = instanceView{r: r, state: r.state(now)}
	}
	e.mu.Unlock()
	if apiErr != nil {
		return nil, apiErr
	}
	matched := selected[:0]
	for _, v := range views {
		ok := true
		for _, f := range filters {
			if !f.match(v) {
				ok = false
				break
			}
		}
		if ok {
			matched = append(matched, v.r)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := ec2DescribeInstancesResponse{Xmlns: EC2Namespace, RequestID: c.requestID}
	var page []*record
	page, out.NextToken = pageOf(matched, pg)
	if apiErr := e.admitLarge(c, len(page)); apiErr != nil {
		return nil, apiErr
	}
	for _, r := range page {
		n := len(out.Reservations)
		if n == 0 || out.Reservations[n-1].ReservationID != r.reservationID {
			out.Reservations = append(out.Reservations, ec2ReservationDoc{ReservationID: r.reservationID, OwnerID: ec2OwnerID})
			n++
		}
		out.Reservations[n-1].Instances = append(out.Reservations[n-1].Instances, ec2InstanceXML(r, now))
	}
	return out, nil
}

func ec2NotFound(ids []string) *apiError {
	if len(ids) == 1 {
		return errorf(http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", ids[0])
	}
	return errorf(http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(ids, ", "))
}

type ec2TerminateInstancesResponse struct {
	XMLName   xml.Name             `xml:"TerminateInstancesResponse"`
	Xmlns     string               `xml:"xmlns,attr"`
	RequestID string               `xml:"requestId"`
	Instances []ec2StateChangeItem `xml:"instancesSet>item"`
}

type ec2StateChangeItem struct {
	InstanceID    string   `xml:"instanceId"`
	CurrentState  ec2State `xml:"currentState"`
	PreviousState ec2State `xml:"previousState"`
}

func (e *Emulator) ec2TerminateInstances(c *ec2Call) (any, *apiError) {
	ids, err := ec2InstanceIDs(c, "TerminateInstances")
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock()
	if err := e.ec2UnknownLocked(c, ids, now); err != nil {
		return nil, err
	}
	out := ec2TerminateInstancesResponse{Xmlns: EC2Namespace, RequestID: c.requestID}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		r := e.instances[id]
		prev := e.terminateLocked(r, now)
		out.Instances = append(out.Instances, ec2StateChangeItem{InstanceID: id, PreviousState: ec2StateOf(prev), CurrentState: ec2StateOf(r.state(now))})
	}
	return out, nil
}

// ec2InstanceIDs reads the InstanceId.N of a call acting on instances
// (TerminateInstances, StopInstances): at least one, at most 1,000, each
// well formed.
func ec2InstanceIDs(c *ec2Call, action string) ([]string, *apiError) {
	ids := indexed(c.p, "InstanceId")
	if len(ids) == 0 {
		return nil, errorf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter InstanceId.1")
	}
	if len(ids) > 1000 {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "%s accepts at most 1000 instance IDs; the request has %d.", action, len(ids))
	}
	for _, id := range ids {
		if !ec2InstanceID.MatchString(id) {
			return nil, errorf(http.StatusBadRequest, "InvalidInstanceID.Malformed", "Invalid id: \"%s\" (expecting \"i-\" followed by 8 or 17 hexadecimal characters)", echo(id))
		}
	}
	return ids, nil
}

// ec2UnknownLocked refuses a call naming an instance this region does not
// show (yet, or any more), as EC2 refuses the whole call, changing
// nothing, if any id is unknown.
func (e *Emulator) ec2UnknownLocked(c *ec2Call, ids []string, now time.Time) *apiError {
	var missing []string
	for _, id := range ids {
		if r, ok := e.instances[id]; !ok || r.region != c.region || !ec2VisibleLocked(r, now) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return ec2NotFound(missing)
	}
	return nil
}

type ec2StopInstancesResponse struct {
	XMLName   xml.Name             `xml:"StopInstancesResponse"`
	Xmlns     string               `xml:"xmlns,attr"`
	RequestID string               `xml:"requestId"`
	Instances []ec2StateChangeItem `xml:"instancesSet>item"`
}

// ec2StopInstances stops instances as EC2 does: the whole call is refused,
// changing nothing, if an id is unknown, an instance is pending, shutting
// down or terminated (IncorrectInstanceState), or a spot instance of a
// one-time request (UnsupportedOperation: the emulator's spot requests are
// all one-time). Instances stopping or stopped already are answered as
// they are. A stopped instance is not terminated: DescribeInstances lists
// it as stopped until it is.
func (e *Emulator) ec2StopInstances(c *ec2Call) (any, *apiError) {
	ids, err := ec2InstanceIDs(c, "StopInstances")
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock()
	if err := e.ec2UnknownLocked(c, ids, now); err != nil {
		return nil, err
	}
	for _, id := range ids {
		r := e.instances[id]
		switch st := r.state(now); {
		case st == statePending || st == stateShuttingDown || st == stateTerminated:
			return nil, errorf(http.StatusBadRequest, "IncorrectInstanceState", "The instance '%s' is not in a state from which it can be stopped (it is %s).", id, st)
		case r.spot:
			return nil, errorf(http.StatusBadRequest, "UnsupportedOperation", "You can't stop the Spot Instance '%s' because it is associated with a one-time Spot Instance request. You can only stop Spot Instances associated with persistent Spot Instance requests.", id)
		}
	}
	out := ec2StopInstancesResponse{Xmlns: EC2Namespace, RequestID: c.requestID}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		r := e.instances[id]
		prev := e.stopLocked(r, now, false)
		out.Instances = append(out.Instances, ec2StateChangeItem{InstanceID: id, PreviousState: ec2StateOf(prev), CurrentState: ec2StateOf(r.state(now))})
	}
	return out, nil
}

type ec2DescribeInstanceStatusResponse struct {
	XMLName   xml.Name                `xml:"DescribeInstanceStatusResponse"`
	Xmlns     string                  `xml:"xmlns,attr"`
	RequestID string                  `xml:"requestId"`
	Statuses  []ec2InstanceStatusItem `xml:"instanceStatusSet>item"`
	NextToken string                  `xml:"nextToken,omitempty"`
}

type ec2InstanceStatusItem struct {
	InstanceID       string   `xml:"instanceId"`
	AvailabilityZone string   `xml:"availabilityZone"`
	State            ec2State `xml:"instanceState"`
	SystemStatus     string   `xml:"systemStatus>status"`
	InstanceStatus   string   `xml:"instanceStatus>status"`
}

// ec2DescribeInstanceStatus lists running instances (all states with
// IncludeAllInstances=true), with InstanceId.N.
func (e *Emulator) ec2DescribeInstanceStatus(c *ec2Call) (any, *apiError) {
	ids := indexed(c.p, "InstanceId")
	all := strings.EqualFold(c.p.Get("IncludeAllInstances"), "true")
	pg, apiErr := parseEC2Page(c, len(ids) > 0)
	if apiErr != nil {
		return nil, apiErr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock()
	recs, apiErr := e.ec2SelectLocked(c, ids, now)
	if apiErr != nil {
		return nil, apiErr
	}
	out := ec2DescribeInstanceStatusResponse{Xmlns: EC2Namespace, RequestID: c.requestID}
	for _, r := range recs {
		st := r.state(now)
		if st != stateRunning && !all {
			continue
		}
		status := "not-applicable"
		if st == stateRunning {
			status = "ok"
		} else if st == statePending {
			status = "initializing"
		}
		out.Statuses = append(out.Statuses, ec2InstanceStatusItem{InstanceID: r.id, AvailabilityZone: r.zone, State: ec2StateOf(st), SystemStatus: status, InstanceStatus: status})
	}
	out.Statuses, out.NextToken = pageOf(out.Statuses, pg)
	if apiErr := e.admitLarge(c, len(out.Statuses)); apiErr != nil {
		return nil, apiErr
	}
	return out, nil
}

// subnetsOf lists the subnet ids of a region.
func subnetsOf(api, region string) []string {
	var out []string
	for _, z := range zonesOf(api, region) {
		out = append(out, subnetOf(api, z))
	}
	return out
}

type ec2DescribeSubnetsResponse struct {
	XMLName   xml.Name        `xml:"DescribeSubnetsResponse"`
	Xmlns     string          `xml:"xmlns,attr"`
	RequestID string          `xml:"requestId"`
	Subnets   []ec2SubnetItem `xml:"subnetSet>item"`
	NextToken string          `xml:"nextToken,omitempty"`
}

type ec2SubnetItem struct {
	SubnetID         string `xml:"subnetId"`
	State            string `xml:"state"`
	VpcID            string `xml:"vpcId"`
	CidrBlock        string `xml:"cidrBlock"`
	AvailableIPs     int    `xml:"availableIpAddressCount"`
	AvailabilityZone string `xml:"availabilityZone"`
	DefaultForAz     bool   `xml:"defaultForAz"`
}

// ec2DescribeSubnets lists the region's subnets, one per zone (SubnetId.N
// and the subnet-id / availability-zone filters narrow it; MaxResults 5 to
// 1000 with NextToken pages it).
func (e *Emulator) ec2DescribeSubnets(c *ec2Call) (any, *apiError) {
	ids := indexed(c.p, "SubnetId")
	pg, apiErr := parseEC2Page(c, false)
	if apiErr != nil {
		return nil, apiErr
	}
	out := ec2DescribeSubnetsResponse{Xmlns: EC2Namespace, RequestID: c.requestID}
	for _, id := range ids {
		if _, ok := zoneOfSubnet(APIEC2, c.region, id); !ok {
			return nil, errorf(http.StatusBadRequest, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", echo(id))
		}
	}
	filters, ferr := parseEC2Filters(c.p, func(name string) bool {
		return name == "subnet-id" || name == "availability-zone" || name == "vpc-id"
	}, "subnet-id, availability-zone, vpc-id")
	if ferr != nil {
		return nil, ferr
	}
	for i, z := range zonesOf(APIEC2, c.region) {
		s := ec2SubnetItem{SubnetID: subnetOf(APIEC2, z), State: "available", VpcID: vpcOf(APIEC2, c.region),
			CidrBlock: fmt.Sprintf("10.%d.0.0/16", i), AvailableIPs: 65531, AvailabilityZone: z, DefaultForAz: true}
		if len(ids) > 0 && !slices.Contains(ids, s.SubnetID) {
			continue
		}
		keep := true
		for _, f := range filters {
			have := map[string]string{"subnet-id": s.SubnetID, "availability-zone": z, "vpc-id": s.VpcID}[f.name]
			keep = keep && f.matchAny(have)
		}
		if keep {
			out.Subnets = append(out.Subnets, s)
		}
	}
	out.Subnets, out.NextToken = pageOf(out.Subnets, pg)
	return out, nil
}

type ec2DescribeAvailabilityZonesResponse struct {
	XMLName   xml.Name      `xml:"DescribeAvailabilityZonesResponse"`
	Xmlns     string        `xml:"xmlns,attr"`
	RequestID string        `xml:"requestId"`
	Zones     []ec2ZoneItem `xml:"availabilityZoneInfo>item"`
}

type ec2ZoneItem struct {
	ZoneName   string `xml:"zoneName"`
	ZoneID     string `xml:"zoneId"`
	State      string `xml:"zoneState"`
	RegionName string `xml:"regionName"`
	ZoneType   string `xml:"zoneType"`
}

func (e *Emulator) ec2DescribeAvailabilityZones(c *ec2Call) (any, *apiError) {
	out := ec2DescribeAvailabilityZonesResponse{Xmlns: EC2Namespace, RequestID: c.requestID}
	for i, z := range zonesOf(APIEC2, c.region) {
		out.Zones = append(out.Zones, ec2ZoneItem{ZoneName: z, ZoneID: fmt.Sprintf("%s-az%d", ec2ZoneIDPrefix(c.region), i+1), State: "available", RegionName: c.region, ZoneType: "availability-zone"})
	}
	return out, nil
}

type ec2DescribeSpotInstanceRequestsResponse struct {
	XMLName   xml.Name             `xml:"DescribeSpotInstanceRequestsResponse"`
	Xmlns     string               `xml:"xmlns,attr"`
	RequestID string               `xml:"requestId"`
	Requests  []ec2SpotRequestItem `xml:"spotInstanceRequestSet>item"`
	NextToken string               `xml:"nextToken,omitempty"`
}

type ec2SpotRequestItem struct {
	SpotInstanceRequestID        string `xml:"spotInstanceRequestId"`
	Type                         string `xml:"type"`
	State                        string `xml:"state"`
	StatusCode                   string `xml:"status>code"`
	StatusUpdateTime             string `xml:"status>updateTime"`
	StatusMessage                string `xml:"status>message"`
	InstanceID                   string `xml:"instanceId"`
	CreateTime                   string `xml:"createTime"`
	ProductDescription           string `xml:"productDescription"`
	LaunchedAvailabilityZone     string `xml:"launchedAvailabilityZone"`
	InstanceInterruptionBehavior string `xml:"instanceInterruptionBehavior"`
}

// ec2SpotStatus is a spot request's state and status code as EC2's spot
// request lifecycle names them: fulfilled while running, marked-for-
// termination from the interruption notice on, then closed.
func ec2SpotStatus(r *record, now time.Time) (state, code, message string, updated time.Time) {
	switch {
	case r.reclaimed(now):
		return "closed", "instance-terminated-no-capacity", "Spot Instance terminated due to no available capacity.", *r.interruptAt
	case r.terminateAt != nil && !now.Before(*r.terminateAt):
		return "closed", "instance-terminated-by-user", "Spot Instance terminated due to user-initiated termination.", *r.terminateAt
	case r.noticeAt != nil && !now.Before(*r.noticeAt):
		return "active", "marked-for-termination", fmt.Sprintf("Spot Instance will be interrupted at %s.", r.interruptAt.UTC().Format(time.RFC3339)), *r.noticeAt
	case r.state(now) == statePending:
		return "open", "pending-fulfillment", "Your Spot request is pending evaluation.", r.launch
	default:
		return "active", "fulfilled", "Your Spot request is fulfilled.", r.launch.Add(r.bootDelay)
	}
}

// ec2DescribeSpotInstanceRequests lists the one-time spot requests behind
// spot instances (SpotInstanceRequestId.N, or the instance-id,
// spot-instance-request-id, state and status-code filters). Its status code
// turns to marked-for-termination when Interrupt announces a reclaim, as
// EC2's does during the two-minute notice.
func (e *Emulator) ec2DescribeSpotInstanceRequests(c *ec2Call) (any, *apiError) {
	ids := indexed(c.p, "SpotInstanceRequestId")
	filters, ferr := parseEC2Filters(c.p, func(name string) bool {
		switch name {
		case "instance-id", "spot-instance-request-id", "state", "status-code":
			return true
		}
		return false
	}, "instance-id, spot-instance-request-id, state, status-code")
	if ferr != nil {
		return nil, ferr
	}
	pg, apiErr := parseEC2Page(c, false)
	if apiErr != nil {
		return nil, apiErr
	}
	// Build the requests under the lock; filter them without it.
	e.mu.Lock()
	now := e.clock()
	var all []ec2SpotRequestItem
	for _, r := range e.order {
		if r.api != APIEC2 || r.region != c.region || r.spotRequestID == "" || !ec2VisibleLocked(r, now) {
			continue
		}
		if len(ids) > 0 && !slices.Contains(ids, r.spotRequestID) {
			continue
		}
		state, code, msg, updated := ec2SpotStatus(r, now)
		all = append(all, ec2SpotRequestItem{
			SpotInstanceRequestID: r.spotRequestID, Type: r.spotStrategy, State: state, StatusCode: code,
			StatusUpdateTime: updated.UTC().Format("2006-01-02T15:04:05.000Z"), StatusMessage: msg, InstanceID: r.id,
			CreateTime: r.launch.UTC().Format("2006-01-02T15:04:05.000Z"), ProductDescription: "Linux/UNIX",
			LaunchedAvailabilityZone: r.zone, InstanceInterruptionBehavior: "terminate",
		})
	}
	e.mu.Unlock()
	out := ec2DescribeSpotInstanceRequestsResponse{Xmlns: EC2Namespace, RequestID: c.requestID}
	found := map[string]bool{}
	for _, it := range all {
		have := map[string]string{"instance-id": it.InstanceID, "spot-instance-request-id": it.SpotInstanceRequestID, "state": it.State, "status-code": it.StatusCode}
		keep := true
		for _, f := range filters {
			keep = keep && f.matchAny(have[f.name])
		}
		if !keep {
			continue
		}
		found[it.SpotInstanceRequestID] = true
		out.Requests = append(out.Requests, it)
	}
	for _, id := range ids {
		if !found[id] && len(filters) == 0 {
			return nil, errorf(http.StatusBadRequest, "InvalidSpotInstanceRequestID.NotFound", "The spot instance request ID '%s' does not exist", echo(id))
		}
	}
	out.Requests, out.NextToken = pageOf(out.Requests, pg)
	if apiErr := e.admitLarge(c, len(out.Requests)); apiErr != nil {
		return nil, apiErr
	}
	return out, nil
}

// admitLarge lets an answer of n items be built and sent: at once when it
// holds at most LargeAnswerItems (as a paginated one always does), else
// only while fewer than MaxLargeAnswers such answers are in flight, the
// slot held until it is written (c.release). Past that it is EC2's
// RequestLimitExceeded, as EC2 throttles unpaginated calls over many
// resources: the SDKs retry it with backoff.
func (e *Emulator) admitLarge(c *ec2Call, n int) *apiError {
	if n <= LargeAnswerItems {
		return nil
	}
	select {
	case e.large <- struct{}{}:
		c.release = func() { <-e.large }
		return nil
	default:
		return errorf(http.StatusServiceUnavailable, "RequestLimitExceeded",
			"Request limit exceeded: this unpaginated %s would answer %d items while %d answers of more than %d are being sent; pass MaxResults (5 to 1000) and NextToken to page.",
			c.action, n, MaxLargeAnswers, LargeAnswerItems)
	}
}

// ec2SelectLocked returns the visible instances of the call's region: the
// ones named in ids (InvalidInstanceID.NotFound naming any that are not),
// or all of them in launch order. e.mu must be held.
func (e *Emulator) ec2SelectLocked(c *ec2Call, ids []string, now time.Time) ([]*record, *apiError) {
	var recs []*record
	if len(ids) > 0 {
		var missing []string
		for _, id := range ids {
			r, ok := e.instances[id]
			if !ok || r.region != c.region || !ec2VisibleLocked(r, now) {
				missing = append(missing, id)
				continue
			}
			recs = append(recs, r)
		}
		if len(missing) > 0 {
			return nil, ec2NotFound(missing)
		}
		return recs, nil
	}
	for _, r := range e.order {
		if r.region == c.region && ec2VisibleLocked(r, now) {
			recs = append(recs, r)
		}
	}
	return recs, nil
}

// ec2ZoneIDPrefix abbreviates a region the way EC2 zone ids do:
// us-east-1 → use1, ap-southeast-2 → apse2, eu-central-1 → euc1.
func ec2ZoneIDPrefix(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) != 3 {
		return region
	}
	var b strings.Builder
	b.WriteString(parts[0])
	rest := parts[1]
	for rest != "" {
		matched := false
		for _, w := range []string{"north", "south", "east", "west", "central"} {
			if strings.HasPrefix(rest, w) {
				b.WriteByte(w[0])
				rest = rest[len(w):]
				matched = true
				break
			}
		}
		if !matched {
			b.WriteString(rest)
			break
		}
	}
	b.WriteString(parts[2])
	return b.String()
}
