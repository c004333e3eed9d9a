package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"
)

// maxSessions bounds the page's login sessions held in memory.
const maxSessions = 10000

// session is one page login. It keeps the token's hash, not the token, and
// the principal is looked up again on every request, so that deleting a
// token from the file also ends its sessions.
type session struct {
	hash    [sha256.Size]byte
	csrf    string
	expires time.Time
}

type sessions struct {
	ttl time.Duration
	max int

	mu sync.Mutex
	m  map[string]*session
}

func newSessions(ttl time.Duration, max int) *sessions {
	return &sessions{ttl: ttl, max: max, m: make(map[string]*session)}
}

func randomID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session for a token hash and returns its ID.
func (ss *sessions) create(h [sha256.Size]byte, now time.Time) (string, *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= ss.max {
		ss.evict(now)
	}
	id := randomID()
	s := &session{hash: h, csrf: randomID(), expires: now.Add(ss.ttl)}
	ss.m[id] = s
	return id, s
}

// evict drops expired sessions, and if none had expired the one closest to
// expiring. Called with mu held.
func (ss *sessions) evict(now time.Time) {
	var oldest string
	for id, s := range ss.m {
		if !now.Before(s.expires) {
			delete(ss.m, id)
			continue
		}
		if oldest == "" || s.expires.Before(ss.m[oldest].expires) {
			oldest = id
		}
	}
	if len(ss.m) >= ss.max && oldest != "" {
		delete(ss.m, oldest)
	}
}

func (ss *sessions) get(id string, now time.Time) (*session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	if !ok {
		return nil, false
	}
	if !now.Before(s.expires) {
		delete(ss.m, id)
		return nil, false
	}
	return s, true
}

func (ss *sessions) delete(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, id)
}

func (ss *sessions) len() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.m)
}
