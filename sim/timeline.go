package sim

// The timeline sampled for plots.

import (
	"time"
)

// Timeline is a sampled history of one run.
type Timeline struct {
	Start   time.Time
	Samples []Sample
}

// Sample is the pool's state at one moment.
type Sample struct {
	At         time.Duration
	OnPremBusy int
	CloudGPUs  int
	QueuedGPUs int
	CostUSD    float64
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
	for s.nextSampl <= next {
		cost := s.closedTotal
		for _, ii := range s.alive {
			in := s.insts[ii]
			cost += billedCost(in.off, s.at(in.launched), s.at(s.nextSampl))
		}
		p.At, p.CostUSD = s.nextSampl, cost
		s.timeline.Samples = append(s.timeline.Samples, *p)
		*p = Sample{OnPremBusy: s.on.busy, CloudGPUs: s.cloudGPUs, QueuedGPUs: s.pendingGPUs}
		s.nextSampl += s.sampleDt
	}
}
