package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/spillway-io/spillway/api/tokens"
)

// Clock tells the time; the server's is injected so tests can move it.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Options configure a Server. Backend is required.
type Options struct {
	Backend Backend
	// TokensFile is the tokens file (see package tokens). It is reread
	// when it changes, even when its size and time stay the same (see
	// tokens.Store). Empty: no token is accepted.
	TokensFile string
	// AnonymousRead lets requests without a token read (the viewer role)
	// through the API and the page; for trusted networks only. Mutations
	// and the audit log still need a token.
	AnonymousRead bool
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Clock is the time source; nil is the system clock.
	Clock Clock
	// SessionTTL is how long a page login lasts (default 12h).
	SessionTTL time.Duration
	// PageRefresh is how often the status page reloads itself while open
	// (default 30s; 1s to 1h).
	PageRefresh time.Duration
}

// Server serves the API under /v1/ and the status page at /.
type Server struct {
	be       Backend
	tokens   *tokens.Store
	anon     bool
	log      *slog.Logger
	clock    Clock
	sessions *sessions
	mux      *http.ServeMux
	// refresh is how often the page reloads itself (Options.PageRefresh).
	refresh time.Duration
	// anonAudit keeps 401s from filling the audit log.
	anonAudit anonAudit
	// inflight counts the requests being served, which FlushAudit waits
	// for.
	inflight inflight
}

var _ http.Handler = (*Server)(nil)

// NewServer returns the API and page handler.
func NewServer(o Options) (*Server, error) {
	if o.Backend == nil {
		return nil, errors.New("api: Options.Backend is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.SessionTTL < time.Minute || o.SessionTTL > 30*24*time.Hour {
		return nil, fmt.Errorf("api: session TTL %v is out of range: use 1m to 720h", o.SessionTTL)
	}
	if o.PageRefresh == 0 {
		o.PageRefresh = 30 * time.Second
	}
	if o.PageRefresh < time.Second || o.PageRefresh > time.Hour {
		return nil, fmt.Errorf("api: page refresh %v is out of range: use 1s to 1h", o.PageRefresh)
	}
	log := o.Logger.WithGroup("api")
	s := &Server{
		be:       o.Backend,
		tokens:   tokens.NewStore(o.TokensFile, log),
		anon:     o.AnonymousRead,
		log:      log,
		clock:    o.Clock,
		sessions: newSessions(o.SessionTTL, maxSessions),
		mux:      http.NewServeMux(),
		refresh:  o.PageRefresh,
	}
	s.anonAudit.log = log
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /v1/status", s.read(takes(s.getStatus)))
	m.HandleFunc("GET /v1/pools", s.read(takes(s.getPools)))
	m.HandleFunc("GET /v1/pools/{pool}", s.read(takes(s.getPool)))
	m.HandleFunc("GET /v1/instances", s.read(takes(s.getInstances, "pool", "limit", "cursor")))
	m.HandleFunc("GET /v1/decisions", s.read(takes(s.getDecisions, "pool", "since", "limit", "cursor")))
	m.HandleFunc("GET /v1/bursts", s.read(takes(s.getBursts, "pool", "all", "limit", "cursor")))
	m.HandleFunc("POST /v1/bursts", s.mutating(tokens.Operator, s.postBurst))
	m.HandleFunc("GET /v1/bursts/{id}", s.read(takes(s.getBurst)))
	m.HandleFunc("DELETE /v1/bursts/{id}", s.mutating(tokens.Operator, s.deleteBurst))
	m.HandleFunc("GET /v1/audit", s.readAs(tokens.Admin, takes(s.getAudit, "limit", "cursor")))
	m.HandleFunc("/v1/", s.notFound)
	m.HandleFunc("/v1", s.notFound)

	m.HandleFunc("GET /{$}", s.page)
	m.HandleFunc("GET /login", s.loginForm)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /logout", s.logout)
	m.HandleFunc("POST /bursts", s.pageCreateBurst)
	m.HandleFunc("POST /bursts/{id}/cancel", s.pageCancelBurst)
	m.HandleFunc("GET /static/{file}", s.static)
	m.HandleFunc("/", s.pageNotFound)
}

// FlushAudit writes what the audit log would otherwise lose when the server
// stops: unauthenticated calls (401) are counted in memory between their
// rows (see writeAudit), and the counts go into one summary row. Call it
// once the HTTP server has shut down: it first waits, until ctx ends, for
// the requests still being served (http.Server.Close, after a graceful
// shutdown ran out of time, closes their connections but does not wait for
// their handlers), so that their refusals are counted too.
func (s *Server) FlushAudit(ctx context.Context) {
	if n := s.inflight.wait(ctx); n > 0 {
		s.log.Warn("audit flushed with requests still being served: their outcomes may be missing from the audit log", "requests", n)
	}
	now := s.clock.Now().UTC()
	if out := s.anonAudit.flush(now); out != "" {
		s.addAudit(ctx, anonSummaryEntry(now, out))
	}
}

// ServeHTTP serves the API and the page.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	s.inflight.start()
	defer s.inflight.done()
	s.mux.ServeHTTP(w, r)
}

// inflight counts requests being served.
type inflight struct {
	mu sync.Mutex
	n  int
	// none is closed when n falls to 0 (and made anew when it rises).
	none chan struct{}
}

func (f *inflight) start() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		f.none = make(chan struct{})
	}
	f.n++
}

func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n--; f.n == 0 {
		close(f.none)
	}
}

// wait waits until no request is being served, or ctx ends; it returns
// how many still are.
func (f *inflight) wait(ctx context.Context) int {
	f.mu.Lock()
	if f.n == 0 {
		f.mu.Unlock()
		return 0
	}
	none := f.none
	f.mu.Unlock()
	select {
	case <-none:
		return 0
	case <-ctx.Done():
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}
