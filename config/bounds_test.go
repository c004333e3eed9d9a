package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileSizeBound(t *testing.T) {
	big := []byte("cluster: test\n# " + strings.Repeat("x", MaxFileBytes) + "\n")
	want := "a config may be at most 4194304 bytes (4 MiB)"
	if _, err := Parse("big.yaml", big); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Parse of %d bytes: %v, want %q", len(big), err, want)
	}
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load of %d bytes: %v, want %q", len(big), err, want)
	}
}

// TestParseCancelled: the decoder checks its context while it walks, so a
// cancelled read of an expanding config stops with context.Canceled.
func TestParseCancelled(t *testing.T) {
	data, err := os.ReadFile("testdata/merge_bomb.bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = ParseContext(ctx, "merge_bomb.yaml", data)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "reading the config was cancelled") {
		t.Errorf("cancelled parse: %v, want context.Canceled", err)
	}
	if _, err := LoadContext(ctx, "testdata/merge_bomb.bad.yaml"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled load: %v, want context.Canceled", err)
	}
}

// TestDocuments: a trailing --- with nothing after it is harmless; a second
// document with content is refused (TestBadConfigs has the message).
func TestDocuments(t *testing.T) {
	good, err := os.ReadFile("testdata/minimal.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{"---\n" + string(good), string(good) + "---\n", string(good) + "...\n", string(good) + "---\n# nothing\n"} {
		if _, err := Parse("doc.yaml", []byte(data)); err != nil {
			t.Errorf("%q: %v", data, err)
		}
	}
	if _, err := Parse("doc.yaml", []byte(string(good)+"---\n[unclosed\n")); err == nil {
		t.Error("a broken second document was accepted")
	}
}

// TestMergeKeysWithinBound: ordinary use of anchors and merge keys still
// decodes, with explicit keys winning over merged ones.
func TestMergeKeysWithinBound(t *testing.T) {
	cfg, err := Parse("merge.yaml", []byte(`cluster: test
providers:
  base: &base {type: aws, region: us-east-1}
  west: {<<: *base, region: us-west-2}
pools:
  - name: train
    onprem: {nodes: 100000, gpus_per_node: 8}
    offerings:
      - &off {provider: west, instance_type: p5.48xlarge, price_per_hour: 0.0001}
      - {<<: *off, instance_type: p4d.24xlarge}
`))
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Providers["west"].Region; r != "us-west-2" {
		t.Errorf("merged region %q, want the explicit us-west-2", r)
	}
	if n := len(cfg.Pools[0].Policy.Offerings); n != 2 {
		t.Errorf("%d offerings, want 2", n)
	}
}
