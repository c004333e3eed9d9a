package sim

// The timeline sampled for plots.

import (
	"slices"
	"time"
)

// Timeline is a sampled history of one run.
type Timeline struct {
	Start time.Time
	// Providers are the pool's providers, sorted; Sample.ProviderCost
	// follows their order.
	Providers []string
	Samples   []Sample
}

// Sample is the pool's state at one moment.
type Sample struct {
	At         time.Duration
	OnPremBusy int
	CloudGPUs  int
	QueuedGPUs int
	CostUSD    float64
	// ProviderCost is the cost billed so far per provider, in the order of
	// Timeline.Providers.
	ProviderCost []float64
}

// sampleUntil records timeline samples up to next. The state is constant
// from s.now until next; each sample holds the peak GPU counts since the
// previous one (so short queue spikes show) and the cost billed so far.
func (s *state) sampleUntil(next time.Duration) {
	if s.timeline == nil {
		return
	}
	p := &s.peak
	p.OnPremBusy = max(p.OnPremBusy, s.on.busy)
	p.CloudGPUs = max(p.CloudGPUs, s.cloudGPUs)
	p.QueuedGPUs = max(p.QueuedGPUs, s.pendingGPUs)
	tl := s.timeline
	if tl.Providers == nil {
		tl.Providers = []string{}
		for _, o := range s.pool.Offerings {
			if !slices.Contains(tl.Providers, o.Provider) {
				tl.Providers = append(tl.Providers, o.Provider)
			}
		}
		slices.Sort(tl.Providers)
	}
	for s.nextSampl <= next {
		cost := s.closedTotal
		byProv := make([]float64, len(tl.Providers))
		for k, name := range tl.Providers {
			byProv[k] = s.res.CostByProvider[name]
		}
		for _, ii := range s.alive {
			in := s.inst(ii)
			c := billedCost(in.off, s.at(in.launched), s.at(s.nextSampl))
			cost += c
			if k, ok := slices.BinarySearch(tl.Providers, in.off.Provider); ok {
				byProv[k] += c
			}
		}
		p.At, p.CostUSD, p.ProviderCost = s.nextSampl, cost, byProv
		s.timeline.Samples = append(s.timeline.Samples, *p)
		*p = Sample{OnPremBusy: s.on.busy, CloudGPUs: s.cloudGPUs, QueuedGPUs: s.pendingGPUs}
		s.nextSampl += s.sampleDt
	}
}

// finalSample adds a sample at the end of the run, once every instance has
// ended, unless one falls there: the last sample carries the whole bill.
func (s *state) finalSample() {
	tl := s.timeline
	if n := len(tl.Samples); n > 0 && tl.Samples[n-1].At == s.now {
		return
	}
	last := Sample{At: s.now, OnPremBusy: s.on.busy, CloudGPUs: s.cloudGPUs, QueuedGPUs: s.pendingGPUs, CostUSD: s.closedTotal,
		ProviderCost: make([]float64, len(tl.Providers))}
	for k, name := range tl.Providers {
		last.ProviderCost[k] = s.res.CostByProvider[name]
	}
	tl.Samples = append(tl.Samples, last)
}
