package sim

// The job queue and placement: size queues in arrival order, on-prem and cloud placement, job ends.

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// maxListed bounds Snapshot.PendingJobGPUs: the first pending jobs in
// arrival order, for baselines that go job by job (Slurm resumes at most
// ResumeRate nodes a minute, 300 by default, so a tick never needs more).
// The engine reads the whole queue from PendingBySize.
const maxListed = 512

// sizeQueue holds the pending jobs of one GPU size in arrival order, with
// their submit times. cloud is the GPUs each takes on a cloud instance
// (cloudShape): gpus, unless the trace gives jobs' CPUs or memory; 0 for
// jobs no instance holds.
type sizeQueue struct {
	gpus  int
	cloud int
	jobs  []int32
	subs  []time.Time
	head  int
}

func (q *sizeQueue) len() int { return len(q.jobs) - q.head }

func (q *sizeQueue) pop() {
	q.head++
	if q.head > 1024 && q.head*2 > len(q.jobs) {
		q.jobs = append(q.jobs[:0], q.jobs[q.head:]...)
		q.subs = append(q.subs[:0], q.subs[q.head:]...)
		q.head = 0
	}
}

// arrive queues job j as it is submitted, unless it can run nowhere
// (jobState.nowhere): larger than on-prem, and nothing the pool may rent
// holds it or every cloud run of it ends before it finishes (cloudless).
func (s *state) arrive(j int) {
	if g := s.jobs[j].GPUs; g > s.on.total() && (s.cloudless(j) || s.unservable(s.cloudSize(j))) {
		s.js[j].nowhere = true
		return
	}
	s.enqueue(j)
}

// unservable reports whether nothing the pool may rent holds a job of g
// GPUs (policy.CloudHolds; g 0: no instance holds its CPUs or memory),
// remembered per size: a trace of thousands of sizes asks once each.
func (s *state) unservable(g int) bool {
	if g == 0 {
		return true
	}
	return holdsNone(&s.unservableOf, s.pool, g)
}

// holdsNone reports whether no offering of p holds a job of g GPUs
// (policy.CloudHolds), remembered per size in *memo.
func holdsNone(memo *map[int]bool, p *policy.Pool, g int) bool {
	u, ok := (*memo)[g]
	if !ok {
		if *memo == nil {
			*memo = map[int]bool{}
		}
		u = policy.CloudHolds(p, g) != ""
		(*memo)[g] = u
	}
	return u
}

// unlisted reports whether none of the offerings a baseline's operator
// lists (operatorOfferings: no spot offering for jobs that do not
// checkpoint, unless it has nothing else) holds a job of g GPUs: the
// work Policy.BusyBurstable counts is that of the offerings the policy
// is shown. It is unservable where the pool lists no such spot offering.
func (s *state) unlisted(g int) bool {
	if s.listed == nil {
		s.listed = operatorOfferings(s.pool)
	}
	if s.listed == s.pool || g == 0 {
		return s.unservable(g)
	}
	return holdsNone(&s.unlistedOf, s.listed, g)
}

func (s *state) enqueue(j int) {
	qi := s.queueFor(j)
	s.queues[qi].jobs = append(s.queues[qi].jobs, int32(j))
	s.queues[qi].subs = append(s.queues[qi].subs, s.at(s.jobs[j].Submit))
	s.pend(&s.queues[qi], 1)
}

// queueFor is the index of job j's size queue, made when it has none:
// one per GPUs and cloud shape. A job that every cloud run of would be
// killed before it finishes (it outlasts every instance, or costs more
// than a hard budget pays in a period: cloudless) is
// queued as one no instance holds (cloud 0): it waits for on-prem, no
// policy is shown it as demand, and none runs it on the cloud, where
// each run would be paid for and thrown away.
func (s *state) queueFor(j int) int {
	g, c := s.jobs[j].GPUs, s.cloudSize(j)
	if s.cloudless(j) {
		c = 0
	}
	key := g<<32 | c
	qi, ok := s.queueOf[key]
	if !ok {
		qi = len(s.queues)
		s.queues = append(s.queues, sizeQueue{gpus: g, cloud: c})
		s.queueOf[key] = qi
	}
	return qi
}

// pend counts n more jobs of q pending (n < 0: fewer), and the jobs and
// GPUs the policies are shown apart (state.leftJobs, largerGPUs).
func (s *state) pend(q *sizeQueue, n int) {
	s.pendingJobs += n
	s.pendingGPUs += n * q.gpus
	if q.cloud == 0 {
		s.leftJobs += n
		s.leftGPUs += n * q.gpus
	} else {
		s.largerGPUs += n * (q.cloud - q.gpus)
	}
}

// place starts pending jobs in arrival order wherever they fit, skipping
// those that do not (greedy backfill). Jobs of one size fit or fail alike,
// and free capacity only shrinks during a pass, so once a job of some size
// fails every later job of that size is skipped without trying.
func (s *state) place() {
	if s.pendingJobs == 0 || (s.on.free == 0 && !s.cloudHasRoom()) {
		return
	}
	// The queues whose heads may start, as a heap by head (the oldest
	// first): a pass costs O(Q log Q) for Q sizes, not O(Q²), when jobs
	// of thousands of sizes are queued and few fit.
	h := s.placeHeap[:0]
	defer func() { s.placeHeap = h[:0] }()
	s.counts.passes++
	s.counts.steps += int64(len(s.queues))
	for qi := range s.queues {
		if q := &s.queues[qi]; q.len() > 0 && q.gpus <= s.on.free+s.cloudFree {
			h = append(h, int32(qi))
		}
	}
	less := func(a, b int32) bool {
		qa, qb := &s.queues[a], &s.queues[b]
		return qa.jobs[qa.head] < qb.jobs[qb.head]
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(h, i, less)
	}
	for len(h) > 0 {
		if s.on.free == 0 && !s.cloudHasRoom() {
			return
		}
		s.counts.steps++
		qi := h[0]
		q := &s.queues[qi]
		// A job needs at least its GPUs free somewhere; one that does not
		// fit now never fits later in the pass (capacity only shrinks).
		if j := q.jobs[q.head]; q.gpus <= s.on.free+s.cloudFree && s.tryStart(int(j), q.cloud) {
			q = &s.queues[qi] // as of now, should starting a job ever queue a size
			q.pop()
			s.pend(q, -1)
			if q.len() > 0 {
				siftDown(h, 0, less) // its next job is younger: down it goes
				continue
			}
		}
		// Done with this size for the pass: its head failed, or it is empty.
		last := len(h) - 1
		h[0] = h[last]
		h = h[:last]
		siftDown(h, 0, less)
	}
}

// siftDown restores the heap order of h below i.
func siftDown(h []int32, i int, less func(a, b int32) bool) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && less(h[r], h[l]) {
			m = r
		}
		if !less(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// tryStart starts job j where it fits: on-prem on its GPUs, else on the
// cloud on cloud GPUs (its queue's; 0: not on the cloud).
func (s *state) tryStart(j, cloud int) bool {
	var into []part // the run entry setParts takes next, if one is free
	if n := len(s.freeRuns); n > 0 {
		into = s.runs[s.freeRuns[n-1]]
	}
	parts := s.on.place(s.jobs[j].GPUs, into)
	if parts == nil && cloud > 0 {
		s.counts.steps += int64(len(s.alive)) // cloudFit's scan at most
		parts = s.cloudFit(cloud, into)
	}
	if parts == nil {
		return false
	}
	js := &s.js[j]
	s.setParts(j, parts)
	js.start = s.now
	js.cloud = false
	if !parts[0].cloud && (cloud == 0 || s.unlisted(cloud)) {
		js.onPremOnly = true
		s.onPremOnlyBusy += s.jobs[j].GPUs
	}
	for _, p := range parts {
		if p.cloud {
			js.cloud = true
			in := s.inst(p.idx)
			if in.free == in.gpus && in.idleSince >= 0 {
				s.idle.Reused(in.off.Key(), s.now-in.idleSince)
				s.endIdle(in)
			}
			s.cloudWhole -= s.spanWhole(in)
			in.free -= int(p.gpus)
			s.cloudFree -= int(p.gpus)
			s.room.set(int(p.idx), in.free)
			in.jobs++
			s.touch(p.idx)
		}
	}
	s.running++
	s.lastMove = s.now
	// What is left of the job (all of it unless a checkpoint saved some),
	// at the speed of where it runs.
	run := s.jobs[j].Duration - js.done
	if js.cloud {
		// Performance may be as low as config's 1e-9: a run that long
		// ends at the horizon (ErrHorizon, unless the run stops first
		// for want of progress), instead of overflowing the clock into
		// the past (a job on such an offering once ended at once).
		f := math.Ceil(float64(run) / s.speed(parts))
		run = time.Duration(min(f, float64(MaxSimulated-s.now+time.Second)))
	}
	s.push(event{at: s.now + run, kind: evJobEnd, id: int32(j), gen: js.gen})
	return true
}

// speed is the reference work a job placed on cloud parts does per unit of
// time: the offering's performance (the slowest of the instances it spans),
// divided by the pool's span slowdown when it spans several instances.
func (s *state) speed(parts []part) float64 {
	perf := math.Inf(1)
	n := 0
	for _, p := range parts {
		if p.cloud {
			perf = min(perf, offeringPerf(s.inst(p.idx).off))
			n++
		}
	}
	if n > 1 {
		perf /= s.pool.SpanSlowdown()
	}
	return perf
}

// addWork counts GPU-hours of reference work done on the cloud parts of
// a run, and what they are worth (see state.worth).
func (s *state) addWork(parts []part, gpuHours float64) {
	s.work += gpuHours
	price := s.cheapest
	for _, p := range parts {
		if p.cloud {
			if q := perUsefulGPUHour(s.inst(p.idx).off); q > 0 && q < price {
				price = q
			}
		}
	}
	s.worth += gpuHours * price
}

// kill ends job j's run on a terminated instance and requeues it. With a
// checkpoint interval, the run's whole intervals are kept: the job resumes
// with the rest of its work, and only the time since its last checkpoint
// is lost.
func (s *state) kill(j int) {
	js := &s.js[j]
	g := float64(s.jobs[j].GPUs)
	lost := s.now - js.start
	if c := s.pool.CheckpointInterval.D(); c > 0 {
		kept := lost / c * c
		work := s.jobs[j].Duration - js.done
		if w := float64(kept) * s.speed(s.partsOf(j)); w < float64(work) {
			work = time.Duration(w)
		}
		js.done += work
		lost -= kept
		s.res.UsedGPUHours += g * kept.Hours()
		s.addWork(s.partsOf(j), g*work.Hours())
	}
	s.res.GPUHoursLost += g * lost.Hours()
	if s.ran == nil {
		s.ran = map[int32]time.Duration{}
	}
	s.ran[int32(j)] += s.now - js.start
	s.release(j)
	js.gen++
	js.start = -1
	s.res.JobsKilled++
	s.enqueueFront(j)
}

// release frees a job's GPUs; it reports instances that became idle.
func (s *state) release(j int) {
	for _, p := range s.partsOf(j) {
		if !p.cloud {
			s.on.release(p.idx, int(p.gpus))
			continue
		}
		in := s.inst(p.idx)
		s.cloudWhole -= s.spanWhole(in)
		in.free += int(p.gpus)
		s.cloudWhole += s.spanWhole(in)
		if in.state == policy.StateRunning {
			s.cloudFree += int(p.gpus)
			s.room.set(int(p.idx), in.free)
		}
		in.jobs--
		s.touch(p.idx)
		if in.jobs == 0 {
			in.idleSince = s.now
			if in.state == policy.StateDraining {
				s.terminate(p.idx)
			}
		}
	}
	if js := &s.js[j]; js.onPremOnly {
		js.onPremOnly = false
		s.onPremOnlyBusy -= s.jobs[j].GPUs
	}
	s.setParts(j, nil)
	s.running--
	s.lastMove = s.now
}

// partsOf is where job j runs: its parts, or nil when it is not running.
func (s *state) partsOf(j int) []part {
	if r := s.js[j].run; r > 0 {
		return s.runs[r-1]
	}
	return nil
}

// setParts records job j's parts (nil: it no longer runs). A freed
// entry keeps its array, empty, for the next job placed on-prem
// (tryStart).
func (s *state) setParts(j int, parts []part) {
	js := &s.js[j]
	if js.run > 0 {
		s.runs[js.run-1] = s.runs[js.run-1][:0]
		s.freeRuns = append(s.freeRuns, js.run-1)
		js.run = 0
	}
	if parts == nil {
		return
	}
	if n := len(s.freeRuns); n > 0 {
		js.run = s.freeRuns[n-1] + 1
		s.freeRuns = s.freeRuns[:n-1]
		s.runs[js.run-1] = parts
		s.runJob[js.run-1] = int32(j)
		return
	}
	s.runs = append(s.runs, parts)
	s.runJob = append(s.runJob, int32(j))
	js.run = int32(len(s.runs))
}

func (s *state) finish(j int) {
	js := &s.js[j]
	if js.cloud {
		s.res.JobsOnCloud++
		s.res.UsedGPUHours += float64(s.jobs[j].GPUs) * (s.now - js.start).Hours()
		s.addWork(s.partsOf(j), float64(s.jobs[j].GPUs)*(s.jobs[j].Duration-js.done).Hours())
	}
	s.lastDone = s.now
	s.release(j)
}

// enqueueFront puts a killed job back in its size queue at its arrival
// position, so it keeps its place in line.
func (s *state) enqueueFront(j int) {
	q := &s.queues[s.queueFor(j)]
	pos := q.head + sort.Search(q.len(), func(i int) bool { return q.jobs[q.head+i] > int32(j) })
	q.jobs = slices.Insert(q.jobs, pos, int32(j))
	q.subs = slices.Insert(q.subs, pos, s.at(s.jobs[j].Submit))
	s.pend(q, 1)
}
