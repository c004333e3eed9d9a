package signals

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseDecimal: what ParseDecimal reads is what strconv.ParseFloat
// reads of it, never Go's own syntax (underscores, hexadecimal, words
// other than Prometheus' NaN and ±Inf); every decimal ParseFloat reads,
// it reads too.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"5", "-3", ".5", "5.", "1e3", "NaN", "+Inf", "-Inf", "Inf", "1_000", "0x1p4", "infinity", "", "e5", "1e999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseDecimal(s)
		want, perr := strconv.ParseFloat(s, 64)
		goSyntax := strings.ContainsAny(s, "_xXpPiInNfFaAtTyY")
		special := s == "NaN" || s == "+Inf" || s == "-Inf" || s == "Inf"
		switch {
		case err == nil && perr != nil:
			t.Fatalf("ParseDecimal(%q) = %v, which ParseFloat refuses: %v", s, got, perr)
		case err == nil && goSyntax && !special:
			t.Fatalf("ParseDecimal(%q) = %v: Go's syntax read", s, got)
		case err == nil && !(got == want || math.IsNaN(got) && math.IsNaN(want)):
			t.Fatalf("ParseDecimal(%q) = %v, ParseFloat %v", s, got, want)
		case err != nil && perr == nil && !goSyntax:
			t.Fatalf("ParseDecimal(%q) refused a decimal ParseFloat reads as %v: %v", s, want, err)
		case err != nil && !strings.Contains(err.Error(), "is not a decimal number"):
			t.Fatalf("ParseDecimal(%q): %v", s, err)
		}
	})
}

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
