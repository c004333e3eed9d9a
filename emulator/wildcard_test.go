package emulator

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// wildcardMatch compiles pattern and matches s.
func wildcardMatch(pattern, s string) bool {
	return compileWildcard(pattern).match(s)
}

func TestWildcardMatch(t *testing.T) {
	for _, tt := range []struct {
		pattern, s string
		want       bool
	}{
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"*", "", true},
		{"*", "anything", true},
		{"a*", "a", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*b*", "aaabaaa", true},
		{`a\*c`, "a*c", true},
		{`a\*c`, "abc", false},
		{`a\?`, "a?", true},
		{`a\`, `a\`, true},
		{"p4d.*", "p4d.24xlarge", true},
		{"*.24xlarge", "p4d.24xlarge", true},
		{"**a**", "xa", true},
		{"ü?", "üé", true},
		{"?", "é", true},
		{"??", "é", false},
		{"*?b?*", "xxébé", true},
		{"a*a", "a", false}, // the first and last pieces may not overlap
		{"ab*ba", "aba", false},
		{"ab*ba", "abba", true},
		{"*a?c*", "abbabc", true},
		{"*a?c*", "abbab", false},
		{"?" + strings.Repeat("a", 70) + "?b*", "x" + strings.Repeat("a", 80) + "b", false},
		{"*" + strings.Repeat("a", 70) + "?b*", "x" + strings.Repeat("a", 80) + "b", true},
		{"*" + strings.Repeat("a?", 40) + "*", strings.Repeat("ab", 39) + "a", false},
		{"*" + strings.Repeat("a?", 40) + "*", strings.Repeat("ab", 40), true},
		{"a?c", "a\xffc", true}, // an invalid byte counts as one character
		{"*\xff*", "a\xffb", true},
		{"*\xff*", "a\xfeb", false},
		// Many stars against a near miss: linear, not exponential.
		{strings.Repeat("*a", 60) + "*b", strings.Repeat("a", 5000), false},
		{strings.Repeat("*a", 60) + "*b", strings.Repeat("a", 5000) + "b", true},
	} {
		if got := wildcardMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("wildcardMatch(%.40q, %.40q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// TestWildcardMatchAgreesWithReference compares the matcher with a plain
// dynamic-programming glob matcher on random patterns and texts over a
// small alphabet, where near misses are frequent.
func TestWildcardMatchAgreesWithReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(alphabet []string, n int) string {
		var b strings.Builder
		for range rng.IntN(n + 1) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	matches := 0
	for range 20000 {
		pattern := random([]string{"a", "b", "é", "*", "*", "?", `\`}, 8)
		s := random([]string{"a", "b", "é", "*", "?"}, 10)
		want := referenceMatch(pattern, s)
		if want {
			matches++
		}
		if got := wildcardMatch(pattern, s); got != want {
			t.Fatalf("wildcardMatch(%q, %q) = %v, want %v", pattern, s, got, want)
		}
	}
	if matches < 2000 {
		t.Fatalf("only %d of the random cases match: the comparison is too one-sided", matches)
	}
}

// referenceMatch is the textbook O(len(pattern)×len(s)) glob matcher.
func referenceMatch(pattern, s string) bool {
	type tok struct {
		r         rune
		any, star bool
	}
	var toks []tok
	p := []rune(pattern)
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*':
			toks = append(toks, tok{star: true})
		case '?':
			toks = append(toks, tok{any: true})
		case '\\':
			if i+1 < len(p) {
				i++
			}
			toks = append(toks, tok{r: p[i]})
		default:
			toks = append(toks, tok{r: p[i]})
		}
	}
	t := []rune(s)
	// ok[j]: the tokens so far match t[:j].
	ok := make([]bool, len(t)+1)
	ok[0] = true
	for _, tk := range toks {
		next := make([]bool, len(t)+1)
		for j := range next {
			switch {
			case tk.star:
				next[j] = ok[j] || j > 0 && next[j-1]
			case j > 0:
				next[j] = ok[j-1] && (tk.any || t[j-1] == tk.r)
			}
		}
		ok = next
	}
	return ok[len(t)]
}

// TestDescribeInstancesFiltersWithoutTheLock: DescribeInstances matches its
// filters without holding the lock every call shares, so a costly filter
// holds up no other call.
func TestDescribeInstancesFiltersWithoutTheLock(t *testing.T) {
	e := New(Options{})
	h := e.EC2Handler()
	call := func(form url.Values) {
		t.Helper()
		form.Set("Version", "2016-11-15")
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", form.Get("Action"), rec.Code, rec.Body)
		}
	}
	call(url.Values{"Action": {"RunInstances"}, "ImageId": {"ami-1"}, "InstanceType": {"t3.micro"}, "MinCount": {"3"}, "MaxCount": {"3"}})
	matched, locked := 0, 0
	testHookFilterMatch = func() {
		matched++
		if !e.mu.TryLock() {
			locked++
			return
		}
		e.mu.Unlock()
	}
	t.Cleanup(func() { testHookFilterMatch = nil })
	call(url.Values{"Action": {"DescribeInstances"}, "Filter.1.Name": {"instance-type"}, "Filter.1.Value.1": {"t3.*"},
		"Filter.2.Name": {"instance-state-name"}, "Filter.2.Value.1": {"pending"}, "Filter.2.Value.2": {"running"}})
	if matched != 6 || locked != 0 {
		t.Errorf("%d filter matches, %d of them under the lock; want 6, none", matched, locked)
	}
}
