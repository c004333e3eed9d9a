package alicloud

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/providers"
)

// TestProfileSignsForItsAccount: providers of type alicloud that name
// different profiles (profile:) sign with their profile's AccessKey, not
// with the environment's ALIBABA_CLOUD_ACCESS_KEY_ID: two accounts from one
// server. The emulator keeps the AccessKeyId each launch was signed with.
func TestProfileSignsForItsAccount(t *testing.T) {
	t.Setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", "testdata/credentials")
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIENVIRONMENT")
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "env-secret")
	t.Setenv("ALIBABA_CLOUD_PROFILE", "hangzhou")
	t.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
	tests := []struct{ profile, wantKey string }{
		{profile: "beijing", wantKey: "LTAIBEIJING"},
		{profile: "hangzhou", wantKey: "LTAIHANGZHOU"},
		{profile: "", wantKey: "LTAIENVIRONMENT"},
	}
	e, srv := startEmulator(t, emulator.Options{Seed: 41})
	for i, tt := range tests {
		cfg := emulatorConfig(srv.URL)
		cfg.Profile = tt.profile
		p, err := New(context.Background(), cfg, "alicloud", WithRetries(2, 10*time.Millisecond, 50*time.Millisecond))
		if err != nil {
			t.Fatalf("profile %q: New: %v", tt.profile, err)
		}
		_, err = p.Launch(context.Background(), emuLaunchReq("profile-"+tt.profile, 1, 0))
		_ = p.Close()
		if err != nil {
			t.Fatalf("profile %q: Launch: %v", tt.profile, err)
		}
		insts := e.Instances()
		if len(insts) != i+1 {
			t.Fatalf("profile %q: %d instances in the emulator, want %d", tt.profile, len(insts), i+1)
		}
		if got := insts[i].AccessKeyID; got != tt.wantKey {
			t.Errorf("profile %q: launch signed with %q, want %q", tt.profile, got, tt.wantKey)
		}
	}
}

// TestProfileMissing: a profile the credentials file lacks fails the call
// as invalid (not retried every tick as if the cloud were down), naming
// the profile and where it is read from; nothing is launched.
func TestProfileMissing(t *testing.T) {
	t.Setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", "testdata/credentials")
	e, srv := startEmulator(t, emulator.Options{Seed: 42})
	cfg := emulatorConfig(srv.URL)
	cfg.Profile = "bejing"
	p, err := New(context.Background(), cfg, "alicloud", WithRetries(2, 10*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer func() { _ = p.Close() }()
	_, err = p.Launch(context.Background(), emuLaunchReq("missing", 1, 0))
	var inv *providers.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("Launch: err %v (%T), want *providers.InvalidError", err, err)
	}
	for _, want := range []string{`profile "bejing"`, "ALIBABA_CLOUD_CREDENTIALS_FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err %q, want it to say %q", err, want)
		}
	}
	if n := len(e.Instances()); n != 0 {
		t.Errorf("%d instances launched without credentials", n)
	}
}
