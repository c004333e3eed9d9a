// Package tokens reads and writes Spillway's API tokens file: a YAML list of
// named tokens, each with a role and the SHA-256 hash of the token. The
// tokens themselves are never stored; they are printed once when created.
//
//	tokens:
//	  - name: alice
//	    role: operator
//	    sha256: 3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b
//	    created: 2026-11-29T07:30:00Z
package tokens

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Role is what a token may do.
type Role string

const (
	// Viewer reads everything except the audit log.
	Viewer Role = "viewer"
	// Operator also creates and cancels manual bursts within each pool's
	// manual limits.
	Operator Role = "operator"
	// Admin may do everything, including reading the audit log.
	Admin Role = "admin"
)

// Allows reports whether r is at least need (viewer < operator < admin).
func (r Role) Allows(need Role) bool { return r.rank() >= need.rank() && need.rank() > 0 }

func (r Role) rank() int {
	switch r {
	case Viewer:
		return 1
	case Operator:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if r.rank() == 0 {
		return "", fmt.Errorf("role %q is not a role: use viewer, operator or admin", s)
	}
	return r, nil
}

// Limits on what the parser accepts.
const (
	// MaxFileBytes bounds the tokens file.
	MaxFileBytes = 1 << 20
	// MaxEntries bounds the number of tokens in one file.
	MaxEntries = 10000
	// MaxNameLen bounds a token's name.
	MaxNameLen = 64
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]*$`)

// CheckName says why a token name is unusable, or nil.
func CheckName(name string) error {
	if len(name) == 0 || len(name) > MaxNameLen || !nameRE.MatchString(name) {
		return fmt.Errorf("name %q is not a token name: use 1 to %d letters, digits, '.', '_', '@' or '-', starting with a letter or digit", name, MaxNameLen)
	}
	return nil
}

// Entry is one token in the file.
type Entry struct {
	Name    string
	Role    Role
	Hash    [sha256.Size]byte
	Created time.Time
}

// File is the parsed tokens file.
type File struct {
	Entries []Entry
}

// ParseError is a problem in a tokens file; Line is 0 when unknown.
type ParseError struct {
	Path string
	Line int
	Msg  string
	Err  error
}

func (e *ParseError) Error() string {
	loc := e.Path
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.Path, e.Line)
	}
	if loc == "" {
		loc = "tokens file"
	}
	return loc + ": " + e.Msg
}

func (e *ParseError) Unwrap() error { return e.Err }

// ErrTooLarge is returned for a file over MaxFileBytes.
var ErrTooLarge = errors.New("tokens file too large")

type rawFile struct {
	Tokens []rawEntry `yaml:"tokens"`
}

type rawEntry struct {
	Name    string `yaml:"name"`
	Role    string `yaml:"role"`
	SHA256  string `yaml:"sha256"`
	Created string `yaml:"created,omitempty"`
	line    int
}

// UnmarshalYAML decodes one entry, refusing unknown and repeated fields
// (a custom unmarshaler does not inherit the decoder's KnownFields).
func (e *rawEntry) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a token is a mapping of name, role, sha256 and created", n.Line)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return fmt.Errorf("line %d: field %q appears twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		var dst *string
		switch k.Value {
		case "name":
			dst = &e.Name
		case "role":
			dst = &e.Role
		case "sha256":
			dst = &e.SHA256
		case "created":
			dst = &e.Created
		default:
			return fmt.Errorf("line %d: field %q is not a token field: use name, role, sha256 and created (the file stores hashes, never tokens)", k.Line, clip(k.Value))
		}
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: field %q must be a plain value", v.Line, k.Value)
		}
		*dst = v.Value
	}
	e.line = n.Line
	return nil
}

// Parse reads a tokens file strictly: unknown fields, duplicate names or
// hashes, bad roles and malformed hashes are errors naming the line. path is
// used in messages only.
func Parse(path string, data []byte) (*File, error) {
	if len(data) > MaxFileBytes {
		return nil, &ParseError{Path: path, Msg: fmt.Sprintf("%d bytes is more than the limit of %d", len(data), MaxFileBytes), Err: ErrTooLarge}
	}
	if keys := configKeys(data); len(keys) > 0 {
		return nil, &ParseError{Path: path, Msg: fmt.Sprintf("this is a Spillway config (it has %s), not a tokens file: name the tokens file itself, the one the config's server.tokens_file names; spillway token create makes it", strings.Join(keys, ", "))}
	}
	if bytes.Contains(data, []byte("&")) || bytes.Contains(data, []byte("*")) {
		// YAML anchors and aliases have no use in this file; refusing
		// them bounds the parser's work on hostile input.
		for i, l := range strings.Split(string(data), "\n") {
			t := strings.TrimSpace(l)
			if strings.HasPrefix(t, "#") {
				continue
			}
			if strings.ContainsAny(t, "&*") {
				return nil, &ParseError{Path: path, Line: i + 1, Msg: "'&' and '*' (YAML anchors and aliases) are not allowed in a tokens file"}
			}
		}
	}
	var raw rawFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, &ParseError{Path: path, Msg: "not a tokens file: " + err.Error(), Err: err}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &ParseError{Path: path, Msg: "more than one YAML document: a tokens file holds one"}
	}
	if len(raw.Tokens) > MaxEntries {
		return nil, &ParseError{Path: path, Msg: fmt.Sprintf("%d tokens is more than the limit of %d", len(raw.Tokens), MaxEntries)}
	}
	f := &File{Entries: make([]Entry, 0, len(raw.Tokens))}
	names := make(map[string]int, len(raw.Tokens))
	hashes := make(map[[sha256.Size]byte]int, len(raw.Tokens))
	for _, r := range raw.Tokens {
		bad := func(format string, a ...any) error {
			return &ParseError{Path: path, Line: r.line, Msg: fmt.Sprintf(format, a...)}
		}
		if err := CheckName(r.Name); err != nil {
			return nil, bad("%v", err)
		}
		if prev, ok := names[r.Name]; ok {
			return nil, bad("name %q is already used on line %d: names are unique", r.Name, prev)
		}
		role, err := ParseRole(r.Role)
		if err != nil {
			return nil, bad("token %s: %v", r.Name, err)
		}
		var h [sha256.Size]byte
		if len(r.SHA256) != 2*sha256.Size || strings.ToLower(r.SHA256) != r.SHA256 {
			return nil, bad("token %s: sha256 %q is not a SHA-256 hash: want 64 lowercase hex digits (the file stores hashes, never tokens)", r.Name, clip(r.SHA256))
		}
		if _, err := hex.Decode(h[:], []byte(r.SHA256)); err != nil {
			return nil, bad("token %s: sha256 %q is not a SHA-256 hash: want 64 lowercase hex digits", r.Name, clip(r.SHA256))
		}
		if prev, ok := hashes[h]; ok {
			return nil, bad("token %s: the same hash is already on line %d: each token is unique", r.Name, prev)
		}
		var created time.Time
		if r.Created != "" {
			created, err = time.Parse(time.RFC3339, r.Created)
			if err != nil {
				return nil, bad("token %s: created %q is not an RFC 3339 time such as 2026-11-29T07:30:00Z", r.Name, clip(r.Created))
			}
		}
		names[r.Name] = r.line
		hashes[h] = r.line
		f.Entries = append(f.Entries, Entry{Name: r.Name, Role: role, Hash: h, Created: created})
	}
	return f, nil
}

// configKeys are the top-level keys of a spillway.yaml that data has
// (cluster:, pools:, providers:): the config is the file a tokens file is
// most often mistaken for (token create --file spillway.yaml, tokens_file
// naming the config), and it failed as anchors for its cron's * or as
// "field cluster not found in type tokens.rawFile".
func configKeys(data []byte) []string {
	var keys []string
	for _, k := range []string{"cluster", "providers", "pools"} {
		if bytes.HasPrefix(data, []byte(k+":")) || bytes.Contains(data, []byte("\n"+k+":")) {
			keys = append(keys, k+":")
		}
	}
	return keys
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Marshal writes the file back in the form Parse reads.
func (f *File) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString("# Spillway API tokens. Only SHA-256 hashes of the tokens are stored here.\n")
	b.WriteString("# Add one with `spillway token create --name NAME --role viewer|operator|admin --file FILE`;\n")
	b.WriteString("# delete an entry to revoke its token. The server rereads this file when it changes.\n")
	if len(f.Entries) == 0 {
		b.WriteString("tokens: []\n")
		return b.Bytes()
	}
	b.WriteString("tokens:\n")
	for _, e := range f.Entries {
		fmt.Fprintf(&b, "  - name: %s\n    role: %s\n    sha256: %s\n", e.Name, e.Role, hex.EncodeToString(e.Hash[:]))
		if !e.Created.IsZero() {
			fmt.Fprintf(&b, "    created: %s\n", e.Created.UTC().Format(time.RFC3339))
		}
	}
	return b.Bytes()
}

// Prefix starts every token Spillway makes, so that a leaked one is easy to
// recognise in logs and secret scanners.
const Prefix = "spw_"

// Generate returns a new random token (256 bits) read from rnd, which is
// crypto/rand.Reader outside tests.
func Generate(rnd io.Reader) (string, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	var b [32]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return "", fmt.Errorf("reading random bytes for a token: %w", err)
	}
	return Prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Hash returns the SHA-256 of a token, as stored in the file.
func Hash(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }
