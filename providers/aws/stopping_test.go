package aws_test

import (
	"context"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/aws"
)

// TestStoppingIsNotStopped: an instance stopped outside Spillway is
// stopping, then stopped. Both read as stopped, so the scheduler could not
// tell a stop that is done from one still under way, as it must on ECS,
// where a release Spillway asked lists as Stopping too: it now terminates
// a stopped instance whose end it had asked and the cloud refused. EC2's
// stopping is stopping, its stopped stopped.
func TestStoppingIsNotStopped(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	e := startEmulator(t, emulator.Options{Seed: 19, Clock: clk.Now, BootDelay: time.Minute})
	p := e.provider(t, aws.WithClock(clk))
	insts, err := p.Launch(ctx, providers.LaunchRequest{
		Offering: policy.Offering{Provider: providerName, Zone: "us-east-1a", InstanceType: gpuType},
		Count:    1, ClientToken: "stopping-1",
		Tags: map[string]string{providers.TagCluster: "c1", providers.TagPool: "a100"},
	})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	id := insts[0].ID
	clk.Step(2 * time.Minute)
	console := ec2.New(ec2.Options{Region: "us-east-1", Credentials: staticCreds, BaseEndpoint: awssdk.String(e.srv.URL)})
	if _, err := console.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatalf("StopInstances: %v", err)
	}
	for _, step := range []struct {
		after time.Duration
		emu   string // the instance's state in the emulator
		want  providers.State
	}{
		{0, "stopping", providers.StateStopping},
		{2 * time.Minute, "stopped", providers.StateStopped},
	} {
		clk.Step(step.after)
		if st := e.emu.Instances()[0].State; st != step.emu {
			t.Fatalf("the emulator shows the instance %s, want %s", st, step.emu)
		}
		for _, read := range []struct {
			how  string
			list func() ([]providers.Instance, error)
		}{
			{"Describe", func() ([]providers.Instance, error) { return p.Describe(ctx, []string{id}) }},
			{"List", func() ([]providers.Instance, error) {
				return p.List(ctx, providers.ListFilter{Cluster: "c1", Pool: "a100"})
			}},
		} {
			got, err := read.list()
			if err != nil {
				t.Fatalf("%s: %v", read.how, err)
			}
			if len(got) != 1 || got[0].State != step.want {
				t.Errorf("EC2 %s: %s reads %+v, want one instance %q", step.emu, read.how, got, step.want)
			}
		}
	}
}
