package api

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
)

// Bounds of the answers whose lists grow with use rather than with the
// config: a pool's active floors (one per manual burst) and its instances.
// A script opening 2,000 bursts made GET /v1/status 291 kB and the status
// page 832 kB, polled again and again; what is left out is counted, with
// where to list it.
const (
	// statusFloors is how many active manual bursts' floors each pool of
	// GET /v1/status and GET /v1/pools carries, after its schedules'.
	statusFloors = 10
	// statusDraining is how many draining instances each pool of GET
	// /v1/status and GET /v1/pools carries.
	statusDraining = 10
	// poolFloors (bursts' floors, after the schedules') and poolInstances
	// bound GET /v1/pools/{pool}.
	poolFloors    = 100
	poolInstances = 100
	// pageFloors bounds the bursts in the floors table of each pool on the
	// page, after its schedules (its instances are bounded by
	// pageInstances).
	pageFloors = 20
)

// newestFloors returns fs's schedule floors, every one (the config bounds
// them; in the order given), then at most n of its manual bursts', newest
// first (burst IDs start with their creation time), and how many bursts it
// left out: the oldest, which moreFloors lists. Cutting the schedules'
// floors too lost those past n, which no burst listing shows.
func newestFloors(fs []Floor, n int) ([]Floor, int) {
	out := slices.Clone(fs)
	slices.SortStableFunc(out, func(a, b Floor) int {
		if (a.Burst == "") != (b.Burst == "") {
			if a.Burst == "" {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.Burst, a.Burst)
	})
	schedules := slices.IndexFunc(out, func(f Floor) bool { return f.Burst != "" })
	if schedules < 0 {
		return out, 0
	}
	if bursts := len(out) - schedules; bursts > n {
		return out[:schedules+n], bursts - n
	}
	return out, 0
}

// moreFloors is where the floors left out are listed: the pool's active
// bursts, oldest first, as many as were left out up to a page of maxLimit,
// whose next cursor lists the rest.
func moreFloors(pool string, omitted int) string {
	if omitted == 0 {
		return ""
	}
	return "/v1/bursts?" + url.Values{"pool": {pool}, "limit": {strconv.Itoa(min(omitted, maxLimit))}}.Encode()
}

// boundSummary cuts a pool summary's active floors to statusFloors and its
// draining instances to statusDraining.
func boundSummary(p PoolSummary) PoolSummary {
	p.ActiveFloors, p.FloorsOmitted = newestFloors(p.ActiveFloors, statusFloors)
	p.Draining, p.DrainingOmitted = draining(p.Draining, statusDraining)
	p.MoreFloors = moreFloors(p.Name, p.FloorsOmitted)
	return p
}

// boundPool cuts a pool's floors to poolFloors (as newestFloors orders
// them) and its instances to the first poolInstances by ID, the first page
// of GET /v1/instances?pool=, whose next page MoreInstances names.
func boundPool(d PoolDetail) PoolDetail {
	d.Floors, d.FloorsOmitted = newestFloors(d.Floors, poolFloors)
	d.MoreFloors = moreFloors(d.Name, d.FloorsOmitted)
	in := slices.SortedStableFunc(slices.Values(d.Instances), func(a, b Instance) int { return cmp.Compare(a.ID, b.ID) })
	if len(in) > poolInstances {
		d.InstancesOmitted = len(in) - poolInstances
		in = in[:poolInstances]
		d.MoreInstances = "/v1/instances?" + url.Values{"pool": {d.Name}, "cursor": {in[len(in)-1].ID}}.Encode()
	}
	d.Floors, d.Instances = nonNil(d.Floors), nonNil(in)
	return d
}
