package redis

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzIDBefore: stream entry IDs compare as Redis orders them (by their
// milliseconds, then their sequence number), never both ways; an ID that
// does not read comes before none, so no pending entry is left out on it.
func FuzzIDBefore(f *testing.F) {
	for _, s := range [][2]string{{"1-0", "2-0"}, {"1-1", "1-0"}, {"1700000000000-5", "1700000000000-12"}, {"x", "1-0"}, {"1", "1-0"}, {"18446744073709551615-0", "1-0"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := idBefore(a, b), idBefore(b, a)
		if ab && ba {
			t.Fatalf("%q and %q each before the other", a, b)
		}
		parse := func(id string) (ms, seq uint64, ok bool) {
			m, s, cut := strings.Cut(id, "-")
			x, err1 := strconv.ParseUint(m, 10, 64)
			y, err2 := strconv.ParseUint(s, 10, 64)
			return x, y, cut && err1 == nil && err2 == nil
		}
		am, as, aok := parse(a)
		bm, bs, bok := parse(b)
		if !aok || !bok {
			if ab {
				t.Fatalf("%q before %q, though one does not read as an ID", a, b)
			}
			return
		}
		if want := am < bm || am == bm && as < bs; ab != want {
			t.Fatalf("idBefore(%q, %q) = %v, want %v", a, b, ab, want)
		}
	})
}
