package signals

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxWait bounds an oldest-wait a source reports: a year is far beyond any
// real queue, and far from time.Duration's ±292 years.
const MaxWait = 365 * 24 * time.Hour

// WaitSeconds converts a wait read in seconds (a queue's oldest, or one
// job's), checking it is a finite number from 0 to MaxWait. The error
// names the value and the range.
func WaitSeconds(sec float64) (time.Duration, error) {
	if math.IsNaN(sec) || sec < 0 || sec > MaxWait.Seconds() {
		return 0, fmt.Errorf("wait %v s is out of range: want seconds from 0 to %.0f", sec, MaxWait.Seconds())
	}
	return time.Duration(sec * float64(time.Second)), nil
}

// WaitSince is how long a job that began to wait at t has waited at now,
// from 0 to MaxWait: a start from long ago (a job held for years, a
// mangled time) reads as MaxWait rather than making the queue unreadable.
func WaitSince(now, t time.Time) time.Duration {
	return min(max(now.Sub(t), 0), MaxWait)
}

// MaxJobGPUs bounds the GPUs one job may ask for (the trace loaders use the
// same bound): larger requests are refused rather than overflowing sums
// and products.
const MaxJobGPUs = 1 << 20

// MaxNodeGPUs bounds the GPUs one node may have: what an agent may list,
// and a pool's onprem.gpus_per_node (config.MaxGPUsPerNode).
const MaxNodeGPUs = 1024

// MaxListedJobs bounds a job list: one a source reads (job_gpus, a sample a
// job), past which the read fails (ListLength), and one it builds itself
// (one entry per job of a queue whose jobs all ask the same), which it
// leaves out past it (SameSizeJobs): 8 MiB of sizes.
const MaxListedJobs = 1 << 20

// ListLength checks the length of a job list a source reads: at most
// MaxListedJobs. The error completes "<what> ", naming the length and
// the bound.
func ListLength(n int) error {
	if n > MaxListedJobs {
		return fmt.Errorf("lists %d jobs, want at most %d (a longer queue can be read by its counts alone)", n, MaxListedJobs)
	}
	return nil
}

// ListAgrees checks the counts a source read beside its list of each
// job's GPUs (jobGPUs, each from 0 to MaxJobGPUs): pending jobs, when read
// (not nil), must be the list's length, and pending GPUs its sum, which is
// at most MaxCount as a count read would be. The error names the values.
func ListAgrees(jobGPUs []int, jobs, gpus *int) error {
	sum := 0 // at most MaxJobGPUs × the list's length: far from overflow
	for _, g := range jobGPUs {
		sum += g
	}
	var problems []string
	if sum > MaxCount {
		problems = append(problems, fmt.Sprintf("job_gpus sums to %d GPUs, want at most %d", sum, MaxCount))
	}
	if jobs != nil && *jobs != len(jobGPUs) {
		problems = append(problems, fmt.Sprintf("pending_jobs is %d but job_gpus lists %d jobs", *jobs, len(jobGPUs)))
	}
	if gpus != nil && *gpus != sum {
		problems = append(problems, fmt.Sprintf("pending_gpus is %d but job_gpus sums to %d GPUs", *gpus, sum))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s (want pending_jobs the jobs listed and pending_gpus their GPUs, or leave them out: job_gpus gives both)", strings.Join(problems, "; "))
	}
	return nil
}

// MaxCount bounds a count of pending jobs or GPUs a source reads as a
// number: far beyond any real queue, and far from int's overflow when the
// sources' counts are summed or multiplied by gpus_per_job.
const MaxCount = math.MaxInt32

// Count reads a count of pending jobs or GPUs, a fraction rounding up (part
// of a job still waits, part of a GPU runs on a whole one), in every
// source that reads numbers (http, command, prometheus). A value within
// countSlack of a whole number is that number: float arithmetic's error
// (a PromQL sum or average of whole counts reading 3.0000000000000004)
// is no GPU more. The error completes "<field> ", naming the value and
// the range.
func Count(f float64) (int, error) {
	// Within countSlack below 0 is 0: a PromQL difference of whole counts
	// may read -2.7755575615628914e-17, which failed the read.
	if math.IsNaN(f) || f < -countSlack || f > MaxCount {
		return 0, fmt.Errorf("is %v, out of range: want a count from 0 to %d", f, MaxCount)
	}
	if r := math.Round(f); math.Abs(f-r) <= countSlack {
		return int(r), nil
	}
	return int(math.Ceil(f)), nil
}

// countSlack is how far from a whole number a count may read and still be
// it: far above float64's error on counts up to MaxCount summed or
// averaged, far below any share of a GPU a scheduler hands out.
const countSlack = 1e-9

// MaxJobMemoryGiB bounds the memory one job may ask for: a pebibyte.
const MaxJobMemoryGiB = 1 << 20

// MemoryMiB reads a job's memory in GiB as MiB, a fraction of a MiB
// rounding up. The error completes "<field> ", naming the value and the
// range.
func MemoryMiB(gib float64) (int64, error) {
	if math.IsNaN(gib) || gib < 0 || gib > MaxJobMemoryGiB {
		return 0, fmt.Errorf("is %v, out of range: want GiB from 0 to %d", gib, MaxJobMemoryGiB)
	}
	return int64(math.Ceil(gib * 1024)), nil
}

// JobGPUs multiplies a per-node (or per-task) GPU count by a node (or task)
// count, checking both and the product are from 0 to MaxJobGPUs.
func JobGPUs(per, count int) (int, error) {
	if per < 0 || count < 0 || per > MaxJobGPUs || count > MaxJobGPUs || (count > 0 && per > MaxJobGPUs/count) {
		return 0, fmt.Errorf("%d GPUs × %d is out of range: want at most %d GPUs for a job", per, count, MaxJobGPUs)
	}
	return per * count, nil
}

// MaxNodeName bounds a node's name as an agent reports it (its --node),
// as Kubernetes bounds a node's name (a DNS subdomain) and a hostname is
// bounded: 253 bytes.
const MaxNodeName = 253

// NodeName checks a node's name an agent reports: 1 to MaxNodeName bytes
// of printable UTF-8 (a control character would split a log line, or
// move a terminal's cursor in spillway status). The error names the
// value, cut short, and the range.
func NodeName(node string) error {
	switch {
	case node == "":
		return errors.New("node name is empty")
	case len(node) > MaxNodeName:
		return fmt.Errorf("node name %q is %d bytes, want at most %d", Shorten(node, 40), len(node), MaxNodeName)
	case !Printable(node):
		return fmt.Errorf("node name %q is not printable UTF-8", node)
	}
	return nil
}

// Printable says whether s is valid UTF-8 holding no control or other
// character unicode does not print.
func Printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}

// Shorten cuts s to at most n bytes, marking the cut, for quoting a
// hostile value (a document's key, a program's output, an answer's body)
// in an error. The cut falls between characters: one through a character
// of several bytes left half of it, which %q printed as escapes (a
// Japanese job name as "\xe3\x81") and a log or JSON error as U+FFFD.
func Shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Back to the first byte of a character, at most 3 bytes (UTF-8's
	// longest is 4): bytes that are no character's are cut where they fall.
	for i := n; i >= 0 && i > n-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			n = i
			break
		}
	}
	return s[:n] + "…"
}

// ParseDecimal reads a number written as JSON, Prometheus, awk and bc
// write one: an optional sign, digits with an optional point (.5 and 5.
// too), an optional exponent; or NaN, +Inf, -Inf or Inf, as Prometheus
// writes a sample (callers bound what they read). strconv.ParseFloat
// also reads Go's syntax, which none of them means: 1_000 as 1000, 0x1p4
// as 16, "infinity"; they are refused.
func ParseDecimal(s string) (float64, error) {
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	}
	digits := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-':
		default:
			return 0, fmt.Errorf("%q is not a decimal number", Shorten(s, 40))
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !digits {
		return 0, fmt.Errorf("%q is not a decimal number", Shorten(s, 40))
	}
	return f, nil
}
