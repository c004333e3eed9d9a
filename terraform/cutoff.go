package terraform

import (
	"fmt"
	"slices"

	"github.com/spillway-io/spillway/providers"
)

// CutOffError is an apply that died while creating resources: Terraform
// was killed (the kernel's OOM killer, a signal) or the provider plugin
// crashed mid-call, after the cloud may have made the instance and before
// Terraform recorded it. No state holds such an instance, so no later
// run of Spillway's sees or ends it: the operator must look for it by
// its tags. It wraps the apply's *RunError and is typed like it.
type CutOffError struct {
	// Burst is the burst's key; Cluster, Pool and Name its tags' values.
	Burst, Cluster, Pool, Name string
	// Resources are the addresses whose create was cut off.
	Resources []string
	// Looked are those of Resources the next runs on the burst look for
	// by the module's cloud_instances output (adopt.go), to end them.
	Looked []string
	Err    error
}

func (e *CutOffError) Error() string {
	if len(e.Looked) == len(e.Resources) {
		return fmt.Sprintf("%v; the apply died while creating %s (Terraform was killed, or its provider plugin crashed), "+
			"so the cloud may hold an instance for each that no Terraform state records: the runs on burst %s look for them "+
			"by the module's output %q for %s, and import and end each they find (logged); one not found by then is logged at error level, "+
			"to look for by hand: instances tagged %s=%s, %s=%s, %s=%s that Spillway does not list (spillway instances)",
			e.Err, shownOf(e.Resources, ", "), e.Burst, lookupOutput, cutOffWindow,
			providers.TagCluster, e.Cluster, providers.TagPool, e.Pool, providers.TagBurst, e.Name)
	}
	return fmt.Sprintf("%v; the apply died while creating %s (Terraform was killed, or its provider plugin crashed), "+
		"so the cloud may hold an instance for each that no Terraform state records, which Spillway can neither see nor end: "+
		"look for instances tagged %s=%s, %s=%s, %s=%s that Spillway does not list (spillway instances) and end them by hand",
		e.Err, shownOf(e.Resources, ", "), providers.TagCluster, e.Cluster, providers.TagPool, e.Pool, providers.TagBurst, e.Name)
}

func (e *CutOffError) Unwrap() error { return e.Err }

// pluginCrashSummaries are Terraform's summaries of a provider plugin
// that died during a call.
var pluginCrashSummaries = []string{"Plugin did not respond"}

// cutOff reads the resources a -json apply's log says it began to create
// (or replace) and neither finished nor failed (Terraform died), and
// those whose provider plugin died while creating them.
func cutOff(logPath string) []string {
	begun := map[string]bool{}
	eachLogMessage(logPath, "apply_start", func(m logMessage) {
		if m.Hook.Action == "create" || m.Hook.Action == "replace" {
			begun[m.Hook.Resource.Addr] = true
		}
	})
	for _, typ := range []string{"apply_complete", "apply_errored"} {
		eachLogMessage(logPath, typ, func(m logMessage) { delete(begun, m.Hook.Resource.Addr) })
	}
	for _, d := range diagnostics(logPath) {
		if slices.Contains(pluginCrashSummaries, d.Summary) && d.Address != "" {
			begun[d.Address] = true
		}
	}
	out := make([]string, 0, len(begun))
	for _, a := range sortedKeys(begun) {
		out = append(out, cut(printable(a)))
	}
	return out
}
