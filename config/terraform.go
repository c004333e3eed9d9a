package config

import "github.com/spillway-io/spillway/terraform"

// TerraformVariables are a terraform provider's fixed variables as
// terraform.Config takes them.
func (pc ProviderConfig) TerraformVariables() map[string]any {
	vars := make(map[string]any, len(pc.Variables))
	for k, v := range pc.Variables {
		vars[k] = v.V
	}
	return vars
}

// terraformModuleErrors checks the module of every terraform provider
// with terraform.CheckModule, the check the server's terraform.New makes,
// each problem placed at the provider's module key.
func (c *Config) terraformModuleErrors() []FieldError {
	var errs []FieldError
	for _, name := range cfgNames(c.Providers) {
		pc := c.Providers[name]
		if pc.Type != ProviderTerraform || pc.Module == "" {
			continue
		}
		if err := terraform.CheckModule(pc.Module, pc.TerraformVariables()); err != nil {
			errs = append(errs, c.src.fieldError(cfgJoin("providers."+name, "module"), err.Error()))
		}
	}
	return errs
}
