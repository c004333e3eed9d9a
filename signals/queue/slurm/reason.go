package slurm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/spillway-io/spillway/signals"
)

// isReasonCode reports whether reason is a pending reason's code as Slurm
// names them (JobHeldUser, QOSMaxGRESPerUser, Resources), which is what
// skip_reasons lists, rather than a description. squeue's Reason field
// prints a job's description in place of its code when Slurm has set one:
// "job requeued in held state" for a job requeued held (JobHeldUser),
// "launch failed requeued held" (JobHeldAdmin), "ReqNodeNotAvail,
// UnavailableNodes:gpu[01-02]", an account or QOS the partition refuses,
// each in its own words.
func isReasonCode(reason string) bool {
	if reason == "" || reason[0] < 'A' || reason[0] > 'Z' {
		return false
	}
	for i := 0; i < len(reason); i++ {
		switch c := reason[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		default:
			return false
		}
	}
	return true
}

// JSONArgs are the arguments (without the program name) of the squeue run
// that reads each job's reason code where its line gave a description:
// squeue --json, whose state_reason is always the code (it lists every
// job, whatever the other options ask).
func JSONArgs() []string { return []string{"--all", "--json"} }

// resolveReasons replaces the description that squeue printed as the
// reason of some of jobs' lines with the job's reason code, read with
// squeue --json (JSONArgs): a job held after a requeue, whose line read
// "job requeued in held state", matched no skip_reasons and counted as
// demand. A description squeue --json does not resolve (the job has left
// the queue since, or this squeue prints no JSON) is read by the code it
// starts with, "ReqNodeNotAvail, UnavailableNodes:…" as ReqNodeNotAvail,
// else as it is. The codes read are kept for the jobs' next reads while
// their descriptions stay the same (s.reasons): squeue --json lists the
// whole queue, and a job held after a requeue may stay so for days.
func (s *Source) resolveReasons(ctx context.Context, jobs []job) {
	var lines [][]string
	for _, j := range jobs {
		for _, f := range j {
			if !isReasonCode(strings.TrimSpace(f[fReason])) {
				lines = append(lines, f)
			}
		}
	}
	key := func(f []string) string { return strings.TrimSpace(f[fJobID]) + "\x00" + strings.TrimSpace(f[fReason]) }
	s.mu.Lock()
	defer s.mu.Unlock()
	known := true
	for _, f := range lines {
		if _, ok := s.reasons[key(f)]; !ok {
			known = false
			break
		}
	}
	// Each job's code as last read ("" where the listing did not hold
	// it); a listing that failed is asked again at the next read.
	read := s.reasons
	if !known {
		read = nil
		if out, err := s.run(ctx, s.cfg.Squeue, JSONArgs()...); err == nil {
			codes := parseReasonCodes([]byte(out))
			read = make(map[string]string, len(lines))
			for _, f := range lines {
				code, _ := reasonCode(codes, strings.TrimSpace(f[fJobID]))
				read[key(f)] = code
			}
		}
	}
	s.reasons = make(map[string]string, len(lines))
	for _, f := range lines {
		k := key(f)
		code, ok := read[k]
		if ok {
			s.reasons[k] = code
		}
		if code != "" {
			f[fReason] = code
		} else if lead, _, ok := strings.Cut(strings.TrimSpace(f[fReason]), ","); ok && isReasonCode(lead) {
			f[fReason] = lead
		}
	}
}

// reasonCode looks up the code of the job squeue lists as id (its
// JobArrayID: 1234, an array's task 1234_7, a heterogeneous job's
// component 1234+0) in codes (parseReasonCodes): an array's task not yet
// split from its array's record pends for the record's reason.
func reasonCode(codes map[string]string, id string) (string, bool) {
	if code, ok := codes[id]; ok {
		return code, true
	}
	if array, _, ok := strings.Cut(id, "_"); ok {
		code, ok := codes[array]
		return code, ok
	}
	return "", false
}

// slurmNumber is a number of squeue --json: a bare number or null
// (Slurm 22.05), or {"set": true, "number": N} (Slurm 23.02 and later);
// unset reads as 0.
type slurmNumber int64

func (n *slurmNumber) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var v struct {
			Set    bool  `json:"set"`
			Number int64 `json:"number"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		if v.Set {
			*n = slurmNumber(v.Number)
		}
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("squeue --json number %q: %w", signals.Shorten(string(b), 40), err)
	}
	*n = slurmNumber(v)
	return nil
}

// parseReasonCodes reads squeue --json: each job's state_reason, keyed as
// squeue's JobArrayID prints the job (1234, 1234_7, 1234+0), and an
// array's record of tasks not yet split from it by the array's job id.
// Output that is not squeue's JSON reads as no codes.
func parseReasonCodes(out []byte) map[string]string {
	var doc struct {
		Jobs []struct {
			JobID           slurmNumber `json:"job_id"`
			ArrayJobID      slurmNumber `json:"array_job_id"`
			ArrayTaskID     slurmNumber `json:"array_task_id"`
			ArrayTaskString string      `json:"array_task_string"`
			HetJobID        slurmNumber `json:"het_job_id"`
			HetJobOffset    slurmNumber `json:"het_job_offset"`
			StateReason     string      `json:"state_reason"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil
	}
	codes := make(map[string]string, len(doc.Jobs))
	for _, j := range doc.Jobs {
		if !isReasonCode(j.StateReason) || j.JobID <= 0 {
			continue
		}
		id := strconv.FormatInt(int64(j.JobID), 10)
		switch {
		case j.HetJobID > 0:
			id = fmt.Sprintf("%d+%d", j.HetJobID, j.HetJobOffset)
		case j.ArrayJobID > 0 && j.ArrayTaskString != "":
			id = strconv.FormatInt(int64(j.ArrayJobID), 10)
		case j.ArrayJobID > 0:
			id = fmt.Sprintf("%d_%d", j.ArrayJobID, j.ArrayTaskID)
		}
		codes[id] = j.StateReason
	}
	return codes
}
