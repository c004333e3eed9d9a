package emulator

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// record is one instance as the emulator keeps it. Its state is derived from
// its timestamps and the clock (see state).
type record struct {
	id, api, region, zone, subnet, vpc string
	instanceType, imageID              string
	spot                               bool
	spotStrategy                       string // ECS: SpotAsPriceGo, SpotWithPriceLimit; EC2: one-time
	spotPriceLimit                     float64
	chargeType                         string // ECS: PostPaid, PrePaid
	launch                             time.Time
	visibleAt                          time.Time // launch + Options.ConsistencyLag
	bootDelay                          time.Duration
	terminateAt                        *time.Time // a terminate call was accepted
	stoppedAt                          *time.Time // a stop call was accepted (EC2 StopInstances, ECS StopInstances)
	stopCharging                       bool       // ECS StoppedMode=StopCharging: a stopped instance bills no compute
	stopDelay                          time.Duration
	noticeAt, interruptAt              *time.Time // spot interruption notice and its deadline
	tags                               []Tag
	privateIP, clientToken, userData   string
	accessKeyID                        string // what the launch was signed with
	reservationID, spotRequestID       string
	launchIndex                        int
	name, hostName                     string
	// payload is the bytes of user data, tags and names the instance
	// carries (counted against Options.MaxInstanceBytes).
	payload int
}

// Canonical states (EC2's vocabulary; ECS maps them in its handler).
const (
	statePending      = "pending"
	stateRunning      = "running"
	stateShuttingDown = "shutting-down"
	stateTerminated   = "terminated"
	stateStopping     = "stopping"
	stateStopped      = "stopped"
)

// stopStart is when the instance began (or will begin) shutting down: the
// earlier of a terminate call and a spot interruption deadline.
func (r *record) stopStart() *time.Time {
	switch {
	case r.terminateAt == nil:
		return r.interruptAt
	case r.interruptAt == nil || r.terminateAt.Before(*r.interruptAt):
		return r.terminateAt
	default:
		return r.interruptAt
	}
}

// state is the instance's lifecycle state at now.
func (r *record) state(now time.Time) string {
	if s := r.stopStart(); s != nil && !now.Before(*s) {
		if now.Before(s.Add(r.stopDelay)) {
			return stateShuttingDown
		}
		return stateTerminated
	}
	if r.stoppedAt != nil && !now.Before(*r.stoppedAt) {
		if now.Before(r.stoppedAt.Add(r.stopDelay)) {
			return stateStopping
		}
		return stateStopped
	}
	if now.Before(r.launch.Add(r.bootDelay)) {
		return statePending
	}
	return stateRunning
}

// terminatedAt is when the instance reached terminated, or nil.
func (r *record) terminatedAt(now time.Time) *time.Time {
	s := r.stopStart()
	if s == nil {
		return nil
	}
	t := s.Add(r.stopDelay)
	if now.Before(t) {
		return nil
	}
	return &t
}

// reclaimed reports whether a spot interruption (not a terminate call) ended
// or is ending the instance.
func (r *record) reclaimed(now time.Time) bool {
	s := r.stopStart()
	return s != nil && r.interruptAt != nil && s.Equal(*r.interruptAt) && !now.Before(*s)
}

// consumesStock reports whether the instance holds a unit of stock.
func (r *record) consumesStock(now time.Time) bool {
	st := r.state(now)
	return st == statePending || st == stateRunning
}

func (r *record) tagMap() map[string]string {
	m := make(map[string]string, len(r.tags))
	for _, t := range r.tags {
		m[t.Key] = t.Value
	}
	return m
}

func (r *record) snapshot(now time.Time) Instance {
	in := Instance{
		ID: r.id, API: r.api, Region: r.region, Zone: r.zone, SubnetID: r.subnet,
		InstanceType: r.instanceType, ImageID: r.imageID, State: r.state(now), Spot: r.spot,
		LaunchTime: r.launch, Tags: slices.Clone(r.tags), PrivateIP: r.privateIP,
		ClientToken: r.clientToken, UserData: r.userData, AccessKeyID: r.accessKeyID,
	}
	if r.interruptAt != nil {
		t := *r.interruptAt
		in.InterruptAt = &t
	}
	return in
}

// zonesOf returns the zones of region as each API names them: EC2 appends a
// letter (us-east-1a), ECS a dash and a letter (cn-hangzhou-h).
func zonesOf(api, region string) []string {
	if api == APIECS {
		return []string{region + "-h", region + "-i", region + "-j"}
	}
	return []string{region + "a", region + "b", region + "c"}
}

// subnetOf names the one subnet (EC2) or vSwitch (ECS) of a zone.
func subnetOf(api, zone string) string {
	if api == APIECS {
		return "vsw-" + zone
	}
	return "subnet-" + zone
}

// vpcOf names the one VPC of a region.
func vpcOf(api, region string) string {
	return "vpc-" + region
}

// zoneOfSubnet maps a subnet or vSwitch id back to its zone in region.
func zoneOfSubnet(api, region, subnet string) (string, bool) {
	prefix := "subnet-"
	if api == APIECS {
		prefix = "vsw-"
	}
	zone, ok := strings.CutPrefix(subnet, prefix)
	if !ok || !slices.Contains(zonesOf(api, region), zone) {
		return "", false
	}
	return zone, true
}

type stockKey struct{ instanceType, zone string }

// Unlimited is the stock of an instance type no SetStock call limited.
const Unlimited = -1

// SetStock limits how many instances of instanceType may be pending or
// running at once in zone; zone "" sets the limit for every zone (replacing
// per-zone limits of that type). n < 0 means unlimited, the default.
// Terminating an instance returns its unit of stock.
func (e *Emulator) SetStock(instanceType, zone string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n < 0 {
		n = Unlimited
	}
	if zone == "" {
		for k := range e.stock {
			if k.instanceType == instanceType {
				delete(e.stock, k)
			}
		}
	}
	e.stock[stockKey{instanceType, zone}] = n
}

// SetOffered marks instanceType as sold (true, the default) or not sold in
// zone. instanceType "" closes or reopens the whole zone. Launching an
// unsold type fails with EC2's Unsupported or ECS's
// InvalidInstanceType.ZoneNotSupported; a closed zone with Unsupported or
// Zone.NotOnSale.
func (e *Emulator) SetOffered(instanceType, zone string, offered bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if offered {
		delete(e.offered, stockKey{instanceType, zone})
		return
	}
	e.offered[stockKey{instanceType, zone}] = false
}

// offerSettingsFull reports whether setting the stock (count) or marking
// the type not sold (notSold) in zone would add a setting past
// MaxOfferSettings.
func (e *Emulator) offerSettingsFull(instanceType, zone string, count, notSold bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := stockKey{instanceType, zone}
	_, hasStock := e.stock[k]
	_, hasOffered := e.offered[k]
	return count && !hasStock && len(e.stock) >= MaxOfferSettings ||
		notSold && !hasOffered && len(e.offered) >= MaxOfferSettings
}

// limitLocked is the stock limit of a type in a zone (Unlimited if none).
func (e *Emulator) limitLocked(instanceType, zone string) int {
	if n, ok := e.stock[stockKey{instanceType, zone}]; ok {
		return n
	}
	if n, ok := e.stock[stockKey{instanceType, ""}]; ok {
		return n
	}
	return Unlimited
}

// availableLocked is how many more instances of a type a zone can take;
// Unlimited if there is no limit.
func (e *Emulator) availableLocked(instanceType, zone string, now time.Time) int {
	limit := e.limitLocked(instanceType, zone)
	if limit < 0 {
		return Unlimited
	}
	key := stockKey{instanceType, zone}
	used, live := 0, e.byOffer[key][:0]
	for _, r := range e.byOffer[key] {
		if r.state(now) == stateTerminated {
			continue // terminated is final: drop it from the index
		}
		live = append(live, r)
		if r.consumesStock(now) {
			used++
		}
	}
	if len(live) == 0 {
		// A read names no new key: a zone or type no instance used
		// leaves nothing behind.
		delete(e.byOffer, key)
	} else {
		e.byOffer[key] = live
	}
	return max(limit-used, 0)
}

// StockEntry is one configured stock limit with what is left of it.
type StockEntry struct {
	InstanceType string `json:"instance_type"`
	Zone         string `json:"zone"` // "" = every zone
	Count        int    `json:"count"`
	// Available is what is left (for a zone-wide entry, the least left in
	// any zone that uses it).
	Available int `json:"available"`
}

// Stock lists the configured stock limits.
func (e *Emulator) Stock() []StockEntry {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock()
	var out []StockEntry
	for k, n := range e.stock {
		avail := n
		if n >= 0 {
			if k.zone != "" {
				avail = e.availableLocked(k.instanceType, k.zone, now)
			} else {
				zones := map[string]bool{}
				for o := range e.byOffer {
					if o.instanceType == k.instanceType {
						zones[o.zone] = true
					}
				}
				for z := range zones {
					if _, own := e.stock[stockKey{k.instanceType, z}]; !own {
						avail = min(avail, e.availableLocked(k.instanceType, z, now))
					}
				}
			}
		}
		out = append(out, StockEntry{InstanceType: k.instanceType, Zone: k.zone, Count: n, Available: avail})
	}
	slices.SortFunc(out, func(a, b StockEntry) int {
		return strings.Compare(a.InstanceType+"@"+a.Zone, b.InstanceType+"@"+b.Zone)
	})
	return out
}

// offeredLocked reports whether the type is sold in the zone and whether the
// whole zone is open.
func (e *Emulator) offeredLocked(instanceType, zone string) (typeOK, zoneOK bool) {
	if off, ok := e.offered[stockKey{"", zone}]; ok && !off {
		return false, false
	}
	if off, ok := e.offered[stockKey{instanceType, zone}]; ok && !off {
		return false, true
	}
	return true, true
}

// tokenRecord remembers a launch made with a client token.
type tokenRecord struct {
	fingerprint   string
	ids           []string
	reservationID string
}

// launchSpec is a validated launch request, common to both APIs.
type launchSpec struct {
	api, region, zone              string // zone "" lets the emulator choose
	accessKeyID                    string // the key the call was signed with
	instanceType, imageID          string
	spot                           bool
	spotStrategy                   string
	spotPriceLimit                 float64
	chargeType                     string
	minCount, maxCount             int
	tags                           []Tag
	userData, clientToken, fingerp string
	name, hostName                 string
}

// launchFailure says why a launch created nothing.
type launchFailure int

const (
	failNoCapacity    launchFailure = iota + 1 // fewer available than the minimum
	failNotOffered                             // the type is not sold in the zone
	failZoneClosed                             // the zone sells nothing
	failTokenMismatch                          // the client token was used with other parameters
	failQuota                                  // the account's vCPU quota is spent
	failInstanceLimit                          // the API has MaxInstances instances not yet terminated
	failInstanceBytes                          // their payload would pass MaxInstanceBytes
)

// launchError carries a launchFailure and what the message needs.
type launchError struct {
	kind      launchFailure
	zone      string
	available int
	otherZone []string // zones where the type may be had
	quota     int      // vCPUs, for failQuota; instances, for failInstanceLimit
	vcpusLeft int
	live      int // instances not yet terminated, for failInstanceLimit; their payload's bytes, for failInstanceBytes
	payload   int // each instance's payload, for failInstanceBytes
}

func (l *launchError) Error() string {
	return fmt.Sprintf("launch failed (%d) in %s: %d available", l.kind, l.zone, l.available)
}

// launch creates between spec.minCount and spec.maxCount instances, or
// replays the launch recorded under spec.clientToken. It returns the
// instances and whether they are a replay.
func (e *Emulator) launch(spec launchSpec) ([]*record, bool, *launchError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock()
	tokenKey := ""
	if spec.clientToken != "" {
		tokenKey = spec.api + "/" + spec.region + "/" + spec.clientToken
		if t, ok := e.tokens[tokenKey]; ok {
			if t.fingerprint != spec.fingerp {
				return nil, false, &launchError{kind: failTokenMismatch}
			}
			recs := make([]*record, 0, len(t.ids))
			for _, id := range t.ids {
				recs = append(recs, e.instances[id])
			}
			return recs, true, nil
		}
	}
	zones := zonesOf(spec.api, spec.region)
	zone := spec.zone
	if zone == "" {
		// Like EC2 without a subnet: pick the open zone with the most stock.
		best := -2
		for _, z := range zones {
			if typeOK, _ := e.offeredLocked(spec.instanceType, z); !typeOK {
				continue
			}
			a := e.availableLocked(spec.instanceType, z, now)
			if a == Unlimited {
				a = int(^uint(0) >> 1)
			}
			if a > best {
				best, zone = a, z
			}
		}
		if zone == "" {
			zone = zones[0]
		}
	}
	others := func() []string {
		var out []string
		for _, z := range zones {
			if ok, _ := e.offeredLocked(spec.instanceType, z); ok && z != zone && e.availableLocked(spec.instanceType, z, now) != 0 {
				out = append(out, z)
			}
		}
		return out
	}
	typeOK, zoneOK := e.offeredLocked(spec.instanceType, zone)
	if !zoneOK {
		return nil, false, &launchError{kind: failZoneClosed, zone: zone, otherZone: others()}
	}
	if !typeOK {
		return nil, false, &launchError{kind: failNotOffered, zone: zone, otherZone: others()}
	}
	n := spec.maxCount
	if a := e.availableLocked(spec.instanceType, zone, now); a != Unlimited {
		n = min(n, a)
		if n < spec.minCount {
			return nil, false, &launchError{kind: failNoCapacity, zone: zone, available: a, otherZone: others()}
		}
	}
	if quota, ok := e.quotaLocked(spec.api, spec.region); ok {
		per := VCPUs(spec.instanceType)
		left := max(quota-e.vcpusInUseLocked(spec.api, spec.region, now), 0)
		n = min(n, left/per)
		if n < spec.minCount {
			return nil, false, &launchError{kind: failQuota, zone: zone, quota: quota, vcpusLeft: left}
		}
	}
	payload := len(spec.userData) + len(spec.name) + len(spec.hostName)
	for _, t := range spec.tags {
		payload += len(t.Key) + len(t.Value)
	}
	room := func() int { // instances that fit, by count and by bytes
		r := e.maxInstances - e.kept[spec.api]
		if payload > 0 {
			r = min(r, (e.maxInstanceBytes-e.keptBytes[spec.api])/payload)
		}
		return r
	}
	if n > room() {
		e.forgetTerminatedLocked(spec.api, n-(e.maxInstances-e.kept[spec.api]), n*payload-(e.maxInstanceBytes-e.keptBytes[spec.api]), now)
		n = max(min(n, room()), 0)
		if n < spec.minCount {
			l := &launchError{kind: failInstanceLimit, zone: zone, available: n, quota: e.maxInstances, live: e.kept[spec.api]}
			if e.maxInstances-e.kept[spec.api] >= spec.minCount {
				l.kind, l.quota, l.live = failInstanceBytes, e.maxInstanceBytes, e.keptBytes[spec.api]
				l.payload = payload
			}
			return nil, false, l
		}
	}
	zoneIndex := slices.Index(zones, zone)
	reservation := ""
	if spec.api == APIEC2 {
		reservation = e.newIDLocked("r-", hexDigits, 17)
	}
	recs := make([]*record, 0, n)
	ids := make([]string, 0, n)
	for i := range n {
		r := &record{
			api: spec.api, region: spec.region, zone: zone, subnet: subnetOf(spec.api, zone),
			vpc: vpcOf(spec.api, spec.region), instanceType: spec.instanceType, imageID: spec.imageID,
			spot: spec.spot, spotStrategy: spec.spotStrategy, spotPriceLimit: spec.spotPriceLimit,
			chargeType: spec.chargeType, launch: now, visibleAt: now.Add(e.lag), bootDelay: e.bootDelay,
			tags: slices.Clone(spec.tags), clientToken: spec.clientToken, userData: spec.userData,
			reservationID: reservation, launchIndex: i, name: spec.name, hostName: spec.hostName,
			payload: payload, accessKeyID: spec.accessKeyID,
		}
		if spec.api == APIECS {
			r.id = e.newIDLocked("i-", alnum, 20)
		} else {
			r.id = e.newIDLocked("i-", hexDigits, 17)
			if spec.spot {
				r.spotRequestID = e.newIDLocked("sir-", alnum, 8)
			}
		}
		e.ipSeq++
		r.privateIP = e.privateIPLocked(zoneIndex)
		e.instances[r.id] = r
		e.kept[r.api]++
		e.keptBytes[r.api] += payload
		e.order = append(e.order, r)
		e.byOffer[stockKey{r.instanceType, r.zone}] = append(e.byOffer[stockKey{r.instanceType, r.zone}], r)
		e.byAccount[quotaKey{r.api, r.region}] = append(e.byAccount[quotaKey{r.api, r.region}], r)
		recs = append(recs, r)
		ids = append(ids, r.id)
	}
	if tokenKey != "" {
		e.tokens[tokenKey] = &tokenRecord{fingerprint: spec.fingerp, ids: ids, reservationID: reservation}
	}
	e.logger.Debug("launched", "api", spec.api, "zone", zone, "type", spec.instanceType, "count", n)
	return recs, false, nil
}

// forgetTerminatedLocked makes room for n more instances of api, and for
// bytes more of their payload, by forgetting terminated ones, oldest
// launch first. It forgets at least a batch (a 64th of the bound) when it
// forgets any, so that launches at the bound do not rescan every instance
// each time. A client token whose instances are all forgotten is forgotten
// too, as EC2 forgets tokens. e.mu must be held.
func (e *Emulator) forgetTerminatedLocked(api string, n, bytes int, now time.Time) {
	n = max(n, e.maxInstances/64)
	gone := map[*record]bool{}
	freed := 0
	for _, r := range e.order {
		if len(gone) >= n && freed >= bytes {
			break
		}
		if r.api == api && r.state(now) == stateTerminated {
			gone[r] = true
			freed += r.payload
		}
	}
	if len(gone) == 0 {
		return
	}
	forgotten := func(r *record) bool { return gone[r] }
	e.order = slices.DeleteFunc(e.order, forgotten)
	for k, rs := range e.byOffer {
		if e.byOffer[k] = slices.DeleteFunc(rs, forgotten); len(e.byOffer[k]) == 0 {
			delete(e.byOffer, k)
		}
	}
	for k, rs := range e.byAccount {
		if e.byAccount[k] = slices.DeleteFunc(rs, forgotten); len(e.byAccount[k]) == 0 {
			delete(e.byAccount, k)
		}
	}
	for r := range gone {
		delete(e.instances, r.id)
		if r.clientToken == "" {
			continue
		}
		key := r.api + "/" + r.region + "/" + r.clientToken
		if t, ok := e.tokens[key]; ok {
			if t.ids = slices.DeleteFunc(t.ids, func(id string) bool { return id == r.id }); len(t.ids) == 0 {
				delete(e.tokens, key)
			}
		}
	}
	e.kept[api] -= len(gone)
	e.keptBytes[api] -= freed
	e.logger.Debug("forgot terminated instances", "api", api, "count", len(gone))
}

// terminate starts shutting the instance down; it reports the state before.
// e.mu must be held.
func (e *Emulator) terminateLocked(r *record, now time.Time) (prev string) {
	prev = r.state(now)
	if s := r.stopStart(); s != nil && !now.Before(*s) {
		return prev
	}
	t := now
	r.terminateAt = &t
	r.stopDelay = e.bootDelay
	return prev
}

// stopLocked stops r, as EC2 and ECS StopInstances do: it is stopping for
// the boot delay, then stopped until it is started (never, here) or
// terminated. A stopped instance is not terminated: it keeps its disks (and
// on ECS, unless stopCharging, its compute) and its bill. A stop of an
// instance stopping or stopped already changes nothing. The caller checks
// that r may be stopped. e.mu must be held.
func (e *Emulator) stopLocked(r *record, now time.Time, stopCharging bool) (prev string) {
	prev = r.state(now)
	if r.stoppedAt != nil {
		return prev
	}
	t := now
	r.stoppedAt = &t
	r.stopCharging = stopCharging
	r.stopDelay = e.bootDelay
	return prev
}

// maxXlarge bounds the N of an Nxlarge size (the largest real ones are
// 224xlarge); a larger N counts as an unknown size.
const maxXlarge = 1024

// VCPUs is the emulator's vCPU count for an instance type, read from its
// size as EC2 and ECS name them: medium 1, large 2, xlarge 4, Nxlarge 4N
// (p4d.24xlarge 96, ecs.gn7i-c8g1.2xlarge 8); anything else counts 2.
func VCPUs(instanceType string) int {
	size := instanceType[strings.LastIndex(instanceType, ".")+1:]
	switch {
	case size == "medium":
		return 1
	case size == "large":
		return 2
	case size == "xlarge":
		return 4
	case strings.HasSuffix(size, "xlarge"):
		if n, err := strconv.Atoi(strings.TrimSuffix(size, "xlarge")); err == nil && n > 0 && n <= maxXlarge {
			return 4 * n
		}
	case size == "metal":
		return 96
	}
	return 2
}

type quotaKey struct{ api, region string }

// SetVCPUQuota limits the vCPUs of pending and running instances an account
// may hold in a region of an API (APIEC2 or APIECS); region "" sets it for
// every region. n < 0 removes the limit (the default). A launch that would
// leave fewer than its minimum count within the quota fails with EC2's
// VcpuLimitExceeded (MaxSpotInstanceCountExceeded for spot) or ECS's
// QuotaExceed.ElasticQuota.
func (e *Emulator) SetVCPUQuota(api, region string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n < 0 {
		delete(e.quotas, quotaKey{api, region})
		return
	}
	if region != "" {
		e.serveRegionLocked(api, region)
	}
	e.quotas[quotaKey{api, region}] = n
}

func (e *Emulator) quotaLocked(api, region string) (int, bool) {
	if n, ok := e.quotas[quotaKey{api, region}]; ok {
		return n, true
	}
	n, ok := e.quotas[quotaKey{api, ""}]
	return n, ok
}

func (e *Emulator) vcpusInUseLocked(api, region string, now time.Time) int {
	key := quotaKey{api, region}
	total, live := 0, e.byAccount[key][:0]
	for _, r := range e.byAccount[key] {
		if r.state(now) == stateTerminated {
			continue
		}
		live = append(live, r)
		if r.consumesStock(now) {
			total += VCPUs(r.instanceType)
		}
	}
	if len(live) == 0 {
		delete(e.byAccount, key)
	} else {
		e.byAccount[key] = live
	}
	return total
}

// QuotaEntry is one vCPU quota with what is in use.
type QuotaEntry struct {
	API    string `json:"api"`
	Region string `json:"region"` // "" = every region
	VCPUs  int    `json:"vcpus"`
	InUse  int    `json:"in_use,omitempty"` // for a regional entry
}

// Quotas lists the vCPU quotas.
func (e *Emulator) Quotas() []QuotaEntry {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock()
	out := []QuotaEntry{}
	for k, n := range e.quotas {
		q := QuotaEntry{API: k.api, Region: k.region, VCPUs: n}
		if k.region != "" {
			q.InUse = e.vcpusInUseLocked(k.api, k.region, now)
		}
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b QuotaEntry) int { return strings.Compare(a.API+"/"+a.Region, b.API+"/"+b.Region) })
	return out
}

// NotOffered lists the (instance type, zone) pairs marked not sold; an
// empty instance type is a closed zone.
func (e *Emulator) NotOffered() []StockEntry {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []StockEntry{}
	for k := range e.offered {
		out = append(out, StockEntry{InstanceType: k.instanceType, Zone: k.zone})
	}
	slices.SortFunc(out, func(a, b StockEntry) int {
		return strings.Compare(a.InstanceType+"@"+a.Zone, b.InstanceType+"@"+b.Zone)
	})
	return out
}

// privateIPLocked hands out the next private address: from the configured
// range when there is one (skipping the range's first address), else
// 10.ZONE.x.y. e.mu must be held.
func (e *Emulator) privateIPLocked(zoneIndex int) string {
	if !e.ipRange.IsValid() {
		return fmt.Sprintf("10.%d.%d.%d", zoneIndex, (e.ipSeq/250)%256, e.ipSeq%250+4)
	}
	bits := e.ipRange.Addr().BitLen() - e.ipRange.Bits()
	size := uint64(1) << min(bits, 62)
	n := uint64(e.ipSeq)
	if size > 1 {
		n = 1 + (n-1)%(size-1) // never the range's first address
	} else {
		n = 0
	}
	b := e.ipRange.Addr().AsSlice()
	for i := len(b) - 1; i >= 0 && n > 0; i-- {
		sum := uint64(b[i]) + n&0xff
		b[i] = byte(sum)
		n = n>>8 + sum>>8
	}
	a, _ := netip.AddrFromSlice(b)
	return a.String()
}
