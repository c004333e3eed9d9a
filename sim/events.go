package sim

// The event queue: job ends, instances ready, spot notices and reclaims,
// join timeouts, in time order.

import (
	"time"
)

const (
	evJobEnd uint8 = iota
	evReady
	evNotice  // a spot reclaim notice
	evReclaim // the reclaim itself
	evNoJoin  // an instance still booting at its policy's join timeout
)

type event struct {
	at   time.Duration
	kind uint8
	id   int32
	gen  int32
	seq  uint64
}

func (a event) less(b event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	return a.seq < b.seq
}

type eventHeap []event

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[i].less(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *eventHeap) pop() event {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s[l].less(s[m]) {
			m = l
		}
		if r < n && s[r].less(s[m]) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

func (s *state) push(e event) {
	s.seq++
	e.seq = s.seq
	s.events.push(e)
}
