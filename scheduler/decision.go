package scheduler

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// Decision is what one tick of a pool decided and did, with every reason:
// the JSON stored in state as the decision's plan and served by the API.
type Decision struct {
	Pool       string          `json:"pool"`
	Time       time.Time       `json:"time"`
	DryRun     bool            `json:"dry_run,omitempty"`
	Summary    string          `json:"summary"`
	Snapshot   SnapshotSummary `json:"snapshot"`
	Launches   []LaunchRecord  `json:"launches,omitempty"`
	Drains     []ActionRecord  `json:"drains,omitempty"`
	Terminates []ActionRecord  `json:"terminates,omitempty"`
	Notes      []string        `json:"notes,omitempty"`
	Waste      int             `json:"idle_allocated_gpus,omitempty"`
	Spend      float64         `json:"spend_usd"`
	Budget     float64         `json:"budget_usd,omitempty"`
}

// LaunchRecord is one launch of a decision and its outcome.
type LaunchRecord struct {
	Offering  string   `json:"offering"`
	Count     int      `json:"count"`
	Floor     string   `json:"floor,omitempty"`
	Reason    string   `json:"reason"`
	Intent    string   `json:"intent,omitempty"`
	Instances []string `json:"instances,omitempty"`
	Outcome   string   `json:"outcome"`
	Cause     string   `json:"cause,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// ActionRecord is one drain or termination and its outcome.
type ActionRecord struct {
	Instance string `json:"instance"`
	Reason   string `json:"reason"`
	Outcome  string `json:"outcome"`
	Error    string `json:"error,omitempty"`
}

// SnapshotSummary is what the signals said.
type SnapshotSummary struct {
	OnPremGPUs        int      `json:"onprem_gpus"`
	OnPremBusyGPUs    int      `json:"onprem_busy_gpus"`
	IdleAllocatedGPUs int      `json:"idle_allocated_gpus,omitempty"`
	PendingJobs       int      `json:"pending_jobs"`
	PendingGPUs       int      `json:"pending_gpus"`
	OldestWaitSeconds float64  `json:"oldest_wait_s"`
	Stale             []string `json:"stale,omitempty"`
}

func summarise(s policy.Snapshot) SnapshotSummary {
	return SnapshotSummary{
		OnPremGPUs: s.OnPremGPUs, OnPremBusyGPUs: s.OnPremBusyGPUs, IdleAllocatedGPUs: s.IdleAllocatedGPUs,
		PendingJobs: s.PendingJobs, PendingGPUs: s.PendingGPUs, OldestWaitSeconds: s.OldestWait.Seconds(), Stale: s.Stale,
	}
}

// acted reports whether the decision launched, drained or terminated.
func (d *Decision) acted() bool {
	return len(d.Launches) > 0 || len(d.Drains) > 0 || len(d.Terminates) > 0
}

// summary is the decision in one line.
func (d *Decision) summary() string {
	var parts []string
	for _, l := range d.Launches {
		parts = append(parts, fmt.Sprintf("launch %d× %s: %s", l.Count, l.Offering, l.Outcome))
	}
	if n := len(d.Drains); n > 0 {
		parts = append(parts, fmt.Sprintf("drain %d", n))
	}
	if n := len(d.Terminates); n > 0 {
		parts = append(parts, fmt.Sprintf("terminate %d", n))
	}
	if len(parts) == 0 {
		if len(d.Notes) > 0 {
			return "hold: " + d.Notes[0]
		}
		return "hold: nothing to do"
	}
	return strings.Join(parts, "; ")
}

func (d *Decision) marshal() ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode decision: %w", err)
	}
	return b, nil
}

func slogLevel(acted bool) slog.Level {
	if acted {
		return slog.LevelInfo
	}
	return slog.LevelDebug
}
