package config

import (
	"context"
	"sync"
	"time"

	"github.com/spillway-io/spillway/terraform"
)

// TerraformVariables are a terraform provider's fixed variables as
// terraform.Config takes them.
func (pc ProviderConfig) TerraformVariables() map[string]any {
	vars := make(map[string]any, len(pc.Variables))
	for k, v := range pc.Variables {
		vars[k] = v.V
	}
	return vars
}

// TerraformConfig is a terraform provider entry as terraform.New takes it.
func (pc ProviderConfig) TerraformConfig() terraform.Config {
	return terraform.Config{Module: pc.Module, Region: pc.Region, Zones: pc.Zones, Variables: pc.TerraformVariables(),
		BackendConfig: pc.BackendConfig, WorkDir: pc.WorkDir}
}

// versionTimeout bounds `terraform version`, which answers at once.
const versionTimeout = 30 * time.Second

// terraformErrors checks every terraform provider as the server's
// terraform.New does, each problem placed at its key: its settings
// (terraform.Config.Problems: zone names, variable and backend_config
// names, a work_dir that cannot be made), the terraform binary on PATH
// (at the provider's type, which needs it), and its module
// (terraform.CheckModule: missing, does not parse, breaks the contract;
// terraform.CheckBackend: a backend its bursts would share;
// terraform.CheckCoreVersion, run on ctx: wants another Terraform than
// PATH's).
func (c *Config) terraformErrors(ctx context.Context) []FieldError {
	var errs []FieldError
	lookBinary := sync.OnceValues(terraform.LookBinary)
	for _, name := range cfgNames(c.Providers) {
		pc := c.Providers[name]
		if pc.Type != ProviderTerraform {
			continue
		}
		at := func(field, msg string) {
			errs = append(errs, c.src.fieldError(cfgJoin("providers."+name, field), msg))
		}
		// A key the config's own checks refuse (zones left out) is
		// reported once, by them.
		own := map[string]bool{}
		for _, pr := range pc.problems() {
			own[pr.Field] = true
		}
		tc := pc.TerraformConfig()
		for _, p := range tc.Problems() {
			if !own[p.Field] {
				at(p.Field, p.Msg)
			}
		}
		bin, binErr := lookBinary()
		if binErr != nil {
			at("type", binErr.Error())
		}
		if pc.Module == "" {
			continue
		}
		if err := terraform.CheckModule(pc.Module, tc.Variables); err != nil {
			at("module", err.Error())
			continue
		}
		// Bursts that would share one state, or keep it where Spillway
		// cannot see it.
		for _, p := range terraform.CheckBackend(pc.Module, tc.BackendConfig) {
			at(p.Field, p.Msg)
		}
		if binErr == nil {
			ctx, cancel := context.WithTimeout(ctx, versionTimeout)
			err := terraform.CheckCoreVersion(ctx, bin, pc.Module)
			cancel()
			if err != nil {
				at("module", err.Error())
			}
		}
	}
	return errs
}
