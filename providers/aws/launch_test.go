package aws_test

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/aws"
)

// TestLaunchParameters checks what reaches EC2: spot market, user data,
// tags, subnet, and a launch template standing in for the image.
func TestLaunchParameters(t *testing.T) {
	e := startEmulator(t, emulator.Options{Seed: 11})
	cfg := e.config()
	cfg.Image, cfg.LaunchTemplate = "", "gpu-node:3"
	p, err := aws.New(context.Background(), cfg, providerName, aws.WithCredentials(staticCreds))
	if err != nil {
		t.Fatalf("aws.New: %v", err)
	}
	t.Cleanup(p.Close)
	req := providers.LaunchRequest{
		Offering:    policy.Offering{Provider: providerName, Zone: "us-east-1c", InstanceType: "g5.12xlarge", Market: policy.MarketSpot},
		Count:       2,
		ClientToken: "params-1",
		Tags:        map[string]string{providers.TagCluster: "c1", providers.TagPool: "a100", providers.TagBurst: "b7", providers.TagIntent: "int-42"},
		UserData:    "#!/bin/bash\nslurmd --conf-server ctl:6817\n",
	}
	insts, err := p.Launch(context.Background(), req)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	if len(insts) != 2 {
		t.Fatalf("Launch returned %d instances, want 2", len(insts))
	}
	for _, in := range e.emu.Instances() {
		if !in.Spot {
			t.Errorf("%s launched on-demand, want spot", in.ID)
		}
		if in.UserData != req.UserData {
			t.Errorf("%s user data = %q, want %q", in.ID, in.UserData, req.UserData)
		}
		if in.SubnetID != "subnet-us-east-1c" || in.Zone != "us-east-1c" {
			t.Errorf("%s in %s/%s, want subnet-us-east-1c/us-east-1c", in.ID, in.SubnetID, in.Zone)
		}
		if in.InstanceType != "g5.12xlarge" {
			t.Errorf("%s type %s", in.ID, in.InstanceType)
		}
		if in.ClientToken != "params-1-2" {
			t.Errorf("%s client token %q, want params-1-2 (the third subnet's)", in.ID, in.ClientToken)
		}
		tags := map[string]string{}
		for _, tg := range in.Tags {
			tags[tg.Key] = tg.Value
		}
		for k, v := range req.Tags {
			if tags[k] != v {
				t.Errorf("%s tag %s = %q, want %q", in.ID, k, tags[k], v)
			}
		}
	}
	for _, in := range insts {
		if in.Market != policy.MarketSpot || in.Zone != "us-east-1c" || in.PrivateIP == "" || in.LaunchTime.IsZero() {
			t.Errorf("returned instance %+v: want spot in us-east-1c with a private IP and launch time", in)
		}
	}
}

// TestDescribeBatches describes more ids than one instance-id filter may
// carry (200), with duplicates and absent ids mixed in.
func TestDescribeBatches(t *testing.T) {
	e := startEmulator(t, emulator.Options{Seed: 13})
	p := e.provider(t)
	ids, err := e.launchRaw(context.Background(), 450, map[string]string{providers.TagCluster: "c"})
	if err != nil {
		t.Fatalf("launchRaw: %v", err)
	}
	query := append(append([]string{}, ids...), ids[:10]...)
	query = append(query, "i-0000000000000dead", "")
	insts, err := p.Describe(context.Background(), query)
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	seen := map[string]bool{}
	for _, in := range insts {
		if seen[in.ID] {
			t.Errorf("Describe returned %s twice", in.ID)
		}
		seen[in.ID] = true
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("Describe omitted %s", id)
		}
	}
	if len(insts) != len(ids) {
		t.Errorf("Describe returned %d instances, want %d", len(insts), len(ids))
	}
	if n := e.maxFilterValues.Load(); n != 200 {
		t.Errorf("the largest instance-id filter carried %d values, want EC2's limit of 200", n)
	}
	if n := e.emu.Calls("DescribeInstances"); n < 3 {
		t.Errorf("%d DescribeInstances calls for 450 ids, want at least 3 (batches of 200)", n)
	}
}

// TestRetryAfterFallThroughCreatesNoDuplicate: a launch falls through a
// stocked-out first zone into the second, and its response is lost past
// every SDK attempt. By the time the scheduler retries the intent, the
// first zone has stock again; the retry must return the instances in the
// second zone, not launch new ones in the first.
func TestRetryAfterFallThroughCreatesNoDuplicate(t *testing.T) {
	const timeout = 200 * time.Millisecond
	var s *scripted
	s = newScripted(t, func(action string, n int, _ map[string][]string) (int, string, bool) {
		if action == "RunInstances" && n == 2 {
			// The launch in us-east-1b executes; its response is held
			// past the client's timeout.
			s.emu.StallResponses("RunInstances", 1, 3*timeout)
		}
		return 0, "", false
	})
	p := s.provider(t, aws.WithHTTPTimeout(timeout), aws.WithRetry(1, 0))
	req := providers.LaunchRequest{
		Offering:    policy.Offering{Provider: providerName, InstanceType: gpuType},
		Count:       2,
		ClientToken: "intent-fallthrough",
		Tags:        map[string]string{providers.TagCluster: "c"},
	}
	s.emu.SetStock(gpuType, "us-east-1a", 0)
	if _, err := p.Launch(context.Background(), req); !providers.IsTransient(err) {
		t.Fatalf("launch with its response lost: err = %v, want *TransientError", err)
	}
	if got := s.emu.Instances(); len(got) != 2 || got[0].Zone != "us-east-1b" {
		t.Fatalf("the lost launch should have created 2 instances in us-east-1b, the cloud holds %+v", got)
	}
	s.emu.SetStock(gpuType, "us-east-1a", -1)
	insts, err := p.Launch(context.Background(), req)
	if err != nil {
		t.Fatalf("retry of the intent: %v", err)
	}
	if len(insts) != 2 {
		t.Fatalf("retry returned %d instances, want 2", len(insts))
	}
	for _, in := range insts {
		if in.Zone != "us-east-1b" {
			t.Errorf("retry returned %s in %s, want the first try's instances in us-east-1b", in.ID, in.Zone)
		}
	}
	if n := len(s.emu.Instances()); n != 2 {
		t.Errorf("the cloud holds %d instances after a retried intent, want 2", n)
	}
}
