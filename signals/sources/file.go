// Package sources turns a signals file (YAML) into built signal sources:
// one pool's baseline source (spillway agents or Prometheus) and its demand
// sources (slurm, redis, http, command through signals/queue, and
// prometheus through signals/queue/prometheus), each wrapped with its
// timeout and retries.
//
// A file looks like this:
//
//	pool: training
//	stale_after: 2m
//	onprem: {nodes: 4, gpus_per_node: 8}
//	baseline:
//	  agents:
//	    urls: [http://127.0.0.1:9401]
//	demand:
//	  - type: slurm
//	    slurm: {partition: gpu}
//
// Decoding is strict: an unknown field, a value of the wrong type or a bad
// duration is an error naming the file and line.
package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/spillway-io/spillway/signals/queue"
)

// TypePrometheus is the demand source type built by signals/queue/prometheus.
const TypePrometheus = "prometheus"

// File is a signals file: where one pool's signals come from.
type File struct {
	// Path is the file it was read from (used in errors and to resolve
	// relative paths).
	Path string `yaml:"-"`
	// Pool names the pool these signals feed.
	Pool string `yaml:"pool"`
	// StaleAfter is how old a signal may be before the policy holds
	// (signals.DefaultStaleAfter when zero).
	StaleAfter Duration `yaml:"stale_after,omitempty"`
	// OnPrem is the pool's owned baseline, as in spillway.yaml. It is used
	// for the GPUs of nodes that do not answer (GPUsPerNode each), and for
	// every GPU when there is no baseline or it fails. Optional.
	OnPrem OnPrem `yaml:"onprem,omitempty"`
	// Baseline is where the on-prem GPU picture comes from; nil when the
	// queue alone says whether on-prem is full.
	Baseline *Baseline `yaml:"baseline,omitempty"`
	// Demand lists the pool's queues. At least one.
	Demand []Demand `yaml:"demand"`

	// lines hold where sections start, for errors found after decoding.
	baselineLine int
	demandLines  []int
	fileLine     int
}

// OnPrem is the pool's owned baseline.
type OnPrem struct {
	Nodes       int `yaml:"nodes"`
	GPUsPerNode int `yaml:"gpus_per_node"`
}

// Baseline holds exactly one baseline source.
type Baseline struct {
	Agents     *Agents             `yaml:"agents,omitempty"`
	Prometheus *PrometheusBaseline `yaml:"prometheus,omitempty"`
}

// Agents reads the baseline from spillway agents (their /v1/gpus).
type Agents struct {
	// Name identifies the source ("agents:<name>"); the pool's name when empty.
	Name string `yaml:"name,omitempty"`
	// URLs are agents as http://host:port or host:port.
	URLs []string `yaml:"urls,omitempty"`
	// TargetsFile is a Prometheus file_sd JSON file of agents, re-read when
	// it changes; relative to the signals file's directory.
	TargetsFile string `yaml:"targets_file,omitempty"`
	// Match keeps only the targets file's groups carrying these labels.
	Match map[string]string `yaml:"match,omitempty"`
	// Concurrency bounds simultaneous scrapes (64 when zero).
	Concurrency int `yaml:"concurrency,omitempty"`
	// Timeout bounds each agent's answer (2s when zero).
	Timeout Duration `yaml:"timeout,omitempty"`
	// MaxSampleAge: an agent serving an older sample is unknown (30s when zero).
	MaxSampleAge Duration `yaml:"max_sample_age,omitempty"`
}

// PrometheusBaseline reads the baseline from GPU metrics in Prometheus
// (dcgm-exporter's by default).
type PrometheusBaseline struct {
	// Name identifies the source ("prometheus:<name>"); the pool's name when empty.
	Name string `yaml:"name,omitempty"`
	URL  string `yaml:"url"`
	// UtilQuery returns one series per GPU with its utilisation in percent
	// (DCGM_FI_DEV_GPU_UTIL when empty).
	UtilQuery string `yaml:"util_query,omitempty"`
	// MemoryUsedQuery returns one series per GPU with the bytes in use.
	MemoryUsedQuery string `yaml:"memory_used_query,omitempty"`
	// AllocatedMemoryBytes: a GPU holding this much memory is allocated (1 GiB when zero).
	AllocatedMemoryBytes uint64 `yaml:"allocated_memory_bytes,omitempty"`
	// UnknownQuery returns series for targets that failed, e.g. up{job="dcgm"} == 0;
	// their UnknownLabel ("instance" when empty) is listed as unknown.
	UnknownQuery string `yaml:"unknown_query,omitempty"`
	UnknownLabel string `yaml:"unknown_label,omitempty"`
	// Labels name the GPU-identifying labels (dcgm-exporter's when empty).
	Labels *Labels `yaml:"labels,omitempty"`
	// BusyUtil is the utilisation in percent from which a GPU is busy (10 when zero).
	BusyUtil float64 `yaml:"busy_util,omitempty"`
	// Timeout bounds each query (10s when zero).
	Timeout Duration `yaml:"timeout,omitempty"`
}

// Labels name the series labels identifying a GPU.
type Labels struct {
	Node  string `yaml:"node"`
	GPU   string `yaml:"gpu,omitempty"`
	UUID  string `yaml:"uuid"`
	Model string `yaml:"model,omitempty"`
}

// Demand is one demand source: queue.Config (slurm, redis, http, command,
// with timeout, attempts and backoff) or type prometheus with its settings.
type Demand struct {
	queue.Config `yaml:",inline"`
	Prometheus   *PrometheusDemand `yaml:"prometheus,omitempty"`
}

// PrometheusDemand is an instant PromQL query returning the pending jobs
// or GPUs.
type PrometheusDemand struct {
	// Name identifies the source ("prometheus:<name>"); the pool's name when empty.
	Name string `yaml:"name,omitempty"`
	URL  string `yaml:"url"`
	// Query returns one number, e.g. sum(slurm_queue_pending{partition="gpu"}).
	Query string `yaml:"query"`
	// Measure is what Query counts: jobs (the default) or gpus.
	Measure string `yaml:"measure,omitempty"`
	// OldestWaitQuery returns the oldest pending job's wait in seconds.
	OldestWaitQuery string `yaml:"oldest_wait_query,omitempty"`
}

// Duration is a time.Duration written as "30s", "2m" or "1h30m".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration: want e.g. 30s, 2m or 1h30m", n.Line, n.Value)}}
	}
	if v < 0 {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: duration %s is negative: want 0 or more", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

// Problem is one thing wrong with a signals file.
type Problem struct {
	File string
	// Line is 0 when the problem is not tied to a line.
	Line int
	Msg  string
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return p.File + ": " + p.Msg
}

// FileError is a signals file that cannot be used: every problem found,
// each with its file and line.
type FileError struct {
	Problems []Problem
	// Err is the underlying error when there is a single one (e.g. the file
	// cannot be read).
	Err error
}

func (e *FileError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the underlying error, if any.
func (e *FileError) Unwrap() error { return e.Err }

// Load reads and checks a signals file.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &FileError{Problems: []Problem{{File: path, Msg: "cannot read the signals file: " + err.Error()}}, Err: err}
	}
	return Parse(path, data)
}

// yamlLine is how yaml.v3 starts each of its error entries.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// Parse decodes a signals file strictly and checks it; name is used in
// errors. It builds nothing.
func Parse(name string, data []byte) (*File, error) {
	f := &File{Path: name}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(f)
	if errors.Is(err, io.EOF) {
		return nil, &FileError{Problems: []Problem{{File: name, Msg: "the file is empty: want pool, baseline and demand (see configs/examples/signals.yaml)"}}}
	}
	if err != nil {
		return nil, &FileError{Problems: yamlProblems(name, err), Err: err}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil {
		f.locate(&root)
	}
	if ps := f.check(); len(ps) > 0 {
		return nil, &FileError{Problems: ps}
	}
	return f, nil
}

// yamlProblems turns yaml.v3's errors into problems with lines, in words
// that name what would be valid.
func yamlProblems(file string, err error) []Problem {
	var te *yaml.TypeError
	var entries []string
	if errors.As(err, &te) {
		entries = te.Errors
	} else {
		entries = []string{err.Error()}
	}
	ps := make([]Problem, 0, len(entries))
	for _, e := range entries {
		p := Problem{File: file, Msg: strings.TrimPrefix(e, "yaml: ")}
		if m := yamlLine.FindStringSubmatch(e); m != nil {
			fmt.Sscan(m[1], &p.Line)
			p.Msg = m[2]
		}
		p.Msg = explain(p.Msg)
		ps = append(ps, p)
	}
	return ps
}

var (
	unknownField = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	badValue     = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")
)

// explain rewrites yaml.v3's messages about unknown fields and bad values
// to name the valid fields and the expected kind of value.
func explain(msg string) string {
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		if t, ok := knownTypes()[m[2]]; ok {
			return fmt.Sprintf("unknown field %q: valid fields here are %s", m[1], strings.Join(yamlFields(t), ", "))
		}
		return fmt.Sprintf("unknown field %q", m[1])
	}
	if m := badValue.FindStringSubmatch(msg); m != nil {
		switch m[3] {
		case "time.Duration":
			return fmt.Sprintf("%q is not a duration: want e.g. 30s, 2m or 1h30m", m[2])
		case "int", "int64", "uint64":
			return fmt.Sprintf("%q is not a whole number", m[2])
		case "float64":
			return fmt.Sprintf("%q is not a number", m[2])
		case "bool":
			return fmt.Sprintf("%q is not true or false", m[2])
		case "string":
			return fmt.Sprintf("want a single value, got a %s", m[1])
		}
		if strings.HasPrefix(m[3], "[]") {
			return fmt.Sprintf("want a list, got %q", m[2])
		}
		return fmt.Sprintf("want a mapping (key: value lines), got %q", m[2])
	}
	return msg
}

// knownTypes maps the Go type names yaml.v3 prints to the types of the file,
// so that an unknown field's error can list the valid ones.
func knownTypes() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || m[t.String()] != nil {
			return
		}
		m[t.String()] = t
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeFor[File]())
	return m
}

// yamlFields lists a struct type's YAML field names, inline fields included.
func yamlFields(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "-" || !f.IsExported():
		case strings.Contains(opts, "inline"):
			names = append(names, yamlFields(f.Type)...)
		case name == "":
			names = append(names, strings.ToLower(f.Name))
		default:
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// locate records where the baseline and each demand source start.
func (f *File) locate(root *yaml.Node) {
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	f.fileLine = root.Line
	if root.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "baseline":
			f.baselineLine = k.Line
		case "demand":
			for _, item := range v.Content {
				f.demandLines = append(f.demandLines, item.Line)
			}
		}
	}
}

func (f *File) demandLine(i int) int {
	if i < len(f.demandLines) {
		return f.demandLines[i]
	}
	return 0
}

// check finds what decoding cannot: missing and contradicting settings.
// Settings of the sources themselves are checked when they are built.
func (f *File) check() []Problem {
	var ps []Problem
	add := func(line int, format string, a ...any) {
		ps = append(ps, Problem{File: f.Path, Line: line, Msg: fmt.Sprintf(format, a...)})
	}
	if f.Pool == "" {
		add(f.fileLine, "pool is empty: name the pool these signals feed, e.g. pool: training")
	}
	if f.OnPrem.Nodes < 0 || f.OnPrem.GPUsPerNode < 0 {
		add(f.fileLine, "onprem: nodes %d and gpus_per_node %d must not be negative", f.OnPrem.Nodes, f.OnPrem.GPUsPerNode)
	}
	if b := f.Baseline; b != nil && (b.Agents == nil) == (b.Prometheus == nil) {
		add(f.baselineLine, "baseline: want exactly one of agents or prometheus")
	}
	if len(f.Demand) == 0 {
		add(f.fileLine, "demand is empty: want at least one demand source (type slurm, redis, http, command or prometheus); without one the policy always holds")
	}
	for i, d := range f.Demand {
		line := f.demandLine(i)
		switch {
		case d.Type == "":
			add(line, "demand[%d]: type is empty: want one of %s", i, demandTypes)
		case d.Type == TypePrometheus && d.Prometheus == nil:
			add(line, "demand[%d]: type prometheus has no prometheus: settings", i)
		case d.Type != TypePrometheus && d.Prometheus != nil:
			add(line, "demand[%d]: has prometheus: settings but type is %q", i, d.Type)
		}
	}
	return ps
}

const demandTypes = "slurm, redis, http, command, prometheus"
