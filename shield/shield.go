package shield

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/policies"
	"github.com/rempart/rempart/store"
)

// Config is what a Shield is made of. The caller (the Caddy adapter, or a
// test) builds the parts; the shield only uses them.
type Config struct {
	// Prefix is the public path prefix the shield owns, such as
	// "/.rempart/": its assets, verify and wait endpoints.
	Prefix string
	// Signer issues and verifies the shield's tokens, keyed by the secret
	// and by State's epoch.
	Signer *challenge.Signer
	// Pages renders the challenge and message pages.
	Pages *challenge.Pages
	// State holds the single-use records and the held submissions.
	State *State
	// Policy gives the policy in force for each request.
	Policy Policy
	// Pressure, when set, raises the difficulty of networks that flood,
	// counted on every instance sharing its store.
	Pressure store.Pressure
	// DifficultyCap, when positive, is the most bits a challenge asks,
	// whatever the policy's rules and the flood's extra bits add (see
	// challenge.SolvableDifficulty): rising difficulty stops where a slow
	// browser's wait would become too long. 0: challenge.MaxDifficulty.
	DifficultyCap int
	// BudgetsFailClosed refuses (503) what budgets count when their store
	// fails, instead of letting it through uncounted.
	BudgetsFailClosed bool
	// PassTTL is how long a pass lives.
	PassTTL time.Duration
	// ChallengeTTL is how long a challenge can be solved and a submission
	// is held.
	ChallengeTTL time.Duration
	// NoScriptWait, when positive, lets browsers without JavaScript
	// through after this wait.
	NoScriptWait time.Duration
	// IPv4Prefix and IPv6Prefix are the prefix lengths tokens are bound to.
	IPv4Prefix, IPv6Prefix int
	// MaxBody is the largest body held while its sender solves a challenge.
	MaxBody int
	// BodyTimeout is how long a body the shield reads (a form it looks
	// into, a proof, a submission to hold) may take to arrive, on the wall
	// clock: a network deadline, so that bodies that never come cannot pile
	// up in memory, up to MaxBody each. 0: DefaultBodyTimeout.
	BodyTimeout time.Duration
	// FormOrigins are other origins of the site's own, http(s)://host[:port]
	// (see ParseOrigin), whose pages may post signatures: a signature whose
	// Origin header is one of them is not refused as sent from another
	// site, whatever its Sec-Fetch-Site says. Without an Origin (a link
	// that signs by GET) nothing tells which site sent it, and a
	// Sec-Fetch-Site of same-site or cross-site is refused still.
	FormOrigins []string
	// Observe makes the shield decide every request and let it through.
	Observe bool
	// Logger receives one debug line per outcome (in observe mode, saying
	// what the shield would have done); nil discards them.
	Logger *zap.Logger
	// Observer, when set, is called with every request and its Outcome,
	// which is valid only during the call: copy what must be kept.
	Observer func(*http.Request, *Outcome)
	// Journal, when set, receives one line for every signature the shield
	// forwards: its id (the one sent on in SignatureHeader), the verdict,
	// the client's address, network and ASN, the work paid and the
	// petition's answer, so that a bad batch can be found and purged.
	Journal *zap.Logger
	// Now is the shield's clock; nil means time.Now.
	Now func() time.Time
}

// DefaultBodyTimeout is Config.BodyTimeout's default: a browser sends a
// form's body at once, and 64 KiB take a few seconds on a slow mobile link.
const DefaultBodyTimeout = 10 * time.Second

// Policy gives the policy in force. It must never block: the request path
// does not wait on a policy reload.
type Policy interface {
	Active(now time.Time) *Active
}

// Active is one version of the policy: its chain of rules and the budgets
// of its limit rules, swapped together.
type Active struct {
	Chain   policies.Chain
	Budgets *policies.Budgets
}

// Next is the handler a request goes on to when the shield lets it pass.
type Next func(http.ResponseWriter, *http.Request) error

// Shield guards the handler after it. It is safe for concurrent use.
type Shield struct {
	cfg        Config
	verifyPath string
	waitPath   string
	log        *zap.Logger
	// noDeadline says once that bodies are read without a deadline.
	noDeadline sync.Once
	// formOrigins are Config.FormOrigins as browsers send them.
	formOrigins []string
}

// New checks cfg and returns its Shield.
func New(cfg Config) (*Shield, error) {
	switch {
	case cfg.Signer == nil, cfg.Pages == nil, cfg.State == nil, cfg.Policy == nil:
		return nil, errors.New("shield: signer, pages, state and policy are required")
	case !strings.HasPrefix(cfg.Prefix, "/") || !strings.HasSuffix(cfg.Prefix, "/"):
		return nil, fmt.Errorf("shield: prefix %q must start and end with /", cfg.Prefix)
	case cfg.State.Reading == nil:
		return nil, errors.New("shield: state without bounds on the bodies read (make it with NewState or StateOf)")
	case cfg.PassTTL <= 0 || cfg.ChallengeTTL <= 0 || cfg.MaxBody <= 0:
		return nil, errors.New("shield: pass and challenge lifetimes and the body limit must be positive")
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BodyTimeout == 0 {
		cfg.BodyTimeout = DefaultBodyTimeout
	}
	origins, err := parseOrigins(cfg.FormOrigins)
	if err != nil {
		return nil, fmt.Errorf("shield: form origin %w", err)
	}
	return &Shield{cfg: cfg, verifyPath: cfg.Prefix + "verify", waitPath: cfg.Prefix + "wait", log: log,
		formOrigins: origins}, nil
}

// StatusError is an error the adapter should answer with Status.
type StatusError struct {
	Status int
	Err    error
}

func (e *StatusError) Error() string { return e.Err.Error() }
func (e *StatusError) Unwrap() error { return e.Err }

func internalError(what string, err error) error {
	return &StatusError{Status: http.StatusInternalServerError, Err: fmt.Errorf("%s: %w", what, err)}
}

// Serve decides the request from the client id and acts: it answers the
// request itself, or calls next.
func (s *Shield) Serve(w http.ResponseWriter, r *http.Request, id Identity, next Next) error {
	x := exchanges.Get().(*exchange)
	x.c = s.client(r, id)
	now := s.cfg.Now()
	x.out = Outcome{Method: r.Method, Path: r.URL.Path, Client: id, Network: x.c.binding.Network, Time: now}
	finished := false
	defer func() {
		// Caddy's proxy gives up on a request whose client went away
		// while its answer was copied (a panic with http.ErrAbortHandler):
		// what the shield did, a signature forwarded, still counts, once.
		if p := recover(); p != nil {
			if !finished {
				s.finish(r, &x.out)
			}
			panic(p)
		}
	}()
	err := s.serve(w, r, x, next, now)
	finished = true
	s.finish(r, &x.out)
	*x = exchange{} // keep nothing of this request in the pool
	exchanges.Put(x)
	return err
}

// finish reports the request's outcome: to the observer and the debug
// log, and to the journal for a forwarded signature.
func (s *Shield) finish(r *http.Request, out *Outcome) {
	s.observe(r, out)
	if out.SignatureID != "" && s.cfg.Journal != nil {
		s.journal(r, out)
	}
}

// exchange is one request's working state: who sent it, what the policy
// saw and decided, and the outcome. It is pooled, so that a request costs
// none of it in allocations.
type exchange struct {
	c   client
	out Outcome
	req policies.Request
	dec policies.Decision
	act action
}

var exchanges = sync.Pool{New: func() any { return new(exchange) }}

func (s *Shield) client(r *http.Request, id Identity) client {
	return client{Identity: id, binding: challenge.NewBinding(id.IP, s.cfg.IPv4Prefix, s.cfg.IPv6Prefix, r.UserAgent(), r.Host)}
}

func (s *Shield) observe(r *http.Request, out *Outcome) {
	if s.cfg.Observer != nil {
		s.cfg.Observer(r, out)
	}
	msg := "rempart"
	if out.Observed {
		msg = "observe: would " + string(out.Action)
	}
	// One line per request at debug only: a flood must not flood the log
	// (the handler logs an aggregated line per interval).
	if ce := s.log.Check(zap.DebugLevel, msg); ce != nil {
		ce.Write(outcomeField(out))
	}
}

func (s *Shield) serve(w http.ResponseWriter, r *http.Request, x *exchange, next Next, now time.Time) error {
	c, out := &x.c, &x.out
	// As Caddy's client_ip matcher: before the TLS handshake completes
	// (0-RTT early data) the client address is not verified, so nothing
	// the shield decides by it can be trusted yet. 425 makes the client
	// retry after the handshake.
	if r.TLS != nil && !r.TLS.HandshakeComplete {
		out.Reason = "TLS early data"
		return s.refuse(w, r, out, http.StatusTooEarly, unreadable)
	}
	if strings.HasPrefix(r.URL.Path, s.cfg.Prefix) {
		return s.serveOwn(w, r, c, now, out)
	}
	active := s.cfg.Policy.Active(now)
	held, answered, err := s.classify(w, r, c, active, now, out, &x.req)
	if answered {
		return err
	}
	x.dec = active.Chain.Decide(&x.req)
	out.Rule, out.Line, out.Signature = x.dec.Rule, x.dec.Line, x.req.Signature
	x.act = action{s: s, w: w, r: r, c: c, active: active, dec: &x.dec, held: held, now: now, out: out}
	if s.cfg.Observe {
		return x.act.observe(next)
	}
	return x.act.run(next)
}
