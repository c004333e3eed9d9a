package main

import (
	"os"
	"strings"
	"testing"
)

// TestServerLogsScheduleWarnings: what policy validate warns of under a
// pool (a schedule read in EST, two schedules whose windows overlap) was
// said by validate alone; a server started on a config never validated by
// hand said nothing. It logs each at WARN as it starts, naming the pool.
func TestServerLogsScheduleWarnings(t *testing.T) {
	_, cfgPath := startServerFixtures(t)
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "    limits: {max_gpus: 16}\n", `    limits: {max_gpus: 16}
    schedules:
      - {name: ny-morning, cron: "CRON_TZ=EST 0 8 * * 1-5", gpus: 8, duration: 2h}
      - {name: standup, cron: "0 13 * * 1-5", gpus: 8, duration: 1h}
`, 1)
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := startLogs(t, loadConfig(t, cfgPath))
	for _, want := range []string{
		`level=WARN msg="schedule \"ny-morning\" is read in EST, a fixed UTC-5`,
		`level=WARN msg="schedules \"ny-morning\" (8 GPUs) and \"standup\" (8 GPUs) overlap, first on `,
	} {
		i := strings.Index(logs, want)
		if i < 0 {
			t.Errorf("start-up logs lack %q:\n%s", want, logs)
			continue
		}
		if line, _, _ := strings.Cut(logs[i:], "\n"); !strings.HasSuffix(line, " pool=train") {
			t.Errorf("the warning does not name its pool: %s", line)
		}
	}
}
