package aws_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/aws"
)

// TestProfileSignsForItsAccount: providers of type aws that name different
// profiles (profile:) sign with their profile's keys, not with the
// environment's AWS_ACCESS_KEY_ID or AWS_PROFILE: two accounts from one
// server. The emulator keeps the access key id each launch was signed with.
func TestProfileSignsForItsAccount(t *testing.T) {
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "testdata/shared-credentials")
	t.Setenv("AWS_CONFIG_FILE", "testdata/shared-config")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENTEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	t.Setenv("AWS_PROFILE", "research")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	tests := []struct {
		profile, wantKey string
	}{
		{profile: "prod", wantKey: "AKIAPRODEXAMPLE"},
		{profile: "research", wantKey: "AKIARESEARCHEXAMPLE"},
		{profile: "ops", wantKey: "AKIAOPSEXAMPLE"}, // from the config file
		{profile: "", wantKey: "AKIAENVIRONMENTEXAMPLE"},
	}
	e := startEmulator(t, emulator.Options{Seed: 41})
	for i, tt := range tests {
		cfg := e.config()
		cfg.Profile = tt.profile
		name := "aws-" + tt.profile
		p, err := aws.New(context.Background(), cfg, name)
		if err != nil {
			t.Fatalf("profile %q: aws.New: %v", tt.profile, err)
		}
		token := "profile-" + tt.profile
		_, err = p.Launch(context.Background(), providers.LaunchRequest{
			Offering:    policy.Offering{Provider: name, Zone: "us-east-1a", InstanceType: "g5.12xlarge", Market: policy.MarketOnDemand},
			Count:       1,
			ClientToken: token,
			Tags:        map[string]string{providers.TagCluster: "c1", providers.TagPool: "p", providers.TagBurst: "b", providers.TagIntent: token},
		})
		p.Close()
		if err != nil {
			t.Fatalf("profile %q: Launch: %v", tt.profile, err)
		}
		insts := e.emu.Instances()
		if len(insts) != i+1 {
			t.Fatalf("profile %q: %d instances in the emulator, want %d", tt.profile, len(insts), i+1)
		}
		if got := insts[i].AccessKeyID; got != tt.wantKey {
			t.Errorf("profile %q: launch signed with %q, want %q", tt.profile, got, tt.wantKey)
		}
	}
}

// TestProfileMissing: a profile that neither shared file has stops New
// with a message naming the profile, both files and what to do.
func TestProfileMissing(t *testing.T) {
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "testdata/shared-credentials")
	t.Setenv("AWS_CONFIG_FILE", "testdata/shared-config")
	e := startEmulator(t, emulator.Options{Seed: 42})
	cfg := e.config()
	cfg.Profile = "prdo"
	p, err := aws.New(context.Background(), cfg, "aws-prod")
	if err == nil {
		p.Close()
		t.Fatal("aws.New with a profile no file has: no error")
	}
	var inv *providers.InvalidError
	if !errors.As(err, &inv) {
		t.Errorf("err %T, want *providers.InvalidError", err)
	}
	for _, want := range []string{`provider "aws-prod": profile "prdo" is in neither`, "testdata/shared-config", "testdata/shared-credentials"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err %q, want it to say %q", err, want)
		}
	}
}
