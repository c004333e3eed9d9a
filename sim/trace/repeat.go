package trace

import (
	"slices"
	"strings"
)

// SkipRepeat is why a row that repeats a job kept above is skipped, in a
// format whose rows name their job (ITP's and a job log's job_id, a pod
// list's name, PAI's job_name, the Philly job log's jobid): files
// concatenated or exported twice list the same jobs again.
const SkipRepeat = "rows repeating a job above field for field (the same job ID, submit and run: files concatenated, or exported twice; a job ID reused by another job is kept)"

// repeats tells a job that repeats one kept above: the same ID, and
// every other field the same. Only a repeat is safe to leave out: a
// cluster whose job counter was reset names another job as an earlier
// one, submitted at another time. It holds a 64-bit key (FNV-1a, as
// paiKey) per job kept, at most the job limit.
type repeats struct {
	kept map[uint64]struct{}
	// rows counts the rows left out.
	rows int
}

// repeat reports whether the job whose ID is id and whose other fields
// are fields repeats one kept above (counting it), and else holds its
// key. A job without an ID is never a repeat: rows with no ID may be
// distinct jobs alike in every field.
func (r *repeats) repeat(id string, fields []string) bool {
	if strings.TrimSpace(id) == "" {
		return false
	}
	h := uint64(14695981039346656037) // FNV-1a's offset basis and prime
	for _, f := range fields {
		f = strings.TrimSpace(f)
		for i := 0; i < len(f); i++ {
			h ^= uint64(f[i])
			h *= 1099511628211
		}
		h ^= 0 // each field ends in a NUL, so "ab","c" is not "a","bc"
		h *= 1099511628211
	}
	if _, ok := r.kept[h]; ok {
		r.rows++
		return true
	}
	if r.kept == nil {
		r.kept = map[uint64]struct{}{}
	}
	r.kept[h] = struct{}{}
	return false
}

// idColumn is the column of header that names a row's job in format, -1
// for a format without one (the generic list, Philly's, Helios
// sequences, sacct, which keys its runs itself).
func idColumn(header []string, format Format) int {
	var names []string
	switch format {
	case FormatITP:
		names = []string{"job_id"}
	case FormatJobLog:
		names = []string{"job_id", "job_name", "jobid"}
	case FormatPodList:
		names = []string{"name", "instance_sn"}
	case FormatPAITask:
		names = []string{"job_name"}
	}
	for _, n := range names {
		if i := slices.Index(header, n); i >= 0 {
			return i
		}
	}
	return -1
}
