package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
)

// Bounds on a config file and its values. The decoder refuses anything
// beyond them with the field, the value and the valid range, so no config
// can make Spillway parse for long, hold much memory, or compute with
// numbers that overflow.
const (
	// MaxFileBytes bounds a config file (real ones are a few KiB).
	MaxFileBytes = 4 << 20
	// MaxNumberBytes bounds the text of a number or a duration (the
	// longest a duration holds, 2562047h47m16.854775807s, is 24; one
	// written in words, 1 hour 30 minutes and 15 seconds, 33).
	MaxNumberBytes = 64
	// MaxNodeVisits bounds the values the decoder visits beyond those
	// written in the file (which MaxFileBytes bounds): each use of an alias
	// or a merge key (<<) visits the aliased values again, so a small file
	// of nested aliases could otherwise expand exponentially.
	MaxNodeVisits = 100_000
	// MaxInt bounds every whole number (int fields), so a product of two
	// cannot overflow.
	MaxInt = math.MaxInt32
	// MaxFloat and MinFloat bound every number's size (0 is allowed):
	// nothing Spillway reads needs more, and denormal values print as 0.
	MaxFloat = 1e15
	MinFloat = 1e-9
	// MaxDuration bounds every duration.
	MaxDuration = 366 * 24 * time.Hour

	// MaxNodes, MaxGPUsPerNode and MaxPoolGPUs bound a pool's on-prem size:
	// nodes × gpus_per_node at most MaxPoolGPUs. MaxPoolGPUs also bounds
	// limits.max_gpus, schedules' and manual bursts' GPUs.
	MaxNodes       = 100_000
	MaxGPUsPerNode = signals.MaxNodeGPUs
	MaxPoolGPUs    = 1 << 20
	// MaxOfferingGPUs bounds an offering's GPUs per instance.
	MaxOfferingGPUs = 1024
	// MinPrice and MaxPrice bound an offering's price_per_hour (USD);
	// MaxCost bounds max_cost_per_hour and budget amounts.
	MinPrice = 0.0001
	MaxPrice = 100_000.0
	MaxCost  = 1e12
	// MaxPerformance bounds an offering's relative performance.
	MaxPerformance = 1000.0
	// MaxOfferingVCPUs and MaxOfferingMemoryGiB bound an offering's vcpus
	// and memory_gib (the largest instances have 896 vCPUs and 32 TiB).
	MaxOfferingVCPUs     = 1 << 16
	MaxOfferingMemoryGiB = 1 << 20

	// MinCheckpointInterval and MaxCheckpointInterval bound a pool's
	// checkpoint_interval when it is not 0 (jobs that do not checkpoint):
	// jobs checkpoint at least every minute (more often costs more than it
	// saves) and at most weekly (beyond, it changes nothing a backtest sees).
	MinCheckpointInterval = time.Minute
	MaxCheckpointInterval = 7 * 24 * time.Hour
	// MaxSpanMinGPUs bounds span.min_gpus (at least 1): an instance's GPUs.
	MaxSpanMinGPUs = MaxOfferingGPUs
	// MinSpanSlowdown and MaxSpanSlowdown bound span.slowdown: a job runs
	// from 1 (no slowdown) to 10 times longer across instances than
	// within one.
	MinSpanSlowdown = 1.0
	MaxSpanSlowdown = 10.0

	// MinBootP95 and MaxBootP95 bound simulate.cloud.boot_p95, the p95
	// boot time as a multiple of the median.
	MinBootP95 = 1.0
	MaxBootP95 = 10.0
	// MaxSpotProtection bounds simulate.cloud's spot_protection: Alibaba's
	// longest protection period (RunInstances' SpotDuration, 0 to 6 hours).
	MaxSpotProtection = 6 * time.Hour
	// MaxBaselineDuration bounds the baselines' durations (cooldowns,
	// intervals, suspend times) and MaxResumeRate per-job's resume_rate,
	// as --baseline-opt does.
	MaxBaselineDuration = 30 * 24 * time.Hour
	MaxResumeRate       = 100_000
	// MinThresholdTarget bounds simulate.baselines.threshold.target
	// (at most 1) from below, as sim.MinThresholdTarget does
	// --baseline-opt: the baseline rents the GPUs in use divided by the
	// target, so below a tenth it rents more than ten GPUs for each one in
	// use, and near 0 without limit.
	MinThresholdTarget = 0.1
)

// readBounded reads a config file of at most MaxFileBytes; a file it
// cannot read is a *ReadError.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &ReadError{Path: path, Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, &ReadError{Path: path, Err: err}
	}
	return data, nil // ParseContext refuses more than MaxFileBytes
}

// document decodes the one YAML document of data. A second document with
// content (after a "---" line) is refused: it would otherwise be ignored
// without a word. ok is false when d holds the problem.
func (d *cfgDecoder) document(data []byte) (doc yaml.Node, ok bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		d.syntaxError(err, data)
		return doc, false
	}
	for {
		var extra yaml.Node
		err := dec.Decode(&extra)
		if errors.Is(err, io.EOF) {
			return doc, true
		}
		if err != nil {
			d.syntaxError(err, data)
			return doc, false
		}
		if len(extra.Content) > 0 && !cfgIsNull(extra.Content[0]) {
			c := extra.Content[0]
			d.errs = append(d.errs, FieldError{File: d.file, Line: c.Line, Col: c.Column,
				Msg: "a second YAML document starts here (after a --- line): a config is one document; remove the --- line and what follows, or put it in a file of its own"})
			return doc, false
		}
	}
}

// cfgCountNodes counts the values written in doc, each once (an alias
// counts as one, whatever it refers to).
func cfgCountNodes(doc *yaml.Node) int {
	count, stack := 0, []*yaml.Node{doc}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		count++
		stack = append(stack, n.Content...)
	}
	return count
}

// visit counts one value and reports whether decoding may go on: it stops
// (once, recording why at n) past MaxNodeVisits or when ctx ends.
func (d *cfgDecoder) visit(n *yaml.Node, path string) bool {
	if d.stopped != nil {
		return false
	}
	d.visits++
	if d.visits > d.maxVisits {
		d.stopped = errors.New("too many values")
		// Report where the expansion is used: the value being decoded at
		// path, else the node reached.
		at := n
		if pn, ok := d.nodes[path]; ok {
			at = pn
		}
		line, col := d.position(at, path)
		d.errs = append(d.errs, FieldError{File: d.file, Line: line, Col: col, Field: path,
			Msg: fmt.Sprintf("the config expands to more than %d values through aliases (*name) and merge keys (<<): write the values out, or use fewer nested aliases", MaxNodeVisits)})
		return false
	}
	if d.visits%1024 == 0 && d.ctx != nil {
		if err := d.ctx.Err(); err != nil {
			d.stopped = err
			d.errs = append(d.errs, FieldError{File: d.file, Line: n.Line, Col: n.Column, Msg: "reading the config was cancelled: " + err.Error()})
			return false
		}
	}
	return true
}

var (
	cfgPolicyDurationType = reflect.TypeFor[policy.Duration]()
	cfgIdleType           = reflect.TypeFor[policy.IdleSetting]()
)

// checkDuration bounds a decoded duration at MaxDuration either way.
func (d *cfgDecoder) checkDuration(n *yaml.Node, v reflect.Value, path string) {
	var dur time.Duration
	switch v.Type() {
	case cfgDurationType, cfgPolicyDurationType:
		dur = time.Duration(v.Int())
	case cfgIdleType:
		dur = v.Interface().(policy.IdleSetting).Duration
	default:
		return
	}
	if dur > MaxDuration || dur < -MaxDuration {
		d.errNode(n, path, fmt.Sprintf("duration %s is out of range: want at most %s (%v)", n.Value, "366 days", MaxDuration))
		v.Set(reflect.Zero(v.Type())) // later checks must not compute with it
	}
}

// checkBounds checks the upper bounds of pools' sizes, counts and prices
// (their lower bounds are checked with the rest of each pool) and the
// products that must not overflow.
func (v *cfgValidator) checkBounds(cfg *Config) {
	for i := range cfg.Pools {
		p := &cfg.Pools[i].Policy
		pp := fmt.Sprintf("pools[%d]", i)
		intMax := func(path string, n, limit int, what string) bool {
			if n > limit {
				v.errf(path, "%d %s is out of range: want at most %d", n, what, limit)
				return false
			}
			return true
		}
		nodesOK := intMax(pp+".onprem.nodes", p.OnPrem.Nodes, MaxNodes, "nodes")
		perOK := intMax(pp+".onprem.gpus_per_node", p.OnPrem.GPUsPerNode, MaxGPUsPerNode, "GPUs per node")
		if nodesOK && perOK && p.OnPrem.Nodes > 0 && p.OnPrem.GPUsPerNode > 0 {
			if total := int64(p.OnPrem.Nodes) * int64(p.OnPrem.GPUsPerNode); total > MaxPoolGPUs {
				v.errf(pp+".onprem.nodes", "%d nodes × %d GPUs per node = %d on-prem GPUs is out of range: want at most %d", p.OnPrem.Nodes, p.OnPrem.GPUsPerNode, total, MaxPoolGPUs)
			}
		}
		intMax(pp+".limits.max_gpus", p.Limits.MaxGPUs, MaxPoolGPUs, "GPUs")
		intMax(pp+".manual.max_gpus", p.Manual.MaxGPUs, MaxPoolGPUs, "GPUs")
		for j, s := range p.Schedules {
			intMax(fmt.Sprintf("%s.schedules[%d].gpus", pp, j), s.GPUs, MaxPoolGPUs, "GPUs")
		}
		costMax := func(path string, f float64) {
			if f > MaxCost {
				v.errf(path, "%s is out of range: want at most %s", cfgFloat(f), cfgFloat(MaxCost))
			}
		}
		costMax(pp+".limits.max_cost_per_hour", p.Limits.MaxCostPerHour)
		if b := p.Limits.Budget; b != nil {
			costMax(pp+".limits.budget.amount", b.Amount)
		}
		for j := range p.Offerings {
			o := &p.Offerings[j]
			op := fmt.Sprintf("%s.offerings[%d]", pp, j)
			intMax(op+".gpus", o.GPUs, MaxOfferingGPUs, "GPUs per instance")
			if v.has(op+".price_per_hour") && o.PricePerHour > 0 && (o.PricePerHour < MinPrice || o.PricePerHour > MaxPrice) {
				v.errf(op+".price_per_hour", "price %s is out of range: want a price in USD per hour from %s to %s", v.d.nodes[op+".price_per_hour"].Value, cfgFloat(MinPrice), cfgFloat(MaxPrice))
			}
			if o.Performance > MaxPerformance {
				v.errf(op+".performance", "%s is out of range: want at most %s", cfgFloat(o.Performance), cfgFloat(MaxPerformance))
			}
			intMax(op+".vcpus", o.VCPUs, MaxOfferingVCPUs, "vCPUs per instance")
			if o.MemoryGiB > MaxOfferingMemoryGiB {
				v.errf(op+".memory_gib", "%s GiB is out of range: want at most %d", cfgFloat(o.MemoryGiB), MaxOfferingMemoryGiB)
			}
		}
	}
}
