package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// What the capacity cache holds out of launches lives in memory and is
// stored as it changes, so that a restarted server or the next leader
// keeps skipping it (seed) rather than learning each again with a refused
// call (or, for an instance that never joined, a paid one), and followers
// show it (state.Unavailable). A provider's back-off after throttling or
// an invalid request is not stored: it is about this process's own calls,
// and a restart is how an operator puts a refused config right.

// storable says whether entries of kind are stored.
func storable(kind string) bool {
	return kind == state.UnavailableOffering || kind == state.UnavailableQuota
}

// unavailableKey is a stored entry's identity.
type unavailableKey struct {
	kind, provider, region, zone, instanceType, market string
}

func keyOfUnavailable(u *state.Unavailable) unavailableKey {
	return unavailableKey{u.Kind, u.Provider, u.Region, u.Zone, u.InstanceType, u.Market}
}

// unavailableAt lists what is held out of launches at now: the capacity
// cache's offerings and quota blocks, and the providers backing off (not
// stored).
func (s *Scheduler) unavailableAt(now time.Time) []state.Unavailable {
	un, bl := s.cache.Snapshot(now)
	why, blockWhy := s.cache.Causes(now), s.cache.BlockCauses(now)
	out := make([]state.Unavailable, 0, len(un)+len(bl))
	for k, until := range un {
		out = append(out, state.Unavailable{Kind: state.UnavailableOffering, Provider: k.Provider, Region: k.Region, Zone: k.Zone,
			InstanceType: k.InstanceType, Market: string(k.Market), Why: why[k], At: now, Until: until})
	}
	for b, until := range bl {
		provider, region, _ := strings.Cut(b, "/") // provider names hold no '/' (config)
		out = append(out, state.Unavailable{Kind: state.UnavailableQuota, Provider: provider, Region: region, Why: blockWhy[b], At: now, Until: until})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, b := range s.blocks {
		if now.Before(b.until) {
			kind := state.UnavailableThrottled
			if b.invalid {
				kind = state.UnavailableInvalid
			}
			out = append(out, state.Unavailable{Kind: kind, Provider: p, Why: b.why, At: now, Until: b.until})
		}
	}
	slices.SortFunc(out, func(a, b state.Unavailable) int {
		ka, kb := keyOfUnavailable(&a), keyOfUnavailable(&b)
		return cmp.Or(strings.Compare(ka.kind, kb.kind), strings.Compare(ka.provider, kb.provider), strings.Compare(ka.region, kb.region),
			strings.Compare(ka.zone, kb.zone), strings.Compare(ka.instanceType, kb.instanceType), strings.Compare(ka.market, kb.market))
	})
	return out
}

// saveUnavailable returns what is held out of launches at now
// (unavailableAt), having stored the entries that are new or were
// extended since they were stored, and deleted those stored that the
// cache no longer holds before they lapse (an offering that launched
// again). A failed write is logged and tried again at the next tick; one
// the store refuses as invalid is dropped. Pools tick at once: under smu,
// what is listed and what is stored change together, so one pool's tick
// never deletes what another's just stored.
func (s *Scheduler) saveUnavailable(ctx context.Context, now time.Time) []state.Unavailable {
	s.smu.Lock()
	defer s.smu.Unlock()
	us := s.unavailableAt(now)
	held := make(map[unavailableKey]bool, len(us))
	for i := range us {
		held[keyOfUnavailable(&us[i])] = true
	}
	for k, until := range s.stored {
		switch {
		case !now.Before(until):
			delete(s.stored, k)
		case !held[k]:
			u := state.Unavailable{Kind: k.kind, Provider: k.provider, Region: k.region, Zone: k.zone, InstanceType: k.instanceType, Market: k.market}
			if err := s.opts.Store.DeleteUnavailable(ctx, u); err != nil {
				s.log.Warn("deleting what is no longer held out of launches failed; retried at the next tick", "kind", u.Kind, "provider", u.Provider, "instance_type", u.InstanceType, "err", err)
				return us
			}
			delete(s.stored, k)
		}
	}
	for _, u := range us {
		if !storable(u.Kind) {
			continue
		}
		k := keyOfUnavailable(&u)
		if cur, ok := s.stored[k]; ok && !u.Until.After(cur) {
			continue
		}
		switch err := s.opts.Store.PutUnavailable(ctx, u); {
		case errors.Is(err, state.ErrInvalid):
			s.log.Warn("not stored what is held out of launches: the store refused it", "kind", u.Kind, "provider", u.Provider, "instance_type", u.InstanceType, "err", err)
		case err != nil:
			s.log.Warn("storing what is held out of launches failed; retried at the next tick", "kind", u.Kind, "provider", u.Provider, "instance_type", u.InstanceType, "err", err)
			return us
		}
		s.stored[k] = u.Until
	}
	return us
}

// seedStoredUnavailable puts back into the capacity cache what the state
// holds out of launches at now: offerings and quota blocks. Each entry is
// only ever extended, so a pool's seed after another's changes nothing.
func (s *Scheduler) seedStoredUnavailable(ctx context.Context, now time.Time) error {
	us, err := s.opts.Store.Unavailable(ctx, now)
	if err != nil {
		return fmt.Errorf("read what is held out of launches: %w", err)
	}
	s.smu.Lock()
	defer s.smu.Unlock()
	for i := range us {
		u := &us[i]
		switch u.Kind {
		case state.UnavailableOffering:
			s.cache.Hold(u.OfferingKey(), u.Until, u.Why)
		case state.UnavailableQuota:
			s.cache.Block(providers.BlockKey(u.Provider, u.Region), u.Until, u.Why)
		default:
			continue // a kind this server does not store
		}
		k := keyOfUnavailable(u)
		if u.Until.After(s.stored[k]) {
			s.stored[k] = u.Until
		}
	}
	return nil
}
