// Package baseline reads a pool's on-prem GPU baseline on the server: from
// `spillway agent`s (their /v1/gpus, concurrently, a static list or a
// file_sd-style targets file) or from Prometheus (dcgm-exporter metrics).
package baseline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/httpclient"
)

// TargetGroup is one entry of a targets file, in Prometheus file_sd format:
// [{"targets": ["host:port", ...], "labels": {"pool": "a100"}}].
type TargetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// AgentsConfig describes an agents baseline source.
type AgentsConfig struct {
	// Name identifies the source ("agents:<Name>").
	Name string
	// Targets are agents as "host:port" or base URLs (http://host:port).
	Targets []string
	// TargetsFile is a JSON file of TargetGroups, re-read whenever its
	// modification time or size changes. Used with or instead of Targets.
	TargetsFile string
	// Match keeps only the file's groups whose labels include all of these.
	Match map[string]string
	// Concurrency bounds simultaneous scrapes (64 when zero).
	Concurrency int
	// Timeout bounds each agent's answer (2 s when zero).
	Timeout time.Duration
	// MaxSampleAge: an agent whose latest sample is older than this (its
	// NVML reads are stuck) is unknown. 30 s when zero.
	MaxSampleAge time.Duration
	// Client is the HTTP client; nil gives one tuned for many agents.
	// Either way, redirects are followed within an agent's host only
	// (httpclient.Confine).
	Client *http.Client
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger receives target-file reload messages (silent when nil).
	Logger *slog.Logger
}

// Agents reads the baseline from spillway agents.
type Agents struct {
	cfg AgentsConfig
	log *slog.Logger

	mu       sync.Mutex
	fileMod  time.Time
	fileSize int64
	fromFile []string
	fileErr  error
	// warned holds the pairs of targets found serving the same GPUs,
	// of the targets listed now (forgetRemoved).
	warned map[pairWarning]bool
	// shared says, once a UUID, that two GPUs report it (sharedUUIDs),
	// of the UUIDs the last baseline lists.
	shared sharedUUIDs
	// ids holds, by target, the identity of the GPUs its last answer
	// listing them served (nodeIdentity): a target that cannot say
	// which node it is now (no answer, or a driver wedged before any
	// GPU was opened) is told apart from, or for, the others by it.
	ids map[string]nodeIdentity
}

var _ signals.BaselineSource = (*Agents)(nil)

// NewAgents checks cfg and reads the targets file once; a bad file is an
// error here (later, a bad rewrite keeps the last good targets).
func NewAgents(cfg AgentsConfig) (*Agents, error) {
	if cfg.Name == "" {
		return nil, errors.New("agents baseline: name is empty")
	}
	if len(cfg.Targets) == 0 && cfg.TargetsFile == "" {
		return nil, fmt.Errorf("agents:%s: no targets and no targets file: want agent addresses (host:port) or a file_sd JSON file", cfg.Name)
	}
	for _, t := range cfg.Targets {
		if _, err := agentURL(t); err != nil {
			return nil, fmt.Errorf("agents:%s: %w", cfg.Name, err)
		}
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.MaxSampleAge <= 0 {
		cfg.MaxSampleAge = 30 * time.Second
	}
	if cfg.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 0 // no global cap: one kept-alive connection per agent
		tr.MaxIdleConnsPerHost = 1
		cfg.Client = &http.Client{Transport: tr}
	}
	cfg.Client = httpclient.Confine(cfg.Client)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a := &Agents{cfg: cfg, log: log.WithGroup("baseline").With("source", "agents:"+cfg.Name)}
	if cfg.TargetsFile != "" {
		a.mu.Lock()
		err := a.reloadLocked()
		a.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Name is "agents:<name>".
func (a *Agents) Name() string { return "agents:" + a.cfg.Name }

// CloseIdleConnections drops kept-alive connections to agents.
func (a *Agents) CloseIdleConnections() { a.cfg.Client.CloseIdleConnections() }

// Targets returns the current target list, re-reading the targets file if
// it changed since the last read.
func (a *Agents) Targets() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cfg.TargetsFile != "" {
		if err := a.reloadLocked(); err != nil {
			if a.fileErr == nil || a.fileErr.Error() != err.Error() {
				a.log.Warn("targets file unusable; keeping the last good targets", "err", err, "targets", len(a.fromFile))
			}
			a.fileErr = err
		} else {
			a.fileErr = nil
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, t := range append(append([]string(nil), a.cfg.Targets...), a.fromFile...) {
		if k := sameAgent(t); !seen[k] {
			seen[k] = true
			out = append(out, t)
		}
	}
	return out
}

// sameAgent is what names target's agent, whatever its spelling: its URL
// with the scheme and host in lower case and the scheme's own port left
// out, so that "gpu-01:9401" listed beside "http://GPU-01:9401/v1/gpus"
// (the config's urls and a targets file) is scraped once. Scraped twice,
// an agent that did not answer was two unknown nodes, its GPUs counted
// twice, as gpus_per_node each.
func sameAgent(target string) string {
	s, err := agentURL(target)
	if err != nil {
		return target
	}
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "http" && p == "80") || (u.Scheme == "https" && p == "443") {
		u.Host = u.Hostname()
		if strings.Contains(u.Host, ":") { // an IPv6 address
			u.Host = "[" + u.Host + "]"
		}
	}
	return u.String()
}

// TargetsFileError is the latest problem with the targets file, if any.
func (a *Agents) TargetsFileError() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fileErr
}

func (a *Agents) reloadLocked() error {
	path := a.cfg.TargetsFile
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: targets file: %w", a.Name(), err)
	}
	if st.ModTime().Equal(a.fileMod) && st.Size() == a.fileSize && a.fromFile != nil {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: targets file: %w", a.Name(), err)
	}
	targets, err := parseTargets(path, b, a.cfg.Match)
	if err != nil {
		return fmt.Errorf("%s: %w", a.Name(), err)
	}
	if a.fromFile != nil {
		a.log.Info("targets file reloaded", "file", path, "targets", len(targets))
	}
	a.fileMod, a.fileSize, a.fromFile = st.ModTime(), st.Size(), targets
	return nil
}

// targetsFormat is what a targets file holds, for error messages.
const targetsFormat = `[{"targets": ["host:port"], "labels": {...}}]`

func parseTargets(path string, b []byte, match map[string]string) ([]string, error) {
	var groups []TargetGroup
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&groups); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line := 1 + bytes.Count(b[:se.Offset], []byte("\n"))
			return nil, fmt.Errorf("targets file %s line %d: %v: want %s", path, line, se, targetsFormat)
		case errors.As(err, &te):
			line := 1 + bytes.Count(b[:te.Offset], []byte("\n"))
			return nil, fmt.Errorf("targets file %s line %d: field %q is a JSON %s: want %s", path, line, te.Field, te.Value, targetsFormat)
		}
		// The error may quote an unknown key of any length.
		return nil, fmt.Errorf("targets file %s: %s: want %s", path, signals.Shorten(err.Error(), 200), targetsFormat)
	}
	if rest := bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		line := 1 + bytes.Count(b[:len(b)-len(rest)], []byte("\n"))
		return nil, fmt.Errorf("targets file %s line %d: more after the JSON array: want one %s", path, line, targetsFormat)
	}
	targets := []string{}
	for i, g := range groups {
		if !matches(g.Labels, match) {
			continue
		}
		for _, t := range g.Targets {
			if _, err := agentURL(t); err != nil {
				return nil, fmt.Errorf("targets file %s group %d: %w", path, i, err)
			}
			targets = append(targets, t)
		}
	}
	return targets, nil
}

func matches(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// agentURL turns a target into the URL of its /v1/gpus.
func agentURL(target string) (string, error) {
	t := strings.TrimSpace(target)
	if t == "" {
		return "", errors.New("empty target: want host:port or http://host:port")
	}
	if !strings.Contains(t, "://") {
		t = "http://" + t
	}
	// url.Parse keeps a space in the query, which would end the request
	// line early: no URL holds one.
	u, err := url.Parse(t)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || strings.ContainsRune(t, ' ') {
		return "", fmt.Errorf("target %q: want host:port or http(s)://host:port[/path]", signals.Shorten(target, 100))
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/gpus"
	}
	return u.String(), nil
}

// MaxAnswer is the most of an agent's answer read: room for MaxNodeGPUs
// GPUs many times over.
const MaxAnswer = 4 << 20

// agentResponse is the agent's /v1/gpus body.
type agentResponse struct {
	Node string `json:"node"`
	// Machine names the machine the agent runs on (a hash of its boot
	// id, nvml.MachineID; "" from an agent that does not say): one
	// agent reached by two targets gives one, two machines two, even of
	// one node name and cloned GPU UUIDs.
	Machine    string        `json:"machine"`
	SampleTime time.Time     `json:"sample_time"`
	GPUs       []signals.GPU `json:"gpus"`
	// Error is the agent's, when its latest sample failed or is stuck:
	// its GPUs are then the last good sample's, each marked unknown, or
	// unhealthy once the agent judges its driver wedged (wedged).
	Error string `json:"error"`
	// WedgedSince, in a 503 answer (no sample to serve), is the agent's
	// verdict that its driver wedged before any GPU was opened (Init or
	// DeviceGetCount stuck for a minute at start), and since when.
	WedgedSince time.Time `json:"wedged_since"`
}

// Bounds of the strings the source keeps of an agent's answer.
const (
	// maxGPUName is the most bytes NVML gives a GPU's UUID or name
	// (its buffer, less the NUL), as the agent bounds them.
	maxGPUName = 95
	// maxAgentText bounds an agent's error and a GPU's error or health.
	maxAgentText = 300
)

// bound checks the names in r and cuts its texts short, so that what the
// source keeps (each tick's baseline, the warnings it keeps once per
// name or UUID, spillway status's wedged nodes) is bounded by the number
// of GPUs, not by the 4 MiB read of an answer: the node's name as an
// agent's --node is bounded (signals.NodeName), each UUID to
// maxGPUName printable bytes; a model is cut to maxGPUName bytes, an
// error or health to maxAgentText, each made valid UTF-8. Each GPU index
// is listed once, from 0 to signals.MaxNodeGPUs-1; a GPU unknown is busy
// and not idle, as signals.GPU says.
func (r *agentResponse) bound() error {
	if err := signals.NodeName(r.Node); err != nil {
		return err
	}
	if len(r.Machine) > maxGPUName || !signals.Printable(r.Machine) {
		return fmt.Errorf("machine %q is not a machine id: want at most %d bytes of printable UTF-8", signals.Shorten(r.Machine, 100), maxGPUName)
	}
	r.Error = text(r.Error, maxAgentText)
	listed := make(map[int]bool, len(r.GPUs))
	for i := range r.GPUs {
		g := &r.GPUs[i]
		if g.Index < 0 || g.Index >= signals.MaxNodeGPUs || listed[g.Index] {
			// NVML numbers a node's GPUs from 0, each once: a GPU more
			// is one the node does not have, free for no job.
			return fmt.Errorf("GPU index %d listed twice or out of range: want each of 0 to %d at most once", g.Index, signals.MaxNodeGPUs-1)
		}
		listed[g.Index] = true
		if len(g.UUID) > maxGPUName || !signals.Printable(g.UUID) {
			return fmt.Errorf("GPU %d: uuid %q is not a GPU UUID: want at most %d bytes of printable UTF-8", g.Index, signals.Shorten(g.UUID, 100), maxGPUName)
		}
		g.Model = text(g.Model, maxGPUName)
		g.Error, g.Health = text(g.Error, maxAgentText), text(g.Health, maxAgentText)
		if g.Unknown {
			// Not read, so never free nor idle, whatever the answer
			// says beside it (the agent says busy; another may not).
			g.Busy, g.Idle = true, false
		}
	}
	return nil
}

// text is s made printable UTF-8 (each byte that is no character's, and
// each control character, as U+FFFD) and cut to at most n bytes.
func text(s string, n int) string {
	if signals.Printable(s) {
		return signals.Shorten(s, n)
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return utf8.RuneError
	}, strings.ToValidUTF8(s, string(utf8.RuneError)))
	return signals.Shorten(s, n)
}

// wedgedUnopened says whether r is the 503 answer of an agent whose
// driver wedged before it could open any GPU: no GPU is listed to mark
// unhealthy, so the node's are counted so by the pool (gpus_per_node),
// rather than the node unknown, which holds the whole pool until the
// node is rebooted.
func (r agentResponse) wedgedUnopened() bool {
	return !r.WedgedSince.IsZero() && r.Node != "" && len(r.GPUs) == 0
}

// wedged says whether r is an agent's verdict that its driver is wedged:
// its sample stuck for a minute or more, it serves every GPU unhealthy
// with the error. That verdict is of now, however old the sample it
// marks: its GPUs count unhealthy, never free, rather than the node
// unknown by its sample's age, which holds the whole pool for as long as
// the node is not rebooted.
func (r agentResponse) wedged() bool {
	if r.Error == "" || len(r.GPUs) == 0 {
		return false
	}
	for _, g := range r.GPUs {
		if !g.Unhealthy {
			return false
		}
	}
	return true
}

// Baseline scrapes every target concurrently. A target that does not
// answer in time, answers badly, or serves an old sample is listed in
// Unknown with its cause; its GPUs are never counted. Baseline fails only
// when no target answered at all.
func (a *Agents) Baseline(ctx context.Context) (signals.Baseline, error) {
	targets := a.Targets()
	a.forgetRemoved(targets)
	now := a.cfg.Now()
	b := signals.Baseline{Source: a.Name(), Time: now}
	if len(targets) == 0 {
		return b, fmt.Errorf("%s: no targets (targets file %s lists none matching %v)", a.Name(), a.cfg.TargetsFile, a.cfg.Match)
	}
	results := make([]targetAnswer, len(targets))
	sem := make(chan struct{}, a.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, t := range targets {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			results[i].err = ctx.Err()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := a.scrape(ctx, t)
			results[i] = targetAnswer{r, err}
		}()
	}
	wg.Wait()
	// A sample is in the future only past the scrapes' end: one an agent
	// took while answering is after now by as long as the scrapes ran (on
	// the demo's clock, 360 times the wall's).
	done := a.cfg.Now()

	aliases := a.aliases(targets, results)
	wedgedBy := map[string]wedgedNode{} // each wedged node's key in b.Wedged, and what names it
	oldest := time.Time{}
	// seen maps a GPU (its UUID and index) to the target that listed it
	// first: a node listed twice (by name and by address) is counted
	// once. Two GPUs of one UUID under two indexes are two GPUs.
	seen := map[gpuID]string{}
	uuids := map[string]signals.GPU{} // the first GPU listed of each UUID
	// nodes maps a node name to the target whose GPUs were counted under
	// it first (nodeOf).
	nodes := map[string]string{}
	for i, r := range results {
		t := targets[i]
		err := r.err
		if first, ok := aliases.of[t]; ok {
			// Its GPUs counted by first's answer, or its node's failure
			// said by first.
			a.warnDuplicate(t, first, "")
			continue
		}
		// Times are compared, not subtracted and negated: a sample
		// centuries away saturates time.Duration, and -MinInt64 is itself.
		if err == nil && r.resp.wedgedUnopened() {
			countWedged(&b, wedgedBy, t, aliases.ids[t], r.resp)
			continue
		}
		if sample := r.resp.SampleTime; err == nil && !r.resp.wedged() {
			if sample.Before(now.Add(-a.cfg.MaxSampleAge)) {
				err = fmt.Errorf("latest sample is %s old (max %s): the agent's NVML reads are stuck%s", span(now.Sub(sample), sample), a.cfg.MaxSampleAge, agentSays(r.resp))
			} else if sample.After(done.Add(a.cfg.MaxSampleAge)) {
				// A sample from the future would never grow old: a stuck
				// agent with a clock ahead would pass for live.
				err = fmt.Errorf("latest sample is %s in the future (max %s): the agent's clock is off; sync it (NTP)", span(sample.Sub(done), sample), a.cfg.MaxSampleAge)
			}
		}
		if err != nil {
			b.Unknown = append(b.Unknown, t)
			if b.UnknownCauses == nil {
				b.UnknownCauses = map[string]string{}
			}
			b.UnknownCauses[t] = err.Error()
			continue
		}
		for _, g := range r.resp.GPUs {
			g.Node = r.resp.Node
			id := gpuID{node: r.resp.Node, machine: r.resp.Machine, uuid: g.UUID, index: strconv.Itoa(g.Index)}
			if first, dup := seen[id]; dup && g.UUID != "" {
				a.warnDuplicate(t, first, g.UUID)
				continue
			}
			seen[id] = t
			g.Node = a.nodeOf(nodes, t, r.resp.Node)
			if other, ok := uuids[g.UUID]; ok && g.UUID != "" {
				a.shared.warn(a.log, a.Name(), other, g)
			} else {
				uuids[g.UUID] = g
			}
			b.GPUs = append(b.GPUs, g)
		}
		if r.resp.wedged() {
			continue // a verdict of now, whatever the sample's time
		}
		if oldest.IsZero() || r.resp.SampleTime.Before(oldest) {
			oldest = r.resp.SampleTime
		}
	}
	sort.Strings(b.Unknown)
	a.shared.keep(b.GPUs)
	if !oldest.IsZero() {
		b.Time = oldest
	}
	if len(b.Unknown) == len(targets) {
		first := b.Unknown[0]
		return b, fmt.Errorf("%s: none of %d agents answered (e.g. %s: %s)", a.Name(), len(targets), first, b.UnknownCauses[first])
	}
	return b, nil
}

// countWedged lists the node of target's answer r in b.Wedged with the
// agent's error, id being the identity of the GPUs target last served:
// two targets naming one wedged node count once (the same node listed by
// name and by address, before any answer listed its GPUs), unless both
// served GPUs before, and not the same: two machines of one name (as
// nodeOf), or their agents say two machines; the later "node (target)".
// wedgedBy holds what names each key's node.
func countWedged(b *signals.Baseline, wedgedBy map[string]wedgedNode, target string, id nodeIdentity, r agentResponse) {
	if b.Wedged == nil {
		b.Wedged = map[string]string{}
	}
	key := r.Node
	this := wedgedNode{id, r.Machine}
	if first, ok := wedgedBy[key]; ok && first.other(this) {
		key = r.Node + " (" + target + ")"
	}
	wedgedBy[key] = this
	b.Wedged[key] = signals.Shorten(r.Error, 300)
}

// wedgedNode is what tells a wedged node from another of its name: the
// identity of the GPUs its target last served, and its agent's machine;
// either zero when unknown.
type wedgedNode struct {
	id      nodeIdentity
	machine string
}

// other says whether w and x are known to be two nodes.
func (w wedgedNode) other(x wedgedNode) bool {
	return (w.id != nodeIdentity{} && x.id != nodeIdentity{} && w.id != x.id) ||
		(w.machine != "" && x.machine != "" && w.machine != x.machine)
}

// nodeIdentity names the GPUs a target served: a hash of its node's name
// and each GPU's index and UUID, sorted; zero when unknown (no answer
// listed GPUs yet, or one listed a GPU without UUID). Not its machine,
// which a reboot changes: a node listed twice, rebooted, one listing
// failing since, is still known for one by its GPUs.
type nodeIdentity [sha256.Size]byte

// identityOf is the identity of node's gpus (zero for none, or when one
// has no UUID).
func identityOf(node string, gpus []signals.GPU) nodeIdentity {
	keys := make([]string, 0, len(gpus)+1)
	for _, g := range gpus {
		if g.UUID == "" {
			return nodeIdentity{}
		}
		keys = append(keys, strconv.Itoa(g.Index)+"\x00"+g.UUID)
	}
	if len(keys) == 0 {
		return nodeIdentity{}
	}
	sort.Strings(keys)
	keys = append(keys, node) // a name holds no NUL (signals.NodeName)
	return sha256.Sum256([]byte(strings.Join(keys, "\x00")))
}

// aliasSet is what aliases found of one Baseline's targets.
type aliasSet struct {
	// ids is each target's identity: its answer's GPUs', else those it
	// last served.
	ids map[string]nodeIdentity
	// of maps each target not counted to the target of the same
	// identity counted for it.
	of map[string]string
}

// aliases finds the targets that serve the same node as another (one
// listed by name and by address): of the targets of one identity, one
// whose answer lists the GPUs counts them (each GPU once, as any GPU
// served twice); one that lists none now (its read failed, or its
// driver wedged before any GPU was opened) is left out when another
// target of its identity lists them, or is already counted, wedged
// before unknown. Without that, a node whose driver wedged counted as
// a wedged node and, its other listing failing, an unknown one too:
// 8 GPUs counted twice, and the pool's signal stale. It remembers each
// target's identity from its answers (of the targets listed now).
func (a *Agents) aliases(targets []string, resps []targetAnswer) aliasSet {
	out := aliasSet{ids: make(map[string]nodeIdentity, len(targets)), of: map[string]string{}}
	a.mu.Lock()
	live := make(map[string]nodeIdentity, len(targets))
	for i, t := range targets {
		id := nodeIdentity{}
		if resps[i].err == nil {
			id = identityOf(resps[i].resp.Node, resps[i].resp.GPUs)
		}
		if id != (nodeIdentity{}) {
			live[t] = id
		} else if prev, ok := a.ids[t]; ok {
			live[t] = prev
		}
		out.ids[t] = live[t]
	}
	a.ids = live
	a.mu.Unlock()
	// rank: 2 lists GPUs now, 1 wedged with none opened, 0 no answer.
	rank := func(i int) int {
		switch r := resps[i]; {
		case r.err == nil && r.resp.wedgedUnopened():
			return 1
		case r.err == nil:
			return 2
		}
		return 0
	}
	best := map[nodeIdentity]int{} // the index of each identity's target counted
	for i, t := range targets {
		id := out.ids[t]
		if id == (nodeIdentity{}) {
			continue
		}
		if j, ok := best[id]; !ok || rank(i) > rank(j) {
			best[id] = i
		}
	}
	for i, t := range targets {
		id := out.ids[t]
		if j, ok := best[id]; ok && j != i && rank(i) < 2 {
			out.of[t] = targets[j]
		}
	}
	return out
}

// targetAnswer is one target's answer or error.
type targetAnswer struct {
	resp agentResponse
	err  error
}

// agentSays is what r's agent says of its failed sample, for an unknown
// node's cause ("" when it says nothing): the NVML call stuck and since
// when.
func agentSays(r agentResponse) string {
	if r.Error == "" {
		return ""
	}
	return ": the agent says " + strconv.Quote(signals.Shorten(r.Error, 300))
}

// span says how far a sample is from now (d, ≥ 0), for a message: past a
// year (a mangled time, or one far enough to saturate d), the sample's time
// itself.
func span(d time.Duration, sample time.Time) string {
	if d > signals.MaxWait {
		return fmt.Sprintf("more than a year (sample_time %s)", sample.UTC().Format(time.RFC3339))
	}
	return d.Round(time.Second).String()
}

// nodeOf is the node name under which target's GPUs count, node being
// the name its agent gives: node itself, unless another target's GPUs
// were counted under it first (nodes), as when two machines' agents run
// with one --node (a cloned image's hostname). Their GPUs are then two
// nodes' ("node (target)" for the later), and the source warns once per
// pair: under one name, each node's free GPUs were summed as one node's,
// and a job larger than either node's free GPUs was taken to fit on-prem
// (no burst for it) though it fits on neither.
func (a *Agents) nodeOf(nodes map[string]string, target, node string) string {
	first, ok := nodes[node]
	if !ok {
		nodes[node] = target
		return node
	}
	if first == target {
		return node
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.firstWarning(pairWarning{sameName, target, first}) {
		a.log.Warn("two agents report the same node name with different GPUs: each is counted as a node of its own; give each agent its own --node", "node", node, "target", target, "first", first)
	}
	return node + " (" + target + ")"
}

// forgetRemoved drops the warnings kept for pairs of targets of which one
// is no longer listed (as aliases drops their identities): the targets
// file may change for as long as the server runs, and each new pair
// would be kept for ever. A pair listed again is warned of again.
func (a *Agents) forgetRemoved(targets []string) {
	listed := make(map[string]bool, len(targets))
	for _, t := range targets {
		listed[t] = true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range a.warned {
		if !listed[k.target] || !listed[k.first] {
			delete(a.warned, k)
		}
	}
}

// gpuID names a GPU for a source's count: its UUID and its index (the
// series' gpu label, as read), and for the agents source its node's name
// and machine as its agent reports them. A GPU listed twice (its node by two targets,
// or scraped by two jobs) is counted once; two GPUs reporting one UUID
// (a driver or hypervisor that cloned it) under two indexes, or on two
// nodes (cloned VMs) or machines (cloned VMs of one hostname), are two
// GPUs, each counted with its own reading, rather than one GPU lost to
// the count (and rented for in the cloud).
type gpuID struct{ node, machine, uuid, index string }

// sharedUUIDs says, once a UUID, that two GPUs report it, for as long as
// a baseline lists the UUID (keep).
type sharedUUIDs struct {
	mu     sync.Mutex
	warned map[string]bool
}

// warn logs, the first time for g's UUID, that first and g both report it.
func (s *sharedUUIDs) warn(log *slog.Logger, source string, first, g signals.GPU) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.warned[g.UUID] {
		return
	}
	if s.warned == nil {
		s.warned = map[string]bool{}
	}
	s.warned[g.UUID] = true
	log.Warn("two GPUs report the same UUID: both are counted, each with its own reading; a UUID names one GPU, and schedulers that allocate GPUs by UUID (Slurm, the Kubernetes device plugin) cannot tell them apart: check the node's driver or hypervisor",
		"source", source, "uuid", g.UUID, "node", g.Node, "gpu", g.Index, "first_node", first.Node, "first_gpu", first.Index)
}

// keep forgets the UUIDs none of gpus reports (GPUs replaced, nodes
// removed or unknown): without it, each UUID ever warned of was kept for
// as long as the server ran. A UUID forgotten, then shared again, is
// warned of again.
func (s *sharedUUIDs) keep(gpus []signals.GPU) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.warned) == 0 {
		return
	}
	listed := make(map[string]bool, len(gpus))
	for _, g := range gpus {
		listed[g.UUID] = true
	}
	for u := range s.warned {
		if !listed[u] {
			delete(s.warned, u)
		}
	}
}

// pairWarning is a warning the agents source gives once per pair of
// targets: each kind its own, so that one logged does not silence another
// of the same pair.
type pairWarning struct {
	kind          pairWarningKind
	target, first string
}

// pairWarningKind is what a pairWarning says of its targets.
type pairWarningKind int

const (
	sameGPU  pairWarningKind = iota // a GPU served by both (warnDuplicate)
	sameNode                        // target, listing no GPU, serves first's node (warnDuplicate)
	sameName                        // two machines of one node name (nodeOf)
)

// firstWarning says whether k is warned of for the first time, and
// marks it warned; a.mu is held.
func (a *Agents) firstWarning(k pairWarning) bool {
	if a.warned[k] {
		return false
	}
	if a.warned == nil {
		a.warned = map[pairWarning]bool{}
	}
	a.warned[k] = true
	return true
}

// warnDuplicate logs, once per pair of targets and kind, that target
// serves a GPU (uuid) that first already served, or (uuid "") the node
// first serves.
func (a *Agents) warnDuplicate(target, first, uuid string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	kind := sameGPU
	if uuid == "" {
		kind = sameNode
	}
	if !a.firstWarning(pairWarning{kind, target, first}) {
		return
	}
	if uuid == "" {
		a.log.Warn("two targets serve the same node (the GPUs the target served before): it is counted once, by the first; list each node once", "target", target, "first", first)
		return
	}
	a.log.Warn("a GPU is served by two targets: its GPUs are counted once; list each node once", "target", target, "first", first, "gpu", uuid)
}

// wedgedAnswer is an agent's 503 answer saying its driver wedged before
// any GPU was opened (agentResponse.wedgedUnopened), whole and well
// formed; ok is false for any other answer.
func wedgedAnswer(status int, body []byte, tooLarge *httpclient.TooLargeError) (r agentResponse, ok bool) {
	if status != http.StatusServiceUnavailable || tooLarge != nil {
		return agentResponse{}, false
	}
	if json.Unmarshal(body, &r) != nil || signals.DuplicateKey(body) != nil {
		return agentResponse{}, false
	}
	return r, r.wedgedUnopened()
}

func (a *Agents) scrape(ctx context.Context, target string) (agentResponse, error) {
	u, err := agentURL(target)
	if err != nil {
		return agentResponse{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return agentResponse{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := a.cfg.Client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return agentResponse{}, fmt.Errorf("no answer within %s", a.cfg.Timeout)
		}
		return agentResponse{}, err
	}
	defer resp.Body.Close()
	body, err := httpclient.ReadBody(resp.Body, resp.ContentLength, MaxAnswer)
	var tooLarge *httpclient.TooLargeError
	if err != nil && !errors.As(err, &tooLarge) {
		return agentResponse{}, fmt.Errorf("GET %s: reading body: %w", u, err)
	}
	if r, ok := wedgedAnswer(resp.StatusCode, body, tooLarge); ok {
		if err := r.bound(); err != nil {
			return agentResponse{}, fmt.Errorf("GET %s: not a spillway agent answer: %w", u, err)
		}
		return r, nil
	}
	if resp.StatusCode != http.StatusOK {
		// The body, logged every tick, may be of any length.
		return agentResponse{}, fmt.Errorf("GET %s: %s: %q", u, resp.Status, signals.Shorten(strings.TrimSpace(string(body)), 200))
	}
	if tooLarge != nil {
		return agentResponse{}, fmt.Errorf("GET %s: %w, the most read of an agent's answer", u, err)
	}
	var r agentResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return agentResponse{}, fmt.Errorf("GET %s: not a spillway agent answer: %w", u, err)
	}
	if err := signals.DuplicateKey(body); err != nil {
		return agentResponse{}, fmt.Errorf("GET %s: not a spillway agent answer: %w", u, err)
	}
	if r.Node == "" || r.SampleTime.IsZero() {
		return agentResponse{}, fmt.Errorf("GET %s: answer lacks node or sample_time: not a spillway agent?", u)
	}
	if len(r.GPUs) > signals.MaxNodeGPUs {
		return agentResponse{}, fmt.Errorf("GET %s: the answer lists %d GPUs, and a node has at most %d", u, len(r.GPUs), signals.MaxNodeGPUs)
	}
	if err := r.bound(); err != nil {
		return agentResponse{}, fmt.Errorf("GET %s: not a spillway agent answer: %w", u, err)
	}
	for _, g := range r.GPUs {
		if !(g.Utilization >= 0 && g.Utilization <= maxUtil) { // NaN fails both
			return agentResponse{}, fmt.Errorf("GET %s: GPU %s: utilization_percent %v is not from 0 to 100", u, g.UUID, g.Utilization)
		}
	}
	return r, nil
}
