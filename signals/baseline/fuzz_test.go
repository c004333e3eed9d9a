package baseline

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"testing"
)

// maxErrLen bounds an error about a targets file or a target, less the
// file's path: a hostile file gets a message, not a copy of itself.
const maxErrLen = 1000

// FuzzParseTargets: a targets file is read as one JSON document whose
// targets all make agent URLs, and a label match only narrows them; or it
// is refused with an error of at most maxErrLen bytes besides the path.
func FuzzParseTargets(f *testing.F) {
	example, err := os.ReadFile("../testdata/agents_targets.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example, "a100")
	f.Add(example, "")
	f.Add([]byte(`[{"targets": ["gpu-01:9401", "gpu-02:9401"], "labels": {"pool": "a100"}}, {"targets": ["gpu-90:9401"], "labels": {"pool": "h100"}}]`), "a100")
	for _, tc := range badTargetFiles {
		f.Add([]byte(tc.body), "a100")
	}
	const path = "/etc/spillway/targets.json"
	f.Fuzz(func(t *testing.T, b []byte, pool string) {
		all, err := parseTargets(path, b, nil)
		if err != nil {
			if len(err.Error()) > maxErrLen+len(path) {
				t.Fatalf("error of %d bytes: %.300s…", len(err.Error()), err)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("read targets %q from %q, which is not one JSON document", all, b)
		}
		for _, target := range all {
			if _, err := agentURL(target); err != nil {
				t.Fatalf("read target %q, which makes no agent URL: %v", target, err)
			}
		}
		matched, err := parseTargets(path, b, map[string]string{"pool": pool})
		if err != nil || len(matched) > len(all) {
			t.Fatalf("pool %q matched %d targets, error %v; want at most the %d of the whole file", pool, len(matched), err, len(all))
		}
	})
}

// FuzzAgentURL: a target is refused with a short error, or makes an http(s)
// URL with a host that a request can be made for, and that is its own
// agent URL when given back as a target.
func FuzzAgentURL(f *testing.F) {
	for _, s := range []string{"gpu-a01.rack1:9401", "http://gpu-a04.rack2:9401", "https://10.0.0.7:9401/", "http://h:1/custom/path?x=1",
		"", "  ", "ftp://a:1", "http://", "[::1]:9401", "host:port:extra", "a b:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := agentURL(target)
		if err != nil {
			if len(err.Error()) > maxErrLen {
				t.Fatalf("error of %d bytes: %.300s…", len(err.Error()), err)
			}
			return
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			t.Fatalf("agentURL(%q) = %q: not an http(s) URL with a host (%v)", target, u, err)
		}
		if _, err := http.NewRequest(http.MethodGet, u, nil); err != nil {
			t.Fatalf("agentURL(%q) = %q: no request for it: %v", target, u, err)
		}
		if again, err := agentURL(u); again != u || err != nil {
			t.Fatalf("agentURL(%q) = %q, but that as a target gives %q, %v", target, u, again, err)
		}
	})
}
