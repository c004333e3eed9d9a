package signals

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzShorten: a cut string is at most n bytes and its mark, a prefix
// of s, and valid UTF-8 when s was.
func FuzzShorten(f *testing.F) {
	f.Add("ジョブ名", 4)
	f.Add("a🚀b", 3)
	f.Add("abc", 0)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1<<20 {
			return
		}
		got := Shorten(s, n)
		body := strings.TrimSuffix(got, "…")
		if len(got) <= n && got == s {
			return
		}
		if len(body) > n || !strings.HasPrefix(s, body) || len(body) < n-utf8.UTFMax+1 && len(s) > n {
			t.Fatalf("Shorten(%q, %d) = %q", s, n, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Shorten(%q, %d) = %q, not valid UTF-8", s, n, got)
		}
	})
}
