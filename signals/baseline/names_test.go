package baseline

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/signals"
)

// TestAgentStringsAreBounded: an agent (a stand-in answering as one)
// reports a node name, a UUID, a model, a GPU's health or its error of
// any length, with control characters, within the 4 MiB read of its
// answer. Before, the source kept them whole: a 1 MiB node name stood in
// the baseline of every tick (each GPU's node, a wedged node's key in
// spillway status) and an escape sequence reached the operator's
// terminal. A node name or UUID no agent reports (past 253 or 95 bytes,
// or not printable) makes the answer no agent's, its node unknown with
// why; a model, health or error is cut short and made printable.
func TestAgentStringsAreBounded(t *testing.T) {
	sampled := `"sample_time":"` + t0.Format(time.RFC3339) + `"`
	gpu := func(fields string) string {
		return `{"node":"gpu-x",` + sampled + `,"gpus":[{"index":0,"uuid":"GPU-1",` + fields + `}]}`
	}
	long := strings.Repeat("n", 1<<20)
	tests := []struct {
		name    string
		status  int
		body    string
		unknown string // in the node's unknown cause; "" when its GPU counts
	}{
		{"node name of 1 MiB", http.StatusOK, `{"node":"` + long + `",` + sampled + `,"gpus":[{"index":0,"uuid":"GPU-1"}]}`, "is 1048576 bytes, want at most 253"},
		{"wedged node name of 1 MiB", http.StatusServiceUnavailable, `{"error":"nvml: Init has not returned","node":"` + long + `","wedged_since":"` + t0.Format(time.RFC3339) + `"}`, "is 1048576 bytes, want at most 253"},
		{"node name with an escape", http.StatusOK, `{"node":"gpu-x\u001b[2J",` + sampled + `,"gpus":[{"index":0,"uuid":"GPU-1"}]}`, "is not printable UTF-8"},
		{"UUID of 64 KiB", http.StatusOK, `{"node":"gpu-x",` + sampled + `,"gpus":[{"index":0,"uuid":"GPU-` + strings.Repeat("u", 64<<10) + `"}]}`, "is not a GPU UUID: want at most 95 bytes"},
		{"model, health and error of 1 MiB", http.StatusOK, gpu(`"model":"` + long + `","unhealthy":true,"health":"` + long + `\n","unknown":true,"error":"\u001b[2J` + long + `"`), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, url := baselineOfAnswer(t, tt.status, tt.body)
			if cause := b.UnknownCauses[url]; tt.unknown != "" && !strings.Contains(cause, tt.unknown) {
				t.Errorf("node unknown for %.300q; want unknown, saying %q", cause, tt.unknown)
			}
			if tt.unknown == "" && len(b.GPUs) != 1 {
				t.Errorf("GPUs %d, unknown %q; want its GPU counted", len(b.GPUs), b.UnknownCauses)
			}
			for _, s := range keptStrings(b) {
				if len(s) > 400 || !signals.Printable(s) {
					t.Errorf("the baseline keeps %.100q… (%d bytes); want at most 400 bytes, printable", s, len(s))
				}
			}
		})
	}
}

// keptStrings are the strings of b that come from agents.
func keptStrings(b signals.Baseline) []string {
	var out []string
	for _, g := range b.GPUs {
		out = append(out, g.Node, g.UUID, g.Model, g.Error, g.Health)
	}
	for node, why := range b.Wedged {
		out = append(out, node, why)
	}
	for _, why := range b.UnknownCauses {
		out = append(out, why)
	}
	return out
}
