package tokens

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Principal is who a token belongs to.
type Principal struct {
	Name string
	Role Role
}

// Store answers which principal a token belongs to, from a tokens file that
// it rereads whenever the file's identity, size or modification time
// changes (checked with one stat per lookup), so that adding or deleting a
// token takes effect without a restart. A file that does not exist holds no
// tokens. A file that exists but cannot be read or parsed fails every lookup
// with the error, so that a broken edit never keeps a revoked token working.
type Store struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	stat    fs.FileInfo // nil: not loaded, or file absent
	absent  bool
	loaded  bool
	entries []Entry
	err     error
}

// NewStore returns a Store for the file at path; it reads it on first use.
func NewStore(path string, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{path: path, log: log}
}

// Path is the file the store reads.
func (s *Store) Path() string { return s.path }

// ErrUnknown is returned by Lookup for a token that is not in the file.
var ErrUnknown = errors.New("unknown token")

// Lookup returns the principal whose hash matches token. Every entry is
// compared in constant time, so the time taken does not depend on which
// entry (if any) matches. It returns ErrUnknown for a token not in the file,
// and a *ParseError or I/O error when the file is unusable.
func (s *Store) Lookup(token string) (Principal, error) { return s.LookupHash(Hash(token)) }

// LookupHash is Lookup for an already hashed token (sessions keep the hash,
// not the token).
func (s *Store) LookupHash(h [32]byte) (Principal, error) {
	entries, err := s.current()
	if err != nil {
		return Principal{}, err
	}
	found := -1
	for i := range entries {
		if subtle.ConstantTimeCompare(h[:], entries[i].Hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, ErrUnknown
	}
	return Principal{Name: entries[found].Name, Role: entries[found].Role}, nil
}

func (s *Store) current() ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == "" {
		return nil, nil
	}
	st, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		if !s.absent {
			s.log.Warn("tokens file does not exist: no token is accepted until it is created", "path", s.path)
		}
		s.absent, s.loaded, s.stat, s.entries, s.err = true, true, nil, nil, nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tokens file %s: %w", s.path, err)
	}
	if s.loaded && !s.absent && s.stat != nil && os.SameFile(st, s.stat) &&
		st.Size() == s.stat.Size() && st.ModTime().Equal(s.stat.ModTime()) {
		return s.entries, s.err
	}
	s.absent, s.loaded, s.stat = false, true, st
	f, err := Read(s.path)
	if err != nil {
		s.log.Error("tokens file unusable: every request with a token is refused until it is fixed", "path", s.path, "err", err)
		s.entries, s.err = nil, err
		return nil, err
	}
	s.log.Info("tokens file loaded", "path", s.path, "tokens", len(f.Entries))
	s.entries, s.err = f.Entries, nil
	return s.entries, nil
}

// Read reads and parses the tokens file at path.
func Read(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("tokens file %s: %w", path, err)
	}
	return Parse(path, data)
}

// Add creates a token for name with role, adds its hash to the file at path
// (creating the file, mode 0600, if needed) and returns the token, which is
// not stored anywhere. The file is replaced atomically (write then rename),
// so a server reading it never sees half a file.
func Add(path, name string, role Role, now time.Time, rnd io.Reader) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	if role.rank() == 0 {
		_, err := ParseRole(string(role))
		return "", err
	}
	unlock, err := lockDir(filepath.Dir(path))
	if err != nil {
		return "", err
	}
	defer unlock()
	f := &File{}
	if _, err := os.Stat(path); err == nil {
		if f, err = Read(path); err != nil {
			return "", err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("tokens file: %w", err)
	}
	for _, e := range f.Entries {
		if e.Name == name {
			return "", fmt.Errorf("token name %q is already in %s: choose another name, or delete its entry to replace it", name, path)
		}
	}
	if len(f.Entries) >= MaxEntries {
		return "", fmt.Errorf("%s already holds %d tokens, the limit: delete unused ones first", path, len(f.Entries))
	}
	tok, err := Generate(rnd)
	if err != nil {
		return "", err
	}
	f.Entries = append(f.Entries, Entry{Name: name, Role: role, Hash: Hash(tok), Created: now.UTC().Truncate(time.Second)})
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return "", fmt.Errorf("writing tokens file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("writing tokens file: %w", err)
	}
	if _, err := tmp.Write(f.Marshal()); err != nil {
		tmp.Close()
		return "", fmt.Errorf("writing tokens file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("writing tokens file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("writing tokens file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("writing tokens file: %w", err)
	}
	return tok, nil
}
