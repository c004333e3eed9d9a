package tokens

import (
	"crypto/sha256"
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
// it rereads when it changes, so that adding or deleting a token takes
// effect without a restart. Each lookup stats the file: a new identity, size
// or modification time reloads it. A rewrite can keep all three (two writes
// within the filesystem's timestamp granularity, or a tool that restores the
// modification time, such as cp -p or rsync --times --inplace), so the
// content is also hashed and compared: on every lookup for racyWindow after
// the store first sees a stat (a rewrite within the timestamp's granularity
// comes that soon after the write it copies the stat of, whatever the file
// server's clock says), and at least every recheckEvery otherwise. A file that does not exist holds no tokens. A file
// that exists but cannot be read or parsed fails every lookup with the
// error, so that a broken edit never keeps a revoked token working.
type Store struct {
	path string
	log  *slog.Logger
	// now is the clock of the content checks.
	now func() time.Time

	mu      sync.Mutex
	stat    fs.FileInfo // nil: not loaded, or file absent
	absent  bool
	loaded  bool
	sum     [sha256.Size]byte // of the content entries and err come from
	readAt  time.Time         // when that content was read
	seen    time.Time         // when stat was first seen
	entries []Entry
	err     error
}

const (
	// racyWindow: a file may be rewritten without its stat changing for
	// this long after the store first sees the stat (filesystems that
	// keep whole seconds, or FAT's two), so until then every lookup
	// compares the content.
	racyWindow = 3 * time.Second
	// recheckEvery bounds how long a rewrite that restores the
	// modification time goes unseen.
	recheckEvery = time.Second
)

// NewStore returns a Store for the file at path; it reads it on first use.
func NewStore(path string, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{path: path, log: log, now: time.Now}
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
		s.noteAbsent()
		s.absent, s.loaded, s.stat, s.entries, s.err = true, true, nil, nil, nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tokens file %s: %w", s.path, err)
	}
	now := s.now()
	sameStat := s.loaded && !s.absent && s.stat != nil && os.SameFile(st, s.stat) &&
		st.Size() == s.stat.Size() && st.ModTime().Equal(s.stat.ModTime())
	if !sameStat {
		s.seen = now
	}
	if sameStat && now.Sub(s.seen) >= racyWindow &&
		now.Sub(s.readAt) < recheckEvery && !now.Before(s.readAt) {
		return s.entries, s.err
	}
	data, err := readBounded(s.path)
	if err != nil {
		if s.err == nil {
			s.log.Error("tokens file unusable: every request with a token is refused until it is fixed", "path", s.path, "err", err)
		}
		// Tried again as a changed file is: the zero sum matches no content.
		s.absent, s.loaded, s.stat, s.readAt = false, true, st, now
		s.sum, s.entries, s.err = [sha256.Size]byte{}, nil, err
		return nil, err
	}
	sum := sha256.Sum256(data)
	wasLoaded := s.loaded && !s.absent
	s.absent, s.loaded, s.stat, s.readAt = false, true, st, now
	if wasLoaded && sum == s.sum {
		return s.entries, s.err
	}
	s.sum = sum
	f, err := Parse(s.path, data)
	if err != nil {
		s.log.Error("tokens file unusable: every request with a token is refused until it is fixed", "path", s.path, "err", err)
		s.entries, s.err = nil, err
		return nil, err
	}
	s.log.Info("tokens file loaded", "path", s.path, "tokens", len(f.Entries))
	s.entries, s.err = f.Entries, nil
	return s.entries, nil
}

// noteAbsent logs the file's absence once, as it is found: a Warn when
// the file was there before (removed while the server runs), a Debug when
// it never was, which the server warned of as it started.
func (s *Store) noteAbsent() {
	switch {
	case s.absent:
	case s.loaded:
		s.log.Warn("tokens file removed: no token is accepted until it is created again", "path", s.path)
	default:
		s.log.Debug("tokens file does not exist: no token is accepted until it is created", "path", s.path)
	}
}

// Read reads and parses the tokens file at path.
func Read(path string) (*File, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// readBounded reads the file at path, up to one byte over MaxFileBytes (so
// that Parse can say it is too large).
func readBounded(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("tokens file %s: %w", path, err)
	}
	return data, nil
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
