package terraform_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/terraform"
)

// badOutput is a provider on testdata/badoutput, whose output breaks the
// contract as mode says, and the directory holding one file per instance
// that exists.
func badOutput(t *testing.T, workDir, mode string) (*terraform.Provider, string) {
	t.Helper()
	live := t.TempDir()
	// What is read of the instances output is bounded at 1 MiB, not 16:
	// Terraform takes a minute to apply a module with outputs of 16 MiB.
	return newProvider(t, terraform.Config{
		Module: "testdata/badoutput", Region: region, Zones: zones, WorkDir: workDir,
		Variables: map[string]any{"mode": mode, "live": live},
	}, terraform.WithMaxOutputBytes(1<<20)), live
}

// instanceKey is the key Launch gives the i-th instance of a launch.
func instanceKey(token string, i int) string {
	sum := sha256.Sum256([]byte(token))
	return fmt.Sprintf("%s-%d", hex.EncodeToString(sum[:5]), i)
}

func liveFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// A module output Spillway cannot account for is refused as the module's
// fault (an InvalidError, not worth retrying), naming the key and the bad
// value, and whatever the launch created is destroyed: nothing is left
// running that no ledger lists.
func TestBadModuleOutputIsRefusedAndItsInstancesEnded(t *testing.T) {
	t.Parallel()
	k0, k1 := instanceKey("bad-1", 0), instanceKey("bad-1", 1)
	tests := []struct {
		mode string
		want string
	}{
		{"dupid", fmt.Sprintf(`keys %q and %q have the same id "tf-dup": each key needs an instance of its own`, k0, k1)},
		{"noid", fmt.Sprintf(`key %q has no id: want the cloud's instance id`, k0)},
		{"badgpus", fmt.Sprintf(`key %q: gpus -5 is not the 8 GPUs var.instances gave it: want 8 (or no gpus attribute)`, k0)},
		{"wronggpus", fmt.Sprintf(`key %q: gpus 4 is not the 8 GPUs var.instances gave it: want 8 (or no gpus attribute)`, k0)},
		{"halfgpus", fmt.Sprintf(`key %q: gpus 7.5 is not the 8 GPUs var.instances gave it: want 8 (or no gpus attribute)`, k0)},
		{"strgpus", fmt.Sprintf(`key %q: gpus "eight" is not the 8 GPUs var.instances gave it: want 8 (or no gpus attribute)`, k0)},
		// An apply that succeeded and reported none of the launch's
		// keys: the module ignores var.instances (a stock-out fails the
		// apply with the cloud's code).
		{"none", fmt.Sprintf(`it lists none of the 2 keys the launch added to var.instances (%q, %q), after an apply that succeeded`, k0, k1)},
		{"extra", fmt.Sprintf(`key "stray" is not a key of var.instances: want only %q, %q`, k0, k1)},
		// However many keys the output holds, the message lists ten.
		{"manystray", fmt.Sprintf(`key "stray-106" is not a key of var.instances: want only %q, %q; and 990 more problems`, k0, k1)},
		// Ids and zones the state could not store (the scheduler could
		// never record the instance), or with characters no id holds.
		{"longid", fmt.Sprintf(`key %q has id %q, which is 315 bytes long: want the cloud's instance id, at most 256 bytes of printable characters without spaces`, k0, ("i-" + k0 + "-" + strings.Repeat("x", 300))[:64]+"...")},
		{"newlineid", fmt.Sprintf(`key %q has id %q, which holds '\n': want the cloud's instance id`, k0, "i-"+k0+"\n")},
		{"bidiid", fmt.Sprintf(`key %q has id %q, which holds '\u202e': want the cloud's instance id`, k0, "i-"+k0+"\u202e")},
		{"longzone", fmt.Sprintf(`key %q has zone %q, which is 300 bytes long: want the zone's name, at most 256 bytes`, k0, strings.Repeat("z", 64)+"...")},
		{"cidr", fmt.Sprintf(`key %q has private_ip "10.0.3.17/24": want the instance's private IP address, e.g. 10.0.3.17 (or none until it has one)`, k0)},
		// An address with a zone (link-local, any length) is none the
		// server can reach, and would be stored whole.
		{"zonedip", fmt.Sprintf(`key %q has private_ip "fe80::1%%%s...": want the instance's private IP address, e.g. 10.0.3.17 (or none until it has one)`, k0, strings.Repeat("0", 56))},
		// Values of the wrong shape name the key, the attribute and what
		// they are.
		{"numid", fmt.Sprintf(`key %q: id 12345 is a number: want a string`, k0)},
		{"objid", fmt.Sprintf(`key %q: id {"arn":"i-%s"} is an object: want a string`, k0, k0)},
		{"idonly", fmt.Sprintf(`key %q is a string "i-%s": want an object {id, zone, private_ip, gpus}`, k0, k0)},
		{"list", fmt.Sprintf(`breaks the module contract: it is a list [{"id":"i-%s"},{"id":"i-%s"}]: want a map with one {id, zone, private_ip, gpus} object per key of var.instances`, k0, k1)},
		// Outputs too large to read are refused, naming the bound, not
		// read into memory whole.
		// (2 MB here, against a bound of 1 MiB: see badOutput.)
		{"huge", "it is over 1 MiB as `terraform output -json instances` prints it: Spillway reads at most 1 MiB of it"},
		{"json", fmt.Sprintf(`breaks the module contract: it is a string %s...: want a map with one {id, zone, private_ip, gpus} object per key of var.instances`,
			strconv.Quote(fmt.Sprintf(`{"%s":{"id":"i-%s"},"%s":{"id":"i-%s"}}`, k0, k0, k1, k1))[:64])},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			p, live := badOutput(t, t.TempDir(), tt.mode)
			insts, err := p.Launch(ctx, launchRequest("bad", "bad-1", 2))
			if !providers.IsInvalid(err) || providers.IsTransient(err) {
				t.Fatalf("Launch = %v, %v; want a *providers.InvalidError (the module is at fault: retrying launches more)", idsOf(insts), err)
			}
			var oe *terraform.OutputError
			if !errors.As(err, &oe) {
				t.Errorf("the error does not wrap a *terraform.OutputError: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Launch error:\n got %v\nwant it to say %s", err, tt.want)
			}
			if left := liveFiles(t, live); len(left) != 0 {
				t.Errorf("after the refused launch the module's instances %v still exist", left)
			}
			listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
			if err != nil || len(listed) != 0 {
				t.Errorf("List after the refused launch = %v, %v; want nothing", idsOf(listed), err)
			}
			if err := p.Reconcile(ctx); err != nil {
				t.Errorf("Reconcile after the refused launch: %v (the clean-up should have left nothing to repair)", err)
			}
		})
	}
}

// A module's optional state attribute is its own word, of any length: the
// ledger keeps what it reads as (stateOf), so that a module writing a
// megabyte there does not grow every ledger read (List, Describe, every
// burst) by as much.
func TestModuleOutputStateIsKeptAsRead(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	work := t.TempDir()
	p, _ := badOutput(t, work, "hugestate")
	insts, err := p.Launch(ctx, launchRequest("huge", "huge-1", 1))
	if err != nil || len(insts) != 1 || insts[0].State != providers.StateUnknown {
		t.Fatalf("Launch through a module with an 800 kB state = %v, %v; want 1 instance, its state unknown", insts, err)
	}
	ledgers, err := filepath.Glob(filepath.Join(work, "bursts", "*", ".spillway", "ledger.json"))
	if err != nil || len(ledgers) != 1 {
		t.Fatalf("ledgers %v, %v; want one", ledgers, err)
	}
	st, err := os.Stat(ledgers[0])
	if err != nil || st.Size() > 4<<10 {
		t.Errorf("ledger %s: %v, %d bytes; want at most 4 KiB for one instance", ledgers[0], err, st.Size())
	}
}

// A module's state attribute is read as the clouds' providers read theirs:
// an instance an operator stopped (ECS's Stopping and Stopped, EC2's
// stopping) is stopped, not ending, for it bills until it is destroyed,
// and a word no cloud documents is unknown, not running capacity.
func TestModuleOutputStateIsReadAsTheProvidersReadIt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode string
		want providers.State
	}{
		{"stopping", providers.StateStopped},
		{"stopped", providers.StateStopped},
		{"awsstop", providers.StateStopped},
		{"asleep", providers.StateUnknown},
		{"booting", providers.StatePending},
		{"good", providers.StateRunning},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			p, live := badOutput(t, t.TempDir(), tt.mode)
			insts, err := p.Launch(ctx, launchRequest(tt.mode, tt.mode+"-1", 1))
			if err != nil || len(insts) != 1 {
				t.Fatalf("Launch = %v, %v; want 1 instance", idsOf(insts), err)
			}
			listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
			if err != nil || len(listed) != 1 {
				t.Fatalf("List = %v, %v; want 1 instance", idsOf(listed), err)
			}
			if insts[0].State != tt.want || listed[0].State != tt.want {
				t.Errorf("Launch says %s, List says %s; want %s", insts[0].State, listed[0].State, tt.want)
			}
			if err := p.Terminate(ctx, idsOf(insts)); err != nil {
				t.Fatalf("Terminate: %v", err)
			}
			if left := liveFiles(t, live); len(left) != 0 {
				t.Errorf("after Terminate the module's instances %v still exist", left)
			}
		})
	}
}

// A module output of 2 MB beside the instances output does not stop a
// launch: the apply's log cannot keep its outputs message, and the
// instances output alone is read with `terraform output` (terraform-exec's
// Output would read every output into memory).
func TestLargeOtherModuleOutputIsNotRead(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	work := t.TempDir()
	p, live := badOutput(t, work, "hugeother")
	insts, err := p.Launch(ctx, launchRequest("hugeother", "hugeother-1", 1))
	if err != nil || len(insts) != 1 {
		t.Fatalf("Launch through a module with a 2 MB output beside its instances (a bound of 1 MiB on the instances output) = %v, %v; want 1 instance", idsOf(insts), err)
	}
	logs, err := filepath.Glob(filepath.Join(work, "bursts", "*", ".spillway", "runs", "*-output.log"))
	if err != nil || len(logs) != 1 {
		t.Errorf("output run logs %v, %v; want the instances read by one terraform output", logs, err)
	}
	if err := p.Terminate(ctx, idsOf(insts)); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	if left := liveFiles(t, live); len(left) != 0 {
		t.Errorf("after Terminate the module's instances %v still exist", left)
	}
}

// An id another burst of the provider already holds is refused too: List,
// Describe and Terminate find instances by id.
func TestModuleOutputReusingAnotherBurstsIDIsRefused(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	p, live := badOutput(t, t.TempDir(), "dupid")
	first, err := p.Launch(ctx, launchRequest("first", "first-1", 1))
	if err != nil || len(first) != 1 {
		t.Fatalf("Launch of one instance = %v, %v", idsOf(first), err)
	}
	_, err = p.Launch(ctx, launchRequest("second", "second-1", 1))
	if !providers.IsInvalid(err) {
		t.Fatalf("a second burst reporting id tf-dup: err = %v, want a *providers.InvalidError", err)
	}
	want := fmt.Sprintf(`key %q has id "tf-dup", which burst`, instanceKey("second-1", 0))
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), fmt.Sprintf("already holds (key %q)", instanceKey("first-1", 0))) {
		t.Errorf("error = %v\nwant it to say %s ... already holds (key ...)", err, want)
	}
	if left := liveFiles(t, live); len(left) != 1 || left[0] != instanceKey("first-1", 0) {
		t.Errorf("the module's instances are %v, want only the first burst's %s", left, instanceKey("first-1", 0))
	}
	listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if err != nil || len(listed) != 1 {
		t.Errorf("List = %v, %v; want the first burst's instance alone", idsOf(listed), err)
	}
}

// A sensitive instances output (required when it is built from a
// sensitive value) is read like any other: a -json apply leaves its value
// out, and `terraform output` gives it. What that prints (every output, a
// password too, in the clear) is kept out of the run logs and the ledger.
func TestSensitiveModuleOutputIsRead(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	live := t.TempDir()
	work := t.TempDir()
	defer func() {
		files, err := filepath.Glob(filepath.Join(work, "bursts", "*", ".spillway", "*", "*"))
		if err != nil {
			t.Fatal(err)
		}
		ledgers, _ := filepath.Glob(filepath.Join(work, "bursts", "*", ".spillway", "ledger.json"))
		for _, f := range append(files, ledgers...) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(data, []byte("hunter2")) {
				t.Errorf("%s holds the module's sensitive output admin_password", f)
			}
		}
	}()
	p := newProvider(t, terraform.Config{
		Module: "testdata/sensitive", Region: region, Zones: zones, WorkDir: work,
		Variables: map[string]any{"live": live},
	})
	insts, err := p.Launch(ctx, launchRequest("secret", "secret-1", 2))
	if err != nil || len(insts) != 2 {
		t.Fatalf("Launch of 2 through a module with a sensitive output = %v, %v; want 2 instances", idsOf(insts), err)
	}
	if err := p.Terminate(ctx, []string{insts[0].ID}); err != nil {
		t.Fatalf("Terminate %s: %v", insts[0].ID, err)
	}
	listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if err != nil || !slices.Equal(idsOf(listed), []string{insts[1].ID}) {
		t.Errorf("List after ending %s = %v, %v; want only %s", insts[0].ID, idsOf(listed), err, insts[1].ID)
	}
	if left := liveFiles(t, live); len(left) != 1 {
		t.Errorf("the module's instances are %v, want one", left)
	}
}

// A key the module's output leaves out after a successful apply got no
// instance Spillway can see: a launch with enough others keeps those, and
// the key is dropped and applied away like a key out of zones, so nothing
// the module made for it runs on unreported.
func TestKeyTheOutputLeavesOutIsEnded(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	p, live := badOutput(t, t.TempDir(), "onlyfirst")
	req := launchRequest("part", "part-1", 2)
	req.MinCount = 1
	insts, err := p.Launch(ctx, req)
	if err != nil || len(insts) != 1 {
		t.Fatalf("Launch of 2 (min 1) through a module reporting only its first key = %v, %v; want 1 instance", idsOf(insts), err)
	}
	if left := liveFiles(t, live); !slices.Equal(left, []string{instanceKey("part-1", 0)}) {
		t.Errorf("after the launch the module's instances are %v, want only the reported %s", left, instanceKey("part-1", 0))
	}
	if err := p.Terminate(ctx, idsOf(insts)); err != nil {
		t.Fatalf("Terminate %v: %v", idsOf(insts), err)
	}
	if left := liveFiles(t, live); len(left) != 0 {
		t.Errorf("after ending every instance Launch returned, the module's instances %v still exist", left)
	}
	listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if err != nil || len(listed) != 0 {
		t.Errorf("List after Terminate = %v, %v; want nothing", idsOf(listed), err)
	}
}

// A variable the module's validation refuses is the module's or the
// config's fault, not a passing one: the launch fails with a
// *providers.InvalidError (code InvalidModuleVariable) naming the variable
// and quoting Terraform's message, so the scheduler does not send it again
// every tick; the burst's instances are kept, and nothing the refused
// launch asked for is made.
func TestVariableTheModuleRefusesIsInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		size   int
		before int // instances launched into the burst first
		want   []string
	}{
		{"instances past the module's limit", 3, 2, []string{`the module refused var.instances`, "At most 2 instances per burst.", "validation rule at main.tf"}},
		{"fixed variable", 12, 0, []string{`the module refused fixed variable "size"`, "The size must be under 10.", "fix it in the provider's variables"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			live := t.TempDir()
			p := newProvider(t, terraform.Config{
				Module: "testdata/validated", Region: region, Zones: zones, WorkDir: t.TempDir(),
				Variables: map[string]any{"size": tt.size, "live": live},
			})
			var kept []string
			if tt.before > 0 {
				insts, err := p.Launch(ctx, launchRequest("checked", "checked-1", tt.before))
				if err != nil {
					t.Fatalf("Launch of %d: %v", tt.before, err)
				}
				kept = idsOf(insts)
			}
			insts, err := p.Launch(ctx, launchRequest("checked", "checked-2", 1))
			var ie *providers.InvalidError
			if !errors.As(err, &ie) || ie.Code != "InvalidModuleVariable" || providers.IsTransient(err) {
				t.Fatalf("Launch = %v, %v; want a *providers.InvalidError with code InvalidModuleVariable (a retry fails the same way)", idsOf(insts), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Launch error:\n %v\nwant it to say %s", err, w)
				}
			}
			if left := liveFiles(t, live); len(left) != tt.before {
				t.Errorf("after the refused launch the module's instances are %v, want the %d launched before", left, tt.before)
			}
			listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
			if err != nil || !slices.Equal(idsOf(listed), kept) {
				t.Errorf("List after the refused launch = %v, %v; want %v", idsOf(listed), err, kept)
			}
			// The refused launch made nothing, so it leaves nothing to
			// repair: no burst Reconcile reports at every tick.
			if err := p.Reconcile(ctx); err != nil {
				t.Errorf("Reconcile after the refused launch: %v; want nothing to repair", err)
			}
		})
	}
}

// A module that makes more instances than its output names (two per key,
// or one apart from var.instances) is refused, naming each instance it
// leaves out, and what the launch made is ended: the scheduler would
// count one instance per key while the cloud bills every one. Another
// resource of the instance's type beside each instance (a registration)
// is no instance: terraform_data is a utility type, counted only as the
// resource whose ids the output names.
func TestInstancesTheOutputLeavesOutAreRefused(t *testing.T) {
	t.Parallel()
	k0 := instanceKey("unrep-1", 0)
	tests := []struct {
		mode string
		want []string // "" for a launch that succeeds
	}{
		{"count2", []string{fmt.Sprintf(`module.gpu[%q].terraform_data.instance[1] (id `, k0), fmt.Sprintf(`module.gpu[%q].terraform_data.instance[1] (id `, instanceKey("unrep-1", 1))}},
		{"spare", []string{`module.gpu["spare"].terraform_data.instance[0] (id `}},
		{"one", nil},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			live := t.TempDir()
			p := newProvider(t, terraform.Config{
				Module: "testdata/unreported", Region: region, Zones: zones, WorkDir: t.TempDir(),
				Variables: map[string]any{"mode": tt.mode, "live": live},
			})
			insts, err := p.Launch(ctx, launchRequest("unrep", "unrep-1", 2))
			if tt.want == nil {
				if err != nil || len(insts) != 2 || len(liveFiles(t, live)) != 2 {
					t.Fatalf("Launch of 2 = %v, %v, with instances %v; want 2 instances, each named in the output", idsOf(insts), err, liveFiles(t, live))
				}
				if err := p.Terminate(ctx, idsOf(insts)); err != nil {
					t.Fatalf("Terminate: %v", err)
				}
			} else {
				var ie *providers.InvalidError
				var ue *terraform.UnreportedError
				if !errors.As(err, &ie) || ie.Code != "UnreportedInstances" || !errors.As(err, &ue) {
					t.Fatalf("Launch = %v, %v; want a *providers.InvalidError (UnreportedInstances) wrapping a *terraform.UnreportedError", idsOf(insts), err)
				}
				for _, w := range append(tt.want, "want each key of var.instances to make exactly one terraform_data") {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("Launch error:\n got %v\nwant it to name %s", err, w)
					}
				}
			}
			if left := liveFiles(t, live); len(left) != 0 {
				t.Errorf("after the launch ended, the module's instances %v still exist", left)
			}
			if err := p.Reconcile(ctx); err != nil {
				t.Errorf("Reconcile after the launch ended: %v (nothing should be left to repair)", err)
			}
		})
	}
}

// A module whose instances output names a resource it no longer declares
// (renamed) passes the start-up check, whose reading of its files does not
// resolve references, and then failed every launch as a transient
// TerraformError: the scheduler resumed the intent every tick, for ever,
// and no error said the pool was misconfigured. It is now a
// *providers.InvalidError (code InvalidModule) naming the module, the
// place and what to do; nothing is made or left to repair.
func TestModuleReferringToWhatItDoesNotDeclareIsInvalid(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	p := newProvider(t, terraform.Config{Module: "testdata/renamed", Region: region, Zones: zones, WorkDir: t.TempDir()})
	insts, err := p.Launch(ctx, launchRequest("renamed", "renamed-1", 1))
	var ie *providers.InvalidError
	if !errors.As(err, &ie) || ie.Code != "InvalidModule" || providers.IsTransient(err) {
		t.Fatalf("Launch = %v, %v; want a *providers.InvalidError with code InvalidModule (every plan of the module fails alike)", idsOf(insts), err)
	}
	for _, want := range []string{
		"the module testdata/renamed does not hold together: Reference to undeclared resource (testdata/renamed/main.tf line 31)",
		"restart Spillway", `A managed resource "terraform_data" "instance" has not been declared`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Launch error:\n %v\nwant it to say %s", err, want)
		}
	}
	if err := p.Reconcile(ctx); err != nil {
		t.Errorf("Reconcile after the refused launch: %v; want nothing to repair", err)
	}
}

// A terraform binary replaced by a script that exits 0 and prints nothing
// (a broken wrapper, a package manager's stub) answered every command as
// a Terraform with no changes to make and an empty instances output:
// Terminate then forgot the burst's instance, still running, and reported
// it ended; a launch blamed the module's output. Now the silence is an
// error naming the binary, and nothing is forgotten until Terraform
// itself ends the instance.
func TestSilentTerraformEndsNothing(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	bin := wrappedTerraform(t, "")
	real, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	live := t.TempDir()
	p := newProvider(t, terraform.Config{
		Module: "testdata/badoutput", Region: region, Zones: zones, WorkDir: t.TempDir(),
		Variables: map[string]any{"mode": "good", "live": live},
	}, terraform.WithBinary(bin))
	first, err := p.Launch(ctx, launchRequest("silent", "silent-1", 1))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	want := "`terraform output -json instances` exited 0 having printed nothing, where Terraform prints the output's value (null for none): is " + bin + " Terraform?"
	if err := p.Terminate(ctx, idsOf(first)); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Terminate with a silent binary = %v, want it to say %s", err, want)
	}
	if _, err := p.Launch(ctx, launchRequest("silent-new", "silent-2", 1)); err == nil || !strings.Contains(err.Error(), want) || providers.IsInvalid(err) {
		t.Errorf("Launch with a silent binary = %v, want it to say %s, not blaming the module", err, want)
	}
	if left := liveFiles(t, live); !slices.Equal(left, []string{instanceKey("silent-1", 0)}) {
		t.Fatalf("the module's instances are %v, want the first launch's, which nothing ended", left)
	}
	if err := os.WriteFile(bin, real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := p.Terminate(ctx, idsOf(first)); err != nil {
		t.Fatalf("Terminate with Terraform back: %v", err)
	}
	if left := liveFiles(t, live); len(left) != 0 {
		t.Errorf("with Terraform back and the instance terminated, the module's instances are %v", left)
	}
}
