// Package config reads spillway.yaml: the file's model, one strict decoder
// for the whole file, its validation, the defaults (in one place, see
// defaults.go) and the offerings catalog that fills offerings' shapes and
// prices.
//
// Load and Parse report every problem of a file at once, as
// FILE:LINE:COL: FIELD: MESSAGE (a *ValidationError of FieldErrors, whose
// Error prints the first MaxShownProblems and counts the rest). The
// engine's own types (policy.Pool and what it holds) carry the yaml tags of
// a pool's policy fields; this package adds what only a running server
// needs: the server section, providers, each pool's signals, how burst
// instances join and how they are drained.
package config

import (
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals/sources"
)

// Config is the whole spillway.yaml. Load or Parse read it strictly (an
// unknown field is an error), apply the defaults documented on each field
// and fill offerings from the catalog; configs/examples/spillway.yaml is an
// annotated example.
type Config struct {
	// Cluster names this Spillway installation; it is written into every
	// instance's spillway:cluster tag. Required; 1 to 63 letters, digits,
	// '.', '_' or '-'.
	Cluster string `yaml:"cluster"`
	// Server is how `spillway server` runs. Every field has a default, so
	// the section may be left out.
	Server Server `yaml:"server"`
	// Providers maps a provider name to how Spillway reaches it. Required:
	// at least one. Offerings refer to providers by these names.
	Providers map[string]ProviderConfig `yaml:"providers"`
	// Pools are the independent burst domains. Required: at least one, with
	// unique names.
	Pools []Pool `yaml:"pools"`
	// Simulate is how `spillway simulate` models the clouds and tunes its
	// baselines; the server ignores it. nil when left out.
	Simulate *Simulate `yaml:"simulate,omitempty"`

	// src locates fields in the file, for ValidateForServer.
	src *source
}

// Server is the server section: where `spillway server` listens, where it
// keeps its state and how often it ticks. Relative paths are resolved
// against the config file's directory by Load and Parse: after them every
// path field holds an absolute path.
type Server struct {
	// Listen is the host:port of the API, /metrics, /healthz and the status
	// page. Default 127.0.0.1:8700.
	Listen string `yaml:"listen"`
	// State is a SQLite file (default spillway.db beside the config file)
	// or a postgres:// (postgresql://) DSN, kept as written. StateIsPostgres
	// tells which.
	State string `yaml:"state"`
	// Tick is how often the server reconciles every pool. Default 10s; > 0.
	Tick policy.Duration `yaml:"tick"`
	// TokensFile holds the API's hashed tokens (`spillway token create`).
	// Optional.
	TokensFile string `yaml:"tokens_file,omitempty"`
	// TLS, when set, serves HTTPS; both files are required.
	TLS *TLS `yaml:"tls,omitempty"`
	// AnonymousRead lets requests without a token read (viewer role).
	AnonymousRead bool `yaml:"anonymous_read,omitempty"`
	// SweepGrace is how long an instance carrying this cluster's tags may
	// go unclaimed by any state row before the sweeper terminates it.
	// Default 10m; > 0.
	SweepGrace policy.Duration `yaml:"sweep_grace"`
	// Retention is how long decisions, the audit log, finished intents,
	// ended instances and ended floors are kept, and the spend ledger of
	// budget periods that have ended; pending intents, live instances,
	// open floors and the spend of a period that may still run are never
	// pruned.
	// Default 90 days (2160h); 24h to 87600h.
	Retention policy.Duration `yaml:"retention"`
	// StatePasswordFile, with a postgres:// state, holds the database
	// password (its first line); it overrides one in the DSN or in
	// PGPASSWORD. A relative path is read beside the config file. Optional.
	StatePasswordFile string `yaml:"state_password_file,omitempty"`
	// LeaseTTL, with a postgres:// state, is how long a leader's term lasts
	// unless renewed: a dead leader is replaced within it plus one tick,
	// and a leader that cannot renew stops acting before it ends. Default
	// 10s; 1s to 10m.
	LeaseTTL policy.Duration `yaml:"lease_ttl"`
	// LeaseRenew is how often the leader renews its term (and a follower
	// tries to take a free lease). Default lease_ttl/4; 100ms to
	// lease_ttl/3.
	LeaseRenew policy.Duration `yaml:"lease_renew"`
	// MaxConnections is the most HTTP connections (API, page, /metrics,
	// health checks) served at once, so that clients opening thousands of
	// connections cannot take the server's file descriptors. When all are
	// taken, a further client takes the place of a silent or idle one, and
	// waits in the kernel's listen queue only while every one is in a
	// request (docs/server.md#start). Default 256; 1 to 65536.
	MaxConnections int `yaml:"max_connections"`
}

// StateIsPostgres reports whether State is a PostgreSQL DSN rather than a
// SQLite path.
func (s Server) StateIsPostgres() bool { return isPostgresDSN(s.State) }

// TLS names the server's certificate and key (PEM files).
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// ProviderType is the kind of cloud a provider entry talks to.
type ProviderType string

// Provider types.
const (
	// ProviderAWS is AWS EC2 through aws-sdk-go-v2.
	ProviderAWS ProviderType = "aws"
	// ProviderAlicloud is Alibaba Cloud ECS through alibaba-cloud-sdk-go.
	ProviderAlicloud ProviderType = "alicloud"
	// ProviderTerraform launches instances through a Terraform module.
	ProviderTerraform ProviderType = "terraform"
)

// ProviderConfig says how to reach one cloud account/region. Which fields
// a type takes is checked in one place, ProviderConfig.Check.
type ProviderConfig struct {
	// Type is aws, alicloud or terraform. Required.
	Type ProviderType `yaml:"type"`
	// Region is the one region this provider serves (e.g. us-east-1,
	// cn-hangzhou). Required for aws and alicloud; offerings of this
	// provider default to it and may not name another.
	Region string `yaml:"region"`
	// Endpoint overrides the SDK's endpoint (e.g. `spillway emulator`).
	Endpoint string `yaml:"endpoint,omitempty"`
	// Profile (aws and alicloud) names the profile of the SDK's shared
	// files this provider signs with, instead of the SDK's default chain,
	// so that two providers of one type can use two accounts: for aws a
	// profile of ~/.aws/config or ~/.aws/credentials (AWS_CONFIG_FILE,
	// AWS_SHARED_CREDENTIALS_FILE), which may assume a role (role_arn with
	// source_profile); for alicloud a profile of ~/.alibabacloud/credentials
	// (ALIBABA_CLOUD_CREDENTIALS_FILE): access_key, ram_role_arn or
	// ecs_ram_role. It names where the credentials are, never the secret.
	// Empty: the SDK's default chain (environment, AWS_PROFILE, roles).
	Profile string `yaml:"profile,omitempty"`
	// Subnets (AWS) or vSwitches (Alibaba) keyed by zone, tried in order.
	// An offering that names a zone must have a subnet in it. The server
	// needs at least one for aws and alicloud.
	Subnets []Subnet `yaml:"subnets,omitempty"`
	// LaunchTemplate (an id or a name, on AWS and on Alibaba) and/or Image
	// (an AMI or an Alibaba image id) to boot; the server needs one of them
	// for aws and alicloud.
	LaunchTemplate string `yaml:"launch_template,omitempty"`
	Image          string `yaml:"image,omitempty"`
	// SecurityGroups are attached to every instance.
	SecurityGroups []string `yaml:"security_groups,omitempty"`
	// UserData is the bootstrap script every instance runs, a text/template
	// over InstanceFields (a pool's user_data overrides it).
	UserData string `yaml:"user_data,omitempty"`
	// Module is the Terraform module directory (relative to the config
	// file); required for type terraform and refused for the others.
	Module string `yaml:"module,omitempty"`
	// Zones (terraform only) are tried in order when an offering names no
	// zone. Required for type terraform.
	Zones []string `yaml:"zones,omitempty"`
	// Variables (terraform only) are fixed values of the module's own
	// variables (VPC ids, images, subnets per zone, …): any YAML value
	// (text, number, list, map), passed on every run.
	Variables map[string]TFValue `yaml:"variables,omitempty"`
	// BackendConfig (terraform only) is passed to terraform init as
	// -backend-config key=value pairs; "{burst}" in a value becomes the
	// burst's key, so a shared backend keeps one state per burst.
	BackendConfig map[string]string `yaml:"backend_config,omitempty"`
	// WorkDir (terraform only) holds one directory per burst with its
	// state and run logs. Default: terraform-NAME beside server.state (or
	// beside the config file when the state is in PostgreSQL).
	WorkDir string `yaml:"work_dir,omitempty"`
	// CallTimeout bounds each call the server makes to this provider (a
	// launch, a list, a termination, a reconcile), on shutdown too: a
	// mutating call in flight gets this long to finish. Default by type
	// (DefaultCallTimeout): 1m for aws and alicloud, whose API calls answer
	// in seconds, 10m for terraform, whose apply waits until its instances
	// run. 5s to 1h.
	CallTimeout policy.Duration `yaml:"call_timeout,omitempty"`
}

// Subnet is one placement target: an AWS subnet or an Alibaba vSwitch.
type Subnet struct {
	// Zone is the availability zone the subnet is in. Required.
	Zone string `yaml:"zone"`
	// ID is the subnet or vSwitch id. Required.
	ID string `yaml:"id"`
}

// Pool is one burst domain: the engine's pool (written flat in the file,
// next to the fields below) and what the server needs to run it.
type Pool struct {
	// Policy is what policy.Decide reads: name, onprem, offerings, limits,
	// scale-in, schedules, manual bursts. Its fields are the pool's own in
	// the YAML (not nested under a key).
	Policy policy.Pool `yaml:",inline"`
	// Signals says where the pool's on-prem baseline and queue demand come
	// from. nil when the pool has none: `spillway simulate` needs none,
	// `spillway server` refuses such a pool (Config.ValidateForServer).
	// How old a signal may be is the pool's stale_after (Policy.StaleAfter).
	Signals *Signals `yaml:"signals,omitempty"`
	// Join says how the server learns that a burst instance has joined.
	Join Join `yaml:"join"`
	// Drain is the hook run once before a burst instance is terminated.
	Drain Drain `yaml:"drain"`
	// UserData, when set, replaces the provider's user_data for this
	// pool's instances; a text/template over InstanceFields.
	UserData string `yaml:"user_data,omitempty"`

	// src and path locate the pool in its file, for BuildSignals' errors.
	src  *source
	path string
}

// Signals is where one pool's signals come from: its on-prem GPU baseline
// (spillway agents or Prometheus) and its queue demand.
type Signals struct {
	// Baseline holds exactly one of agents or prometheus; nil when the
	// queue alone says whether on-prem is full (every on-prem GPU of the
	// pool's onprem then counts as busy).
	Baseline *sources.Baseline `yaml:"baseline,omitempty"`
	// Demand lists the pool's queues: at least one.
	Demand []sources.Demand `yaml:"demand"`
}

// Join says how the server learns that a burst instance has joined: it
// scrapes the spillway agent the instance runs (started by user_data).
type Join struct {
	// AgentURL is a text/template over InstanceFields giving the agent's
	// base URL. Default "http://{{.PrivateIP}}:9401".
	AgentURL string `yaml:"agent_url"`
	// Timeout: an instance whose agent has not answered this long after
	// launch is terminated and counted as a failed launch. Default: three
	// boots of the pool's slowest offering, at least 10m
	// (policy.Pool.DefaultJoinTimeout); > 0.
	Timeout policy.Duration `yaml:"timeout"`
}

// Drain is the hook that takes a burst instance out of the on-prem
// scheduler before it is terminated: at most one of Command and HTTP;
// neither means no hook (the instance is terminated once it is idle or its
// drain_timeout has passed).
type Drain struct {
	// Command is an argv (no shell), each element a text/template over
	// InstanceFields, e.g. [scontrol, update, "nodename={{.Name}}",
	// state=drain, reason=spillway].
	Command []string `yaml:"command,omitempty"`
	// HTTP calls a URL instead.
	HTTP *DrainHTTP `yaml:"http,omitempty"`
	// Timeout bounds one run of the hook. Default 30s; > 0.
	Timeout policy.Duration `yaml:"timeout"`
}

// DrainHTTP is a drain hook that calls a URL.
type DrainHTTP struct {
	// URL is a text/template over InstanceFields giving an http(s) URL.
	// Required.
	URL string `yaml:"url"`
	// Method is GET, POST, PUT, PATCH or DELETE. Default POST.
	Method string `yaml:"method"`
}
