package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("50ms", "2m") and also reads a number of seconds.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "1.5s" or 1.5 (seconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w (expected a Go duration such as \"500ms\" or \"2m\")", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("duration %s: expected a string such as \"500ms\" or a number of seconds", b)
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// Settings are the run-time knobs, as GET /_emulator/state reports them.
type Settings struct {
	BootDelay Duration `json:"boot_delay"`
	FaultRate float64  `json:"fault_rate"`
	Latency   Duration `json:"latency"`
	Throttle  bool     `json:"throttle"`
}

// State is what GET /_emulator/state returns.
type State struct {
	Now      time.Time    `json:"now"`
	Settings Settings     `json:"settings"`
	Stock    []StockEntry `json:"stock"`
	// NotOffered lists types not sold in a zone (instance_type "" = the
	// zone is closed); their count is meaningless.
	NotOffered []StockEntry   `json:"not_offered"`
	Quotas     []QuotaEntry   `json:"vcpu_quotas"`
	Calls      map[string]int `json:"calls"`
	Instances  []Instance     `json:"instances"`
}

// Snapshot returns the emulator's settings, stock, call counts and
// instances.
func (e *Emulator) Snapshot() State {
	stock := e.Stock()
	notOffered := e.NotOffered()
	quotas := e.Quotas()
	inst := e.Instances()
	e.mu.Lock()
	defer e.mu.Unlock()
	calls := make(map[string]int, len(e.calls))
	for k, v := range e.calls {
		calls[k] = v
	}
	if stock == nil {
		stock = []StockEntry{}
	}
	return State{
		Now:        e.clock(),
		Settings:   Settings{BootDelay: Duration(e.bootDelay), FaultRate: e.faultRate, Latency: Duration(e.latency), Throttle: e.throttle},
		Stock:      stock,
		NotOffered: notOffered,
		Quotas:     quotas,
		Calls:      calls,
		Instances:  inst,
	}
}

// controlHandler serves the JSON control API:
//
//	GET  /_emulator/state
//	POST /_emulator/stock     {"instance_type","zone","count","offered"}
//	POST /_emulator/faults    {"fault_rate","latency","boot_delay","throttle"} (each optional)
//	POST /_emulator/quota     {"api","region","vcpus"}
//	POST /_emulator/stall     {"action","count","duration"}
//	POST /_emulator/interrupt {"instance_id","in"}
func (e *Emulator) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_emulator/state", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, e.Snapshot())
	})
	mux.HandleFunc("POST /_emulator/stock", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			InstanceType string `json:"instance_type"`
			Zone         string `json:"zone"`
			Count        *int   `json:"count"`
			Offered      *bool  `json:"offered"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		if req.InstanceType == "" && (req.Offered == nil || req.Zone == "") {
			controlError(w, http.StatusBadRequest, `"instance_type" is required (e.g. "p4d.24xlarge"); only {"zone","offered"} may omit it, to close or open a whole zone`)
			return
		}
		if req.Count == nil && req.Offered == nil {
			controlError(w, http.StatusBadRequest, `give "count" (instances; negative = unlimited) and/or "offered" (false = the type is not sold in the zone)`)
			return
		}
		if req.Count != nil {
			e.SetStock(req.InstanceType, req.Zone, *req.Count)
		}
		if req.Offered != nil {
			e.SetOffered(req.InstanceType, req.Zone, *req.Offered)
		}
		writeJSON(w, http.StatusOK, map[string]any{"stock": nonNil(e.Stock()), "not_offered": e.NotOffered()})
	})
	mux.HandleFunc("POST /_emulator/faults", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			FaultRate *float64  `json:"fault_rate"`
			Latency   *Duration `json:"latency"`
			BootDelay *Duration `json:"boot_delay"`
			Throttle  *bool     `json:"throttle"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		if req.FaultRate != nil {
			if *req.FaultRate < 0 || *req.FaultRate > 1 {
				controlError(w, http.StatusBadRequest, fmt.Sprintf(`"fault_rate" %v is out of range: expected a fraction between 0 and 1`, *req.FaultRate))
				return
			}
			e.SetFaultRate(*req.FaultRate)
		}
		if req.Latency != nil {
			e.SetLatency(time.Duration(*req.Latency))
		}
		if req.BootDelay != nil {
			e.SetBootDelay(time.Duration(*req.BootDelay))
		}
		if req.Throttle != nil {
			e.SetThrottle(*req.Throttle)
		}
		writeJSON(w, http.StatusOK, e.Snapshot().Settings)
	})
	mux.HandleFunc("POST /_emulator/quota", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			API    string `json:"api"`
			Region string `json:"region"`
			VCPUs  *int   `json:"vcpus"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		if req.API != APIEC2 && req.API != APIECS {
			controlError(w, http.StatusBadRequest, fmt.Sprintf(`"api" %q: want "ec2" or "ecs"`, req.API))
			return
		}
		if req.VCPUs == nil {
			controlError(w, http.StatusBadRequest, `"vcpus" is required: the account's vCPU quota (negative = unlimited)`)
			return
		}
		e.SetVCPUQuota(req.API, req.Region, *req.VCPUs)
		writeJSON(w, http.StatusOK, map[string]any{"vcpu_quotas": e.Quotas()})
	})
	mux.HandleFunc("POST /_emulator/stall", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Action   string   `json:"action"`
			Count    int      `json:"count"`
			Duration Duration `json:"duration"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		if req.Action == "" {
			controlError(w, http.StatusBadRequest, `"action" is required, e.g. "RunInstances" (both APIs) or "ec2:RunInstances"`)
			return
		}
		e.StallResponses(req.Action, req.Count, time.Duration(req.Duration))
		writeJSON(w, http.StatusOK, map[string]any{"action": req.Action, "count": req.Count, "duration": req.Duration})
	})
	mux.HandleFunc("POST /_emulator/interrupt", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			InstanceID string   `json:"instance_id"`
			In         Duration `json:"in"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		if !e.Interrupt(req.InstanceID, time.Duration(req.In)) {
			controlError(w, http.StatusNotFound, fmt.Sprintf("instance %q does not exist or is already shutting down", req.InstanceID))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"instance_id": req.InstanceID, "in": req.In})
	})
	mux.HandleFunc("/_emulator/", func(w http.ResponseWriter, r *http.Request) {
		controlError(w, http.StatusNotFound, fmt.Sprintf("%s %s is not a control endpoint: use GET /_emulator/state or POST /_emulator/{stock,faults,quota,stall,interrupt}", r.Method, r.URL.Path))
	})
	return mux
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		controlError(w, http.StatusBadRequest, fmt.Sprintf("request body for %s: %v", r.URL.Path, strings.TrimPrefix(err.Error(), "json: ")))
		return false
	}
	return true
}

func controlError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
