package terraform_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/terraform"
)

func TestCheckModuleNamesWhatIsMissing(t *testing.T) {
	tests := []struct {
		module string
		fixed  map[string]any
		want   string
	}{
		{"no_instances", nil, `terraform module testdata/contract/no_instances does not satisfy the Spillway module contract: declares no variable "instances" (Spillway sets cluster, pool, burst, instances on every run)`},
		{"no_output", nil, `terraform module testdata/contract/no_output does not satisfy the Spillway module contract: declares no output "instances" (Spillway reads the instances it holds from it)`},
		{"list_type", nil, `terraform module testdata/contract/list_type does not satisfy the Spillway module contract: variable "instances" has type list(string): want map(object({...})), keyed by instance key`},
		{"map_string", nil, `terraform module testdata/contract/map_string does not satisfy the Spillway module contract: variable "instances" has type map(string): want map(object({...})), keyed by instance key`},
		{"number_pool", nil, `terraform module testdata/contract/number_pool does not satisfy the Spillway module contract: variable "pool" has type number: want string (Spillway sets it to the pool's name)`},
		{"unknown_attr", nil, `terraform module testdata/contract/unknown_attr does not satisfy the Spillway module contract: variable "instances" has attribute "disk_gb", which Spillway does not set (it sets instance_type, zone, market, gpus, tags, user_data)`},
		{"needs_vpc", nil, `terraform module testdata/contract/needs_vpc does not satisfy the Spillway module contract: requires variables "subnet_id", "vpc_id", which have no default and are not among the provider's fixed variables`},
		{"needs_vpc", map[string]any{"subnet_id": "subnet-1"}, `terraform module testdata/contract/needs_vpc does not satisfy the Spillway module contract: requires variable "vpc_id", which has no default and is not among the provider's fixed variables`},
		{"nowhere", nil, `terraform module testdata/contract/nowhere does not satisfy the Spillway module contract: cannot be read: no such file or directory: want an existing directory holding *.tf files`},
		// Spillway runs a copy of the module directory: a local source
		// must lead inside it.
		{"outside_source", nil, `terraform module testdata/contract/outside_source does not satisfy the Spillway module contract: ` +
			`module "gone" (testdata/contract/outside_source/main.tf:27) has source "./modules/gone", which cannot be read (no such file or directory): want a directory inside the module directory; ` +
			`module "sibling" (testdata/contract/outside_source/modules/inner/main.tf:1) has source "../../../no_instances", which is testdata/contract/no_instances, outside the module directory: ` +
			`Spillway runs a copy of the module directory, where it would not be; move it inside (e.g. ./modules/no_instances), or give it a registry or git source; ` +
			`module "shared" (testdata/contract/outside_source/main.tf:23) has source "../no_output", which is testdata/contract/no_output, outside the module directory: ` +
			`Spillway runs a copy of the module directory, where it would not be; move it inside (e.g. ./modules/no_output), or give it a registry or git source`},
		// Terraform would refuse to destroy these, so an instance (or the
		// burst) could never be ended: refused at start, not at the first
		// Terminate. An override file has the last word; a child module's
		// resources count.
		{"prevent_destroy", nil, `terraform module testdata/contract/prevent_destroy does not satisfy the Spillway module contract: ` +
			`resource terraform_data.disk (testdata/contract/prevent_destroy/disk.tf.json:6) sets lifecycle { prevent_destroy = true }: ` +
			`Terraform would refuse to destroy it, so ending an instance (or a burst, whose state is destroyed whole) would fail every time while it runs and is billed; ` +
			`remove prevent_destroy from it (each burst's resources are its own, ended with the burst); ` +
			`resource terraform_data.instance (testdata/contract/prevent_destroy/main.tf:25) sets lifecycle { prevent_destroy = true }: ` +
			`Terraform would refuse to destroy it, so ending an instance (or a burst, whose state is destroyed whole) would fail every time while it runs and is billed; ` +
			`remove prevent_destroy from it (each burst's resources are its own, ended with the burst); ` +
			`module.gpu.terraform_data.volume (testdata/contract/prevent_destroy/modules/gpu/main.tf:9) sets lifecycle { prevent_destroy = true }: ` +
			`Terraform would refuse to destroy it, so ending an instance (or a burst, whose state is destroyed whole) would fail every time while it runs and is billed; ` +
			`remove prevent_destroy from it (each burst's resources are its own, ended with the burst)`},
		{"needs_vpc", map[string]any{"vpc_id": "vpc-1", "subnet_id": "subnet-1", "vcp_id": "typo"}, `terraform module testdata/contract/needs_vpc does not satisfy the Spillway module contract: does not declare variable "vcp_id", given in the provider's fixed variables`},
		{"typed_fixed", map[string]any{
			"subnets": []any{"subnet-1"}, "security_group_ids": "sg-1",
			"disk": map[string]any{"size_gb": "big"}, "anything": []any{1, "x"},
		}, `terraform module testdata/contract/typed_fixed does not satisfy the Spillway module contract: ` +
			`variable "disk" has type object({ size_gb = number, kind = optional(string, "gp3") }), which the provider's fixed value {"size_gb":"big"} does not fit: .size_gb: a number is required; ` +
			`variable "security_group_ids" has type list(string), which the provider's fixed value "sg-1" does not fit: list of string required, but have string; ` +
			`variable "subnets" has type map(string), which the provider's fixed value ["subnet-1"] does not fit: map of string required`},
	}
	for _, tt := range tests {
		t.Run(tt.module, func(t *testing.T) {
			err := terraform.CheckModule("testdata/contract/"+tt.module, tt.fixed)
			var ce *terraform.ContractError
			if !errors.As(err, &ce) {
				t.Fatalf("CheckModule = %v, want a *ContractError", err)
			}
			if err.Error() != tt.want {
				t.Errorf("CheckModule error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
	if err := terraform.CheckModule("testdata/contract/needs_vpc", map[string]any{"vpc_id": "vpc-1", "subnet_id": "subnet-1"}); err != nil {
		t.Errorf("needs_vpc with vpc_id and subnet_id fixed: %v", err)
	}
	// Values Terraform converts are taken: a number for a string, an
	// object with an optional attribute left out, anything for an untyped
	// variable.
	if err := terraform.CheckModule("testdata/contract/typed_fixed", map[string]any{
		"subnets": map[string]any{"us-east-1a": "subnet-1", "us-east-1b": 7}, "security_group_ids": []any{"sg-1"},
		"disk": map[string]any{"size_gb": 100}, "anything": []any{1, "x"},
	}); err != nil {
		t.Errorf("typed_fixed with values of its types: %v", err)
	}
	err := terraform.CheckModule("testdata/contract/broken", nil)
	if err == nil || !strings.Contains(err.Error(), "cannot be read") || !strings.Contains(err.Error(), "main.tf") {
		t.Errorf("a module that does not parse: err = %v, want Terraform's parse error naming main.tf", err)
	}
}

// The shipped modules satisfy the contract with their required settings
// fixed, and name those settings when they are not.
func TestShippedModulesSatisfyTheContract(t *testing.T) {
	tests := []struct {
		dir      string
		fixed    map[string]any
		required string
	}{
		{"../configs/terraform/aws", map[string]any{
			"region": "us-east-1", "subnets": map[string]string{"us-east-1a": "subnet-1"},
			"ami": "ami-1", "security_group_ids": []string{"sg-1"},
		}, `requires variables "ami", "region", "security_group_ids", "subnets", which have no default`},
		{"../configs/terraform/alicloud", map[string]any{
			"region": "cn-hangzhou", "vswitches": map[string]string{"cn-hangzhou-h": "vsw-1"},
			"image_id": "m-1", "security_group_ids": []string{"sg-1"},
		}, `requires variables "image_id", "region", "security_group_ids", "vswitches", which have no default`},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			if err := terraform.CheckModule(tt.dir, tt.fixed); err != nil {
				t.Errorf("CheckModule: %v", err)
			}
			err := terraform.CheckModule(tt.dir, nil)
			if err == nil || !strings.Contains(err.Error(), tt.required) {
				t.Errorf("CheckModule without fixed variables = %v, want it to say %s", err, tt.required)
			}
		})
	}
	out, err := exec.Command("terraform", "fmt", "-check", "-recursive", "-list=true", "../configs/terraform").CombinedOutput()
	if err != nil {
		t.Errorf("terraform fmt -check ../configs/terraform: %v\n%s", err, out)
	}
}

func TestConfigValidateNamesEveryProblem(t *testing.T) {
	cfg := terraform.Config{
		Module: "testdata/nowhere", Zones: []string{"us-east-1a", "US East", "us-east-1a"},
		Variables:     map[string]any{"instances": 1, "9lives": 2},
		BackendConfig: map[string]string{"key-name": "x"},
		WorkDir:       "relative/dir",
	}
	err := cfg.Validate("burst-tf")
	var ce *terraform.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Validate = %v, want *ConfigError", err)
	}
	want := []terraform.Problem{
		{"module", `"testdata/nowhere": no such file or directory: want an existing directory holding *.tf files`},
		{"zones[1]", `"US East" is not a zone name: want lower-case letters, digits and '-', at most 63, e.g. us-east-1a`},
		{"zones[2]", `"us-east-1a" is listed twice`},
		{"variables.9lives", `not a Terraform variable name (want a letter or '_' then letters, digits, '_' or '-')`},
		{"variables.instances", `"instances" is set by Spillway on every run (the module contract's variables are cluster, pool, burst, instances); remove it`},
		{"backend_config.key-name", `not a backend setting name (want letters, digits and '_')`},
		{"work_dir", `"relative/dir" is relative: want an absolute path`},
	}
	if !slices.Equal(ce.Problems, want) {
		t.Errorf("problems:\n got %+v\nwant %+v", ce.Problems, want)
	}
	if !strings.HasPrefix(err.Error(), `terraform provider "burst-tf": module`) {
		t.Errorf("error %q does not name the provider first", err)
	}
	empty := terraform.Config{}.Validate("x")
	for _, w := range []string{"module: missing", "zones: none listed", "work_dir: missing"} {
		if empty == nil || !strings.Contains(empty.Error(), w) {
			t.Errorf("empty config: %v, want it to say %q", empty, w)
		}
	}
}

// TestProblemsOfWorkDir: a work_dir New could not make (a file, or under
// one) is a problem of work_dir, reported before any state is touched;
// one that is missing under a directory is made by New, and is none.
func TestProblemsOfWorkDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "state.db")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, workDir, want string
	}{
		{"a directory", dir, ""},
		{"missing, under a directory", filepath.Join(dir, "a", "b"), ""},
		{"a file", file, `"` + file + `" is a file: want a directory Spillway may write (one sub-directory per burst)`},
		{"under a file", filepath.Join(file, "tf", "x"), `"` + filepath.Join(file, "tf", "x") + `" cannot be created: ` + file + " is a file, not a directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := terraform.Config{Module: "testdata/contract/needs_vpc", Zones: []string{"us-east-1a"}, WorkDir: tt.workDir}
			var want []terraform.Problem
			if tt.want != "" {
				want = []terraform.Problem{{Field: "work_dir", Msg: tt.want}}
			}
			if got := cfg.Problems(); !slices.Equal(got, want) {
				t.Errorf("Problems() = %+v, want %+v", got, want)
			}
		})
	}
}

// TestLookBinary: without a terraform on PATH, New (with no WithBinary)
// and LookBinary fail alike, saying what to install.
func TestLookBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := terraform.LookBinary()
	if !errors.Is(err, exec.ErrNotFound) || !strings.Contains(err.Error(), "no terraform binary on PATH") || !strings.Contains(err.Error(), "install Terraform 1.5 or later") {
		t.Errorf("LookBinary = %v, want exec.ErrNotFound wrapped, saying what to install", err)
	}
	cfg := terraform.Config{Module: "testdata/contract/needs_vpc", Zones: []string{"us-east-1a"}, WorkDir: t.TempDir(), Variables: map[string]any{"vpc_id": "vpc-1"}}
	if _, err := terraform.New("tf", cfg); !errors.Is(err, exec.ErrNotFound) || !strings.Contains(err.Error(), `terraform provider "tf": no terraform binary on PATH`) {
		t.Errorf("New = %v, want the provider named and exec.ErrNotFound wrapped", err)
	}
}

// TestCheckCoreVersion: a module whose required_version the terraform on
// PATH does not meet is refused, naming the constraint, the binary and its
// version (every init would fail); one it meets is not.
func TestCheckCoreVersion(t *testing.T) {
	ctx := testCtx(t)
	bin, err := terraform.LookBinary()
	if err != nil {
		t.Fatal(err)
	}
	err = terraform.CheckCoreVersion(ctx, bin, "testdata/contract/future")
	want := `terraform module testdata/contract/future requires Terraform >= 1.5.0, >= 99.0 (its required_version), and ` + bin + ` is `
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), ": install a Terraform it accepts first on the server's PATH") {
		t.Errorf("CheckCoreVersion of a module wanting Terraform 99 = %v, want it to say %s<version>: install ...", err, want)
	}
	for _, dir := range []string{"testdata/badoutput", "testdata/contract/needs_vpc", "testdata/contract/broken"} {
		if err := terraform.CheckCoreVersion(ctx, bin, dir); err != nil {
			t.Errorf("CheckCoreVersion(%s) = %v, want nil", dir, err)
		}
	}
}

// A terraform on PATH older than Spillway runs (Terraform 0.14, whose
// plan takes no -json; 1.3, without import blocks) passed the start-up
// check of a module that sets no required_version, which asked no
// version at all: the server started, and its runs failed, each launch
// with Terraform's "flag provided but not defined: -json" on 0.14. It is
// refused at start, naming the binary, its version and the one wanted.
func TestCheckCoreVersionRefusesATerraformOlderThanSpillwayRuns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, prints, version string }{
		{"json", `{"terraform_version":"1.3.9","platform":"linux_amd64"}`, "1.3.9"},
		// Terraform before 0.13 has no version -json.
		{"text", "Terraform v0.12.31", "0.12.31"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bin := filepath.Join(t.TempDir(), "terraform")
			if err := os.WriteFile(bin, []byte("#!/bin/sh\necho '"+tc.prints+"'\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			err := terraform.CheckCoreVersion(testCtx(t), bin, "testdata/contract/needs_vpc")
			want := bin + " is Terraform " + tc.version + ", and Spillway runs Terraform 1.5.0 or later"
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("CheckCoreVersion of a module without required_version = %v, want it to say %s", err, want)
			}
		})
	}
}

// The plugin cache New makes in the work dir, removed since (a work dir
// cleaned by hand), was left gone: every init then printed "Error: The
// specified plugin cache dir ... cannot be opened" and went on without
// it, downloading each provider for every burst's init. It is made again
// before each init.
func TestPluginCacheRemovedIsMadeAgain(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	p := newProvider(t, terraform.Config{Module: "testdata/plain", Region: region, Zones: zones, WorkDir: work})
	cache := filepath.Join(work, "plugin-cache")
	if err := os.Remove(cache); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Launch(testCtx(t), launchRequest("cache", "cache-1", 1)); err != nil {
		t.Fatalf("Launch: %v", err)
	}
	if st, err := os.Stat(cache); err != nil || !st.IsDir() {
		t.Errorf("the plugin cache %s after a launch: %v; want it made again", cache, err)
	}
	logs, err := filepath.Glob(filepath.Join(work, "modules", "*.init.log"))
	if err != nil || len(logs) != 1 {
		t.Fatalf("init logs %v, %v; want one", logs, err)
	}
	if data, err := os.ReadFile(logs[0]); err != nil || bytes.Contains(data, []byte("cannot be opened")) {
		t.Errorf("init's log (%v) says the plugin cache cannot be opened:\n%s", err, data)
	}
}

// wrappedTerraform writes a script standing for the binary that runs
// before (a shell command) and then execs the real Terraform.
func wrappedTerraform(t *testing.T, before string) string {
	t.Helper()
	real, err := terraform.LookBinary()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "terraform")
	script := fmt.Sprintf("#!/bin/sh\n%s\nexec '%s' \"$@\"\n", before, real)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestCheckCoreVersionHoldsLittleOfWhatTheBinaryPrints: a wrapper standing
// for terraform that prints 100 MB on stderr before the version (tracing
// itself, say) is still read for its version, without the server holding
// what it printed; one printing 100 MB on stdout is refused, saying so,
// holding little of it either; one that prints nothing and exits 0 is
// refused, saying it printed no version.
func TestCheckCoreVersionHoldsLittleOfWhatTheBinaryPrints(t *testing.T) {
	const flood = "head -c 100000000 /dev/zero | tr '\\0' x"
	tests := []struct {
		name, before, want string
	}{
		{"stderr", flood + " >&2", "requires Terraform >= 1.5.0, >= 99.0 (its required_version), and "},
		{"stdout", flood, "printed more than 65536 bytes on stdout, which is not Terraform's version"},
		{"silent", "exit 0", "printed no version on stdout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bin := wrappedTerraform(t, tc.before)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := terraform.CheckCoreVersion(testCtx(t), bin, "testdata/contract/future")
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckCoreVersion = %v, want it to say %q", err, tc.want)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
				t.Errorf("CheckCoreVersion allocated %d MB, want at most 16 MB of the 100 MB the binary printed", got>>20)
			}
		})
	}
}

// TestCheckCoreVersionThatHangsEndsWithItsContext: a binary whose
// `version` never answers, and leaves a child holding its output open,
// is ended with the check's context, the child with it.
func TestCheckCoreVersionThatHangsEndsWithItsContext(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	bin := wrappedTerraform(t, fmt.Sprintf("sleep 100 &\necho $! > '%s'\nexec sleep 100", pidFile))
	start := time.Now()
	err := terraform.CheckCoreVersion(deadlineCtx(t, 3*time.Second), bin, "testdata/contract/future")
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("CheckCoreVersion took %v on a context of 3s", took.Round(time.Second))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CheckCoreVersion = %v, want its context's error", err)
	}
	data, rerr := os.ReadFile(pidFile)
	pid, perr := strconv.Atoi(strings.TrimSpace(string(data)))
	if rerr != nil || perr != nil {
		t.Fatalf("the child's pid: %v, %v", rerr, perr)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	ctx := testCtx(t)
	for alive(pid) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("the child %d of the binary's `version` still runs after the check ended", pid)
		}
	}
}

// alive says whether process pid runs (and is no zombie).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i >= 0 && i+2 < len(data) && data[i+2] != 'Z'
}
