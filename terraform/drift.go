package terraform

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
)

// Drift is what a refresh-only plan found in one burst.
type Drift struct {
	// Burst is the burst's key (its directory name).
	Burst string
	// Resources are the addresses Terraform found changed or deleted
	// outside Terraform.
	Resources []string
	// Gone are the ids of instances the module's output no longer lists
	// after the refresh: they are gone from the cloud. Their keys are
	// dropped, so List stops reporting them and no later apply recreates
	// them (the scheduler decides whether to launch again).
	Gone []string
}

// Refresh looks for drift in every burst of cluster with a refresh-only
// plan. A burst whose plan changes anything gets the refresh-only apply of
// that plan (state and outputs only; no resource is changed), and its
// instances the output no longer lists are forgotten. It returns the
// bursts that drifted.
func (p *Provider) Refresh(ctx context.Context, cluster string) ([]Drift, error) {
	if cluster == "" {
		return nil, p.invalid("MissingParameter", "Refresh needs a cluster")
	}
	var keys []string
	ledgerErr := p.eachLedger(ctx, func(key string, l *ledger) {
		if l.Cluster == cluster && len(l.Outputs) > 0 {
			keys = append(keys, key)
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The bursts whose ledgers can be read are refreshed all the same.
	var (
		out  []Drift
		errs = []error{ledgerErr}
	)
	for _, key := range keys {
		d, err := p.refresh(ctx, key)
		if err != nil {
			errs = append(errs, inBurst(key, err))
			continue
		}
		if len(d.Resources) > 0 || len(d.Gone) > 0 {
			out = append(out, d)
		}
	}
	return out, errors.Join(errs...)
}

func (p *Provider) refresh(ctx context.Context, key string) (Drift, error) {
	d := Drift{Burst: key}
	b, unlock, err := p.open(ctx, key)
	if err != nil {
		return d, err
	}
	defer unlock()
	l, err := b.readLedger()
	if err != nil {
		return d, err
	}
	if _, err := b.checkState(ctx, l); err != nil {
		return d, err
	}
	if err := b.writeVars(l); err != nil {
		return d, err
	}
	var (
		changes bool
		logPath string
	)
	err = b.run(ctx, "refresh-plan", func(ctx context.Context, w io.Writer) error {
		if f, ok := w.(*runLog); ok {
			logPath = f.Name()
		}
		var perr error
		changes, perr = b.plan(ctx, w, "-refresh-only")
		return perr
	})
	if err != nil {
		return d, err
	}
	b.unhold("a run on it succeeded")
	d.Resources = driftedResources(logPath)
	if !changes {
		return d, nil
	}
	if err := b.run(ctx, "apply", func(ctx context.Context, w io.Writer) error {
		if f, ok := w.(*runLog); ok {
			logPath = f.Name()
		}
		return b.applyPlan(ctx, w)
	}); err != nil {
		return d, err
	}
	before := l.Outputs
	if err := b.readOutputs(ctx, l, logPath, false); err != nil {
		return d, err
	}
	for k, o := range before {
		if _, still := l.Outputs[k]; still {
			continue
		}
		d.Gone = append(d.Gone, o.ID)
		if s, ok := l.Slots[k]; ok {
			s.Ending = true
		}
	}
	slices.Sort(d.Gone)
	l.forgetEnded()
	if len(d.Gone) > 0 {
		p.log.Warn("instances gone from the cloud", "burst", key, "ids", d.Gone, "drifted", d.Resources)
	}
	return d, b.writeLedger(l)
}

// driftedResources reads the resource_drift messages of a -json plan log.
func driftedResources(logPath string) []string {
	var out []string
	eachLogMessage(logPath, "resource_drift", func(m logMessage) {
		out = append(out, m.Change.Resource.Addr)
	})
	return out
}

// logMessage is what Spillway reads of one message of a -json run log:
// a plan's resource_drift and planned_change, an apply's apply_complete.
type logMessage struct {
	Type   string `json:"type"`
	Change struct {
		Resource struct {
			Addr string `json:"addr"`
		} `json:"resource"`
		Action string `json:"action"`
		Reason string `json:"reason"`
	} `json:"change"`
	Hook struct {
		Resource struct {
			Addr string `json:"addr"`
		} `json:"resource"`
		Action  string `json:"action"`
		IDValue string `json:"id_value"`
	} `json:"hook"`
}

// eachLogMessage calls fn with each message of type typ in a -json run
// log (lines of up to 4 MiB); a log that cannot be read has none, and
// lines that are not such a message are passed over.
func eachLogMessage(logPath, typ string, fn func(m logMessage)) {
	f, err := os.Open(logPath)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var m logMessage
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Type == typ {
			fn(m)
		}
	}
}
