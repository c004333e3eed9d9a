// Package sources builds one pool's signal sources from their settings: the
// baseline source (spillway agents or Prometheus) and the demand sources
// (slurm, redis, http, command through signals/queue, and prometheus
// through signals/queue/prometheus), each wrapped with its timeout and
// retries.
//
// The settings are written under each pool of spillway.yaml, e.g.
//
//	signals:
//	  baseline:
//	    agents:
//	      urls: [http://127.0.0.1:9401]
//	  demand:
//	    - type: slurm
//	      slurm: {partition: gpu}
//
// The config package decodes and checks them (strictly, with the file's
// line and column in every message) and calls Build.
package sources

import (
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals/queue"
)

// TypePrometheus is the demand source type built by signals/queue/prometheus.
const TypePrometheus = "prometheus"

// DemandTypes are the demand source types Build knows.
var DemandTypes = []string{queue.TypeSlurm, queue.TypeRedis, queue.TypeHTTP, queue.TypeCommand, TypePrometheus}

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
	// it changes (config resolves a relative path against spillway.yaml's
	// directory).
	TargetsFile string `yaml:"targets_file,omitempty"`
	// Match keeps only the targets file's groups carrying these labels.
	Match map[string]string `yaml:"match,omitempty"`
	// Concurrency bounds simultaneous scrapes (64 when zero).
	Concurrency int `yaml:"concurrency,omitempty"`
	// Timeout bounds each agent's answer (2s when zero).
	Timeout policy.Duration `yaml:"timeout,omitempty"`
	// MaxSampleAge: an agent serving an older sample is unknown (30s when zero).
	MaxSampleAge policy.Duration `yaml:"max_sample_age,omitempty"`
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
	// UnhealthyQuery returns one series per GPU with the node and UUID
	// labels, 1 when the GPU is unhealthy and 0 when not
	// (spillway_gpu_unhealthy when empty); set, it is taken to be narrowed
	// to the pool, as UtilQuery is: a GPU it lists on a node UtilQuery
	// does not (all its GPUs lost) counts, unhealthy.
	UnhealthyQuery string `yaml:"unhealthy_query,omitempty"`
	// Labels name the GPU-identifying labels (dcgm-exporter's when empty).
	Labels *Labels `yaml:"labels,omitempty"`
	// BusyUtil is the utilisation in percent from which a GPU is busy (10 when zero).
	BusyUtil float64 `yaml:"busy_util,omitempty"`
	// Timeout bounds each query (10s when zero).
	Timeout policy.Duration `yaml:"timeout,omitempty"`
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
	Query string `yaml:"query,omitempty"`
	// JobGPUsQuery, instead of Query, returns one sample per pending job
	// holding the GPUs it asks.
	JobGPUsQuery string `yaml:"job_gpus_query,omitempty"`
	// JobWaitQuery, with JobGPUsQuery, returns each of those jobs' wait in
	// seconds, as samples with the same labels.
	JobWaitQuery string `yaml:"job_wait_query,omitempty"`
	// Measure is what Query counts: jobs (the default) or gpus.
	Measure string `yaml:"measure,omitempty"`
	// OldestWaitQuery returns the oldest pending job's wait in seconds.
	OldestWaitQuery string `yaml:"oldest_wait_query,omitempty"`
	// GPUsPerJob, with Query, is what every pending job asks.
	GPUsPerJob int `yaml:"gpus_per_job,omitempty"`
}
