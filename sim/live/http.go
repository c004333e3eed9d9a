package live

import (
	"encoding/json"
	"net/http"
)

// serveQueue answers the queue document: each waiting job's GPUs in queue
// order, how long each and the oldest have waited, in simulated seconds.
func (m *Model) serveQueue(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	now := m.opts.Clock.Now()
	var doc queueDoc
	doc.Time = now
	doc.Pending.JobGPUs = make([]int, 0, len(m.waiting))
	doc.Pending.JobWaitSeconds = make([]float64, 0, len(m.waiting))
	for _, j := range m.waiting {
		wait := max(now.Sub(j.submit).Seconds(), 0)
		doc.Pending.JobGPUs = append(doc.Pending.JobGPUs, j.gpus)
		doc.Pending.JobWaitSeconds = append(doc.Pending.JobWaitSeconds, wait)
		doc.Pending.OldestWaitSeconds = max(doc.Pending.OldestWaitSeconds, wait)
	}
	for _, j := range m.running {
		doc.Running.Jobs++
		doc.Running.GPUs += j.gpus
	}
	m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

// serveDrain is the drain hook's target: the instance's node takes no new
// jobs; the ones running go on until they end or the instance does.
func (m *Model) serveDrain(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	m.mu.Lock()
	m.drained[id] = true
	found := false
	for _, n := range m.nodes {
		if n.instance == id {
			n.draining, found = true, true
		}
	}
	m.mu.Unlock()
	m.log.Info("burst node draining", "instance", id, "in_cluster", found)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"instance": id, "draining": true, "in_cluster": found})
}
