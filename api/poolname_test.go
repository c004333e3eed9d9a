package api_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/tokens"
	"github.com/spillway-io/spillway/config"
)

// TestPoolNamesAsTheConfigHasThem: the API took pool names of up to 128
// characters where a config takes 63 (config.CheckName), so a name no
// config can give was looked up as a pool, and one past 128 was refused
// as "not a pool name: use letters, digits, '.', '_' and '-'", which it
// was made of. A pool name is refused where config.CheckName refuses it,
// in its words, by POST /v1/bursts, ?pool= and /v1/pools/{pool}.
func TestPoolNamesAsTheConfigHasThem(t *testing.T) {
	e := newEnv(t, false)
	vt := e.tok[tokens.Viewer]
	for _, name := range []string{
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("p", 128), strings.Repeat("p", 129),
		"gpu.pool_1-b", "-train", "a b", "tr/ain",
	} {
		cfgErr := config.CheckName(name)
		burstErr := api.CheckCreateBurst(api.CreateBurstRequest{Pool: name, GPUs: 8, For: api.Duration(2 * time.Hour), Reason: "INC-1"})
		_, listed := e.do("GET", "/v1/instances?pool="+url.QueryEscape(name), vt, "")
		_, pool := e.do("GET", "/v1/pools/"+url.PathEscape(name), vt, "")
		if cfgErr == nil {
			if burstErr != nil || strings.Contains(listed+pool, "bad name") || strings.Contains(listed, "not a pool name") {
				t.Errorf("pool name %q, which a config takes, was refused: %v; %s; %s", name, burstErr, listed, pool)
			}
			continue
		}
		_, rule, _ := strings.Cut(cfgErr.Error(), `": `)
		if burstErr == nil || !strings.Contains(burstErr.Error(), "is not a pool name: "+rule) {
			t.Errorf("a burst of pool %q, which config.CheckName refuses (%v): %v, want it refused with %q", name, cfgErr, burstErr, rule)
		}
		if !strings.Contains(listed, "is not a pool name: "+rule) {
			t.Errorf("GET /v1/instances?pool=%s: %s, want it refused with %q", name, listed, rule)
		}
		if !strings.Contains(pool, "bad name: "+rule) {
			t.Errorf("GET /v1/pools/%s: %s, want it refused with %q", name, pool, rule)
		}
	}
}
