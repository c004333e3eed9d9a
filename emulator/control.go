package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
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
	if math.IsNaN(f) || math.Abs(f) > float64(math.MaxInt64/int64(time.Second)) {
		return fmt.Errorf("duration %s seconds is out of range: expected at most %d seconds", b, math.MaxInt64/int64(time.Second))
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
	// ConsistencyLag is how long a new instance stays invisible.
	ConsistencyLag Duration `json:"consistency_lag"`
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
	Stalls     []StallEntry   `json:"stalls"`
	Calls      map[string]int `json:"calls"`
	// Instances are the kept instances in launch order, from the
	// requested offset: all of them from Snapshot, at most the requested
	// limit from GET /_emulator/state.
	Instances []Instance `json:"instances"`
	// InstancesTotal counts every kept instance; NextOffset, when not 0,
	// is the offset of the next page of instances.
	InstancesTotal int `json:"instances_total"`
	NextOffset     int `json:"next_offset,omitempty"`
}

// DefaultStateInstances and MaxStateInstances are the default and the
// largest number of instances one GET /_emulator/state answer lists.
const (
	DefaultStateInstances = 1000
	MaxStateInstances     = 10_000
)

// Snapshot returns the emulator's settings, stock, call counts and
// instances.
func (e *Emulator) Snapshot() State {
	return e.snapshot(0, math.MaxInt)
}

// snapshot is Snapshot with at most limit instances from offset.
func (e *Emulator) snapshot(offset, limit int) State {
	stock := e.Stock()
	notOffered := e.NotOffered()
	quotas := e.Quotas()
	stalls := e.Stalls()
	inst, total := e.instancesPage(offset, limit)
	next := 0
	if end := offset + len(inst); end < total {
		next = end
	}
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
		Settings:   Settings{BootDelay: Duration(e.bootDelay), FaultRate: e.faultRate, Latency: Duration(e.latency), Throttle: e.throttle, ConsistencyLag: Duration(e.lag)},
		Stock:      stock,
		NotOffered: notOffered,
		Quotas:     quotas,
		Stalls:     stalls,
		Calls:      calls,
		Instances:  inst,

		InstancesTotal: total,
		NextOffset:     next,
	}
}

// instancesPage returns at most limit kept instances from offset, in launch
// order, and how many are kept.
func (e *Emulator) instancesPage(offset, limit int) ([]Instance, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock()
	total := len(e.order)
	offset = min(offset, total)
	page := e.order[offset : offset+min(limit, total-offset)]
	out := make([]Instance, 0, len(page))
	for _, r := range page {
		out = append(out, r.snapshot(now))
	}
	return out, total
}

// statePage reads GET /_emulator/state's offset and limit.
func statePage(q url.Values) (offset, limit int, err error) {
	limit = DefaultStateInstances
	for k, vs := range q {
		var n int
		var bad error
		switch k {
		case "offset":
			n, bad = strconv.Atoi(vs[0])
			if bad != nil || n < 0 || len(vs) > 1 {
				return 0, 0, fmt.Errorf("offset %q: want one count of instances to skip, 0 or more (the next_offset of the previous answer)", echo(vs[0]))
			}
			offset = n
		case "limit":
			n, bad = strconv.Atoi(vs[0])
			if bad != nil || n < 1 || n > MaxStateInstances || len(vs) > 1 {
				return 0, 0, fmt.Errorf("limit %q: want one number of instances from 1 to %d", echo(vs[0]), MaxStateInstances)
			}
			limit = n
		default:
			return 0, 0, fmt.Errorf("unknown parameter %q: /_emulator/state takes offset and limit", echo(k))
		}
	}
	return offset, limit, nil
}

// controlHandler serves the JSON control API:
//
//	GET  /_emulator/state?offset=N&limit=N (instances from offset, at most limit)
//	POST /_emulator/stock     {"instance_type","zone","count","offered"}
//	POST /_emulator/faults    {"fault_rate","latency","boot_delay","throttle","consistency_lag"} (each optional)
//	POST /_emulator/quota     {"api","region","vcpus"}
//	POST /_emulator/stall     {"action","count","duration"}
//	POST /_emulator/interrupt {"instance_id","in"}
func (e *Emulator) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_emulator/state", func(w http.ResponseWriter, r *http.Request) {
		offset, limit, err := statePage(r.URL.Query())
		if err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, e.snapshot(offset, limit))
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
		if err := checkOffer(req.InstanceType, req.Zone); err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return
		}
		if req.Count == nil && req.Offered == nil {
			controlError(w, http.StatusBadRequest, `give "count" (instances; negative = unlimited) and/or "offered" (false = the type is not sold in the zone)`)
			return
		}
		if e.offerSettingsFull(req.InstanceType, req.Zone, req.Count != nil, req.Offered != nil && !*req.Offered) {
			controlError(w, http.StatusBadRequest, fmt.Sprintf("the emulator keeps at most %d stock settings and %d not-sold settings, and holds that many: change one of them instead", MaxOfferSettings, MaxOfferSettings))
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
			Lag       *Duration `json:"consistency_lag"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		// Check every value before applying any, with the flags' ranges.
		var errs []error
		if req.FaultRate != nil {
			errs = append(errs, CheckFaultRate(`"fault_rate"`, *req.FaultRate))
		}
		if req.Latency != nil {
			errs = append(errs, CheckSetting(`"latency"`, time.Duration(*req.Latency)))
		}
		if req.BootDelay != nil {
			errs = append(errs, CheckSetting(`"boot_delay"`, time.Duration(*req.BootDelay)))
		}
		if req.Lag != nil {
			errs = append(errs, CheckSetting(`"consistency_lag"`, time.Duration(*req.Lag)))
		}
		if err := errors.Join(errs...); err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return
		}
		if req.FaultRate != nil {
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
		if req.Lag != nil {
			e.SetConsistencyLag(time.Duration(*req.Lag))
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
		if req.Region != "" && !validRegion(req.Region) {
			controlError(w, http.StatusBadRequest, fmt.Sprintf(`"region" %q: want a region such as us-east-1 or cn-hangzhou (lower-case letters, digits and dashes, at most %d characters), or "" for every region`, echo(req.Region), maxRegionLen))
			return
		}
		if req.VCPUs == nil {
			controlError(w, http.StatusBadRequest, `"vcpus" is required: the account's vCPU quota (negative = unlimited)`)
			return
		}
		if req.Region != "" && *req.VCPUs >= 0 {
			if ok, served := e.serveRegion(req.API, req.Region); !ok {
				controlError(w, http.StatusBadRequest, fmt.Sprintf(`"region" %q: %s`, req.Region, regionsFull(served)))
				return
			}
		}
		e.SetVCPUQuota(req.API, req.Region, *req.VCPUs)
		writeJSON(w, http.StatusOK, map[string]any{"vcpu_quotas": e.Quotas()})
	})
	mux.HandleFunc("POST /_emulator/stall", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Action   string   `json:"action"`
			Count    *int     `json:"count"`
			Duration Duration `json:"duration"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		if req.Count == nil || *req.Count < 0 || *req.Count > MaxStallCount {
			got := "missing"
			if req.Count != nil {
				got = strconv.Itoa(*req.Count)
			}
			controlError(w, http.StatusBadRequest, fmt.Sprintf(`"count" %s is out of range: want the number of calls to stall, from 0 (clears the stall) to %d`, got, MaxStallCount))
			return
		}
		if !knownAction(req.Action) {
			controlError(w, http.StatusBadRequest, fmt.Sprintf(`"action" %q is not an action the emulator serves: want one of %s, optionally qualified as "ec2:…" or "ecs:…"`, echo(req.Action), strings.Join(actionNames(), ", ")))
			return
		}
		if err := CheckSetting(`"duration"`, time.Duration(req.Duration)); err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return
		}
		e.StallResponses(req.Action, *req.Count, time.Duration(req.Duration))
		writeJSON(w, http.StatusOK, map[string]any{"action": req.Action, "count": *req.Count, "duration": req.Duration, "stalls": e.Stalls()})
	})
	mux.HandleFunc("POST /_emulator/interrupt", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			InstanceID string   `json:"instance_id"`
			In         Duration `json:"in"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		if err := CheckSetting(`"in"`, time.Duration(req.In)); err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
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

// knownAction reports whether action names an action of either API, bare
// ("RunInstances") or qualified ("ec2:RunInstances").
func knownAction(action string) bool {
	api, name, qualified := strings.Cut(action, ":")
	if !qualified {
		_, ec2 := ec2Actions[action]
		_, ecs := ecsActions[action]
		return ec2 || ecs
	}
	switch api {
	case APIEC2:
		_, ok := ec2Actions[name]
		return ok
	case APIECS:
		_, ok := ecsActions[name]
		return ok
	}
	return false
}

// actionNames lists the actions of both APIs, sorted, without repeats.
func actionNames() []string {
	seen := map[string]bool{}
	for k := range ec2Actions {
		seen[k] = true
	}
	for k := range ecsActions {
		seen[k] = true
	}
	return sortedKeys(seen)
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
