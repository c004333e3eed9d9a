package terraform_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/terraform"
)

// A burst whose state a backend keeps outside its directory (the local
// backend at backend_config's path, or a remote one) is not applied once
// that state is gone while its ledger lists instances: a plan from no
// state would launch them again and leave the ones the state held running,
// tracked by nothing. The runs fail, naming the state, until it is
// restored.
func TestBurstWhoseBackendStateWasRemovedIsNotApplied(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// setup gives the provider's config, and functions that remove
		// and restore the burst's state (whose key is burst).
		setup func(t *testing.T) (cfg terraform.Config, remove func(key string) (restore func()), want func(key string) string)
	}{
		{"local backend at backend_config's path", func(t *testing.T) (terraform.Config, func(string) func(), func(string) string) {
			states := t.TempDir()
			cfg := terraform.Config{
				Module: "testdata/localstate", Region: region, Zones: zones, WorkDir: t.TempDir(),
				BackendConfig: map[string]string{"path": filepath.Join(states, "{burst}.tfstate")},
			}
			path := func(key string) string { return filepath.Join(states, key+".tfstate") }
			remove := func(key string) func() {
				saved, err := os.ReadFile(path(key))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Remove(path(key)); err != nil {
					t.Fatal(err)
				}
				return func() {
					if err := os.WriteFile(path(key), saved, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			return cfg, remove, func(key string) string { return fmt.Sprintf("its Terraform state %s is gone", path(key)) }
		}},
		{"http backend", func(t *testing.T) (terraform.Config, func(string) func(), func(string) string) {
			cfg, st := httpState(t)
			remove := func(key string) func() {
				st.mu.Lock()
				defer st.mu.Unlock()
				saved, ok := st.states["/state/"+key]
				if !ok {
					t.Fatalf("the state server holds no state for burst %s", key)
				}
				delete(st.states, "/state/"+key)
				return func() {
					st.mu.Lock()
					defer st.mu.Unlock()
					st.states["/state/"+key] = saved
				}
			}
			return cfg, remove, func(key string) string {
				return fmt.Sprintf(`its Terraform state (backend "http" (testdata/httpstate/main.tf:7), address %q, lock_address`, strings.Replace(cfg.BackendConfig["address"], "{burst}", key, 1))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			cfg, remove, wantOf := tc.setup(t)
			clock := newTestClock()
			p := newProvider(t, cfg, terraform.WithClock(clock.Now))
			first, err := p.Launch(ctx, launchRequest("lost", "lost-1", 1))
			if err != nil {
				t.Fatalf("Launch: %v", err)
			}
			dirs := burstDirs(t, cfg.WorkDir)
			if len(dirs) != 1 {
				t.Fatalf("burst directories %v, want one", dirs)
			}
			restore := remove(dirs[0])
			want := wantOf(dirs[0])
			ids := fmt.Sprintf("%q", first[0].ID)
			if insts, err := p.Launch(ctx, launchRequest("lost", "lost-2", 1)); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), ids) {
				t.Errorf("Launch into the burst without its state = %v, %v; want an error saying %s and naming %s", idsOf(insts), err, want, ids)
			}
			if err := p.Terminate(ctx, idsOf(first)); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Terminate without the state: err = %v, want it to say %s", err, want)
			}
			restore()
			// A remote backend's state is looked at again 10 minutes after
			// it was found gone (a local one's at once, as it changed).
			clock.Advance(10 * time.Minute)
			if err := p.Terminate(ctx, idsOf(first)); err != nil {
				t.Fatalf("Terminate with the state restored: %v", err)
			}
			if err := p.Reconcile(ctx); err != nil {
				t.Errorf("Reconcile with the state restored: %v", err)
			}
		})
	}
}

// Every way a module's backend would have bursts share one state, or keep
// it where Spillway cannot see it, is refused before anything runs, naming
// the backend block, its file and line, and what to set instead; New
// refuses the same.
func TestCheckBackendRefusesASharedState(t *testing.T) {
	perBurst := map[string]string{"key": "spillway/{burst}.tfstate"}
	tests := []struct {
		module        string
		backendConfig map[string]string
		want          []terraform.Problem
	}{
		{"testdata/failing", nil, nil},
		{"testdata/localstate", nil, nil},
		{"testdata/localstate", map[string]string{"path": "/var/lib/spillway/states/{burst}.tfstate"}, nil},
		{"testdata/backend/s3", perBurst, nil},
		{"testdata/backend/s3_override", perBurst, nil},
		{"testdata/failing", perBurst, []terraform.Problem{{Field: "backend_config", Msg: "module testdata/failing declares no backend block, and Terraform ignores backend_config without one (each burst's state stays in its directory): " +
			"add `backend \"NAME\" {}` to the module's terraform block, or remove backend_config"}}},
		{"testdata/backend/s3", map[string]string{"key": "spillway/gpu.tfstate"}, []terraform.Problem{{Field: "backend_config", Msg: `module testdata/backend/s3 declares backend "s3" (testdata/backend/s3/main.tf:3), and no backend_config value holds {burst}: ` +
			"every burst would share one state, and each burst's apply would destroy the others' instances; name the state object per burst, " +
			"e.g. key: spillway/{burst}.tfstate (s3, azurerm, oss), prefix: spillway/{burst} (gcs), address: https://state.example/{burst} (http)"}}},
		{"testdata/backend/s3_override", nil, []terraform.Problem{{Field: "backend_config", Msg: `module testdata/backend/s3_override declares backend "s3" (testdata/backend/s3_override/backend_override.tf:2), and no backend_config value holds {burst}: ` +
			"every burst would share one state, and each burst's apply would destroy the others' instances; name the state object per burst, " +
			"e.g. key: spillway/{burst}.tfstate (s3, azurerm, oss), prefix: spillway/{burst} (gcs), address: https://state.example/{burst} (http)"}}},
		{"testdata/backend/local_path", nil, []terraform.Problem{{Field: "module", Msg: `module testdata/backend/local_path declares backend "local" (testdata/backend/local_path/main.tf:3), which sets path: ` +
			"every burst would share that one state; remove it (each burst's state is then terraform.tfstate in its directory), " +
			"or give the path in backend_config with {burst}, e.g. path: /var/lib/spillway/states/{burst}.tfstate"}}},
		{"testdata/localstate", map[string]string{"path": "/var/lib/spillway/gpu.tfstate"}, []terraform.Problem{{Field: "backend_config.path", Msg: `"/var/lib/spillway/gpu.tfstate" holds no {burst}: ` +
			`every burst of module testdata/localstate (backend "local" (testdata/localstate/main.tf:6)) would share that one state; want a path per burst, e.g. /var/lib/spillway/{burst}.tfstate`}}},
		{"testdata/backend/cloud", nil, []terraform.Problem{{Field: "module", Msg: "module testdata/backend/cloud declares terraform { cloud {} } (testdata/backend/cloud/main.tf:3): " +
			"HCP Terraform's workspaces are not supported (Spillway keeps each burst in a state of its own, in its default workspace); " +
			"remove the block (each burst's state is then in its directory) or use a backend whose state object backend_config names per burst, " +
			"e.g. backend \"s3\" {} with backend_config key: spillway/{burst}.tfstate"}}},
		{"testdata/backend/remote", perBurst, []terraform.Problem{{Field: "module", Msg: `module testdata/backend/remote declares backend "remote" (testdata/backend/remote/main.tf:3): ` +
			"HCP Terraform's workspaces are not supported (Spillway keeps each burst in a state of its own, in its default workspace); " +
			"remove the block (each burst's state is then in its directory) or use a backend whose state object backend_config names per burst, " +
			"e.g. backend \"s3\" {} with backend_config key: spillway/{burst}.tfstate"}}},
	}
	for _, tt := range tests {
		t.Run(tt.module+fmt.Sprint(tt.backendConfig), func(t *testing.T) {
			got := terraform.CheckBackend(tt.module, tt.backendConfig)
			if !slices.Equal(got, tt.want) {
				t.Errorf("CheckBackend:\n got %v\nwant %v", got, tt.want)
			}
			_, err := terraform.New("tf", terraform.Config{Module: tt.module, Zones: zones, WorkDir: t.TempDir(), BackendConfig: tt.backendConfig})
			var ce *terraform.ConfigError
			switch {
			case len(tt.want) == 0 && err != nil:
				t.Errorf("New: %v, want none", err)
			case len(tt.want) > 0 && (!errors.As(err, &ce) || !slices.Equal(ce.Problems, tt.want)):
				t.Errorf("New: %v, want a *ConfigError with the problems above", err)
			}
		})
	}
}

// A burst's remote state was read whole into memory by `terraform state
// pull` (after each apply that changed something, and before each run of
// a burst holding instances), however large: a module keeping hundreds of
// megabytes in its state grew the server by as much, and a state over
// the 64 MiB Spillway counts in was found so only once read. The pull now
// reads at most the bound: a launch whose state is larger is a
// *providers.InvalidError (StateTooLarge) naming the state and the bound,
// and what it made is ended; ending a burst's instances is never refused
// for its state's size (a state too large to read is not empty).
func TestRemoteStateIsReadUpToABound(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg, st := paddedHTTPState(t)
	const bound = 256 << 10
	bounded := newProvider(t, cfg, terraform.WithMaxStateBytes(bound))

	insts, err := bounded.Launch(ctx, launchRequest("large", "large-1", 1))
	var ie *providers.InvalidError
	var se *terraform.StateSizeError
	if !errors.As(err, &ie) || ie.Code != "StateTooLarge" || !errors.As(err, &se) {
		t.Fatalf("Launch into a burst whose state is over %d bytes = %v, %v (%T); want a *providers.InvalidError (StateTooLarge) wrapping a *terraform.StateSizeError", bound, idsOf(insts), err, err)
	}
	for _, want := range []string{
		"is over 256 KiB", `backend "http"`, strings.TrimSuffix(cfg.BackendConfig["address"], "{burst}") + "large-", "launches into this burst are refused", "ended as asked",
		"`terraform state pull` in " + filepath.Join(cfg.WorkDir, "bursts", "large-"), "restart Spillway",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Launch: %v\ndoes not say %q", err, want)
		}
	}
	if listed, err := bounded.List(ctx, providers.ListFilter{Cluster: "lifecycle"}); err != nil || len(listed) != 0 {
		t.Errorf("List after the refused launch = %v (%v), want none", idsOf(listed), err)
	}
	st.mu.Lock()
	for name, state := range st.states {
		if bytes.Contains(state, []byte(`"type": "terraform_data"`)) {
			t.Errorf("the refused launch left resources in state %s", name)
		}
	}
	st.mu.Unlock()

	// A burst launched under a larger bound is ended under the small one.
	insts, err = newProvider(t, cfg).Launch(ctx, launchRequest("ended", "ended-1", 1))
	if err != nil {
		t.Fatalf("Launch under the default bound: %v", err)
	}
	if err := bounded.Terminate(ctx, idsOf(insts)); err != nil {
		t.Fatalf("Terminate of a burst whose state is over the bound: %v", err)
	}
	if listed, err := bounded.List(ctx, providers.ListFilter{Cluster: "lifecycle"}); err != nil || len(listed) != 0 {
		t.Errorf("List after Terminate = %v (%v), want none", idsOf(listed), err)
	}
}

// Ending some of a burst's instances ran the check for instances its
// output leaves out, which reads the state: over the bound, a Terminate
// that had ended the instance failed as StateTooLarge (permanent), the
// scheduler took it as not ended, and the burst was left dirty, every
// Reconcile failing the same way for as long as the burst ran. Ending is
// never refused for the state's size: the Terminate succeeds, the others
// run on, and a Reconcile has nothing to repair.
func TestEndingSomeInstancesOfABurstOverTheStateBound(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg, _ := paddedHTTPState(t)
	insts, err := newProvider(t, cfg).Launch(ctx, launchRequest("some", "some-1", 2))
	if err != nil {
		t.Fatalf("Launch under the default bound: %v", err)
	}
	bounded := newProvider(t, cfg, terraform.WithMaxStateBytes(256<<10))
	if err := bounded.Terminate(ctx, idsOf(insts[:1])); err != nil {
		t.Fatalf("Terminate of one instance of a burst whose state is over the bound: %v", err)
	}
	listed, err := bounded.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := idsOf(listed), idsOf(insts[1:]); !slices.Equal(got, want) {
		t.Errorf("List after ending one = %v, want the other %v", got, want)
	}
	if err := bounded.Reconcile(ctx); err != nil {
		t.Errorf("Reconcile after ending one: %v, want nothing to repair", err)
	}
	if err := bounded.Terminate(ctx, idsOf(insts[1:])); err != nil {
		t.Fatalf("Terminate of the other: %v", err)
	}
}

// paddedHTTPState is httpState whose bursts' states are each over 1 MiB
// (the module's pad).
func paddedHTTPState(t *testing.T) (terraform.Config, *stateServer) {
	t.Helper()
	cfg, st := httpState(t)
	cfg.Variables["pad"] = strings.Repeat("x", 1<<20)
	return cfg, st
}

// httpState is a config of the httpstate module (in a work dir of its
// own, never held) whose bursts keep their state on an HTTP backend
// served by the test (st), locks included.
func httpState(t *testing.T) (terraform.Config, *stateServer) {
	t.Helper()
	st := &stateServer{states: map[string][]byte{}, locks: map[string][]byte{}}
	srv := httptest.NewServer(st)
	t.Cleanup(srv.Close)
	work := t.TempDir()
	addr := srv.URL + "/state/{burst}"
	return terraform.Config{
		Module: "testdata/httpstate", Zones: zones, WorkDir: work,
		Variables:     map[string]any{"hold": filepath.Join(work, "no-hold"), "started": filepath.Join(work, "started")},
		BackendConfig: map[string]string{"address": addr, "lock_address": addr, "unlock_address": addr},
	}, st
}
