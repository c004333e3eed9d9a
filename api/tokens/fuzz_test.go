package tokens

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the parser: it never panics, and what
// it accepts survives a Marshal round trip unchanged.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte("tokens: []\n"))
	f.Add([]byte("{tokens: [{name: a, role: admin, sha256: 0000000000000000000000000000000000000000000000000000000000000000}]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		again, err := Parse("again", file.Marshal())
		if err != nil {
			t.Fatalf("accepted file does not round trip: %v\n%s", err, file.Marshal())
		}
		if len(again.Entries) != len(file.Entries) {
			t.Fatalf("round trip: %d entries, want %d", len(again.Entries), len(file.Entries))
		}
		for i := range file.Entries {
			if again.Entries[i] != file.Entries[i] {
				t.Fatalf("entry %d: %+v, want %+v", i, again.Entries[i], file.Entries[i])
			}
		}
	})
}
