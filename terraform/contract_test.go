package terraform_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/providertest"
)

func staticCreds() credentials.StaticCredentialsProvider {
	return credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "not-a-secret", "")
}

// notApplicable are the contract cases that cannot apply to a provider
// whose only view of the cloud is its modules' Terraform state, and why.
var notApplicable = map[string]string{
	// Pacing is the SDK providers' client-side token buckets. Each
	// Terraform apply runs its own cloud provider process; no pacer spans
	// them, so the case's "exactly one RunInstances call per launch under
	// throttling" cannot hold, and 300 applies would also take minutes.
	"Paced300InstanceLaunchIsNeverThrottled": "no client-side pacing across Terraform runs",
	// List reports the instances the burst states hold. Instances launched
	// around Terraform (the case's 2,500 raw instances) are in no state;
	// the orphan sweeper needs an SDK provider on the same account.
	"List2500InstancesPages": "List reads Terraform state, not the cloud's instance list",
	// Nor does it page through the cloud's DescribeInstances.
	"RepeatedNextTokenFailsTheListing": "List reads Terraform state, it pages no cloud listing",
	// Terraform state carries no spot interruption notice; it is read from
	// the cloud's API or the instance's metadata, not from a module.
	"SpotInterruptionIsReported": "Terraform state has no interruption notice",
}

func TestContract(t *testing.T) {
	var run []string
	for _, c := range providertest.Cases() {
		if _, ok := notApplicable[c]; !ok {
			run = append(run, c)
		}
	}
	for c := range notApplicable {
		if !slices.Contains(providertest.Cases(), c) {
			t.Fatalf("notApplicable names %q, which is no contract case", c)
		}
	}
	providertest.RunCases(t, func(t *testing.T) *providertest.Harness {
		e := startEmulator(t)
		work := t.TempDir()
		return &providertest.Harness{
			Provider: newProvider(t, e.config(t, work, 5*time.Second)),
			Emulator: e.emu,
			Offering: offering,
			Zones:    zones,
			AbsentID: "i-0123456789abcdef0",
			NewProviderWithTimeout: func(d time.Duration) providers.Provider {
				return newProvider(t, e.config(t, work, d))
			},
			LaunchRaw:    e.launchRaw,
			ExhaustQuota: func() { e.emu.SetVCPUQuota(emulator.APIEC2, region, 0) },
			Interrupt:    func(id string, in time.Duration) { e.emu.Interrupt(id, in) },
		}
	}, run...)
}
