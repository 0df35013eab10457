// Package caddymodule adapts rempart's core packages to Caddy: the
// `rempart` HTTP handler and its Caddyfile directive.
package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/policies"
	"github.com/rempart/rempart/shield"
	"github.com/rempart/rempart/store"
)

const (
	modeEnforce = "enforce"
	modeObserve = "observe"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// PublicPrefix is the path prefix the shield owns on every site it guards:
// its assets and its verify endpoint live there.
const PublicPrefix = "/.rempart/"

// Defaults for the handler's options.
const (
	DefaultDifficulty   = 18
	DefaultCredits      = 1
	DefaultPassTTL      = caddy.Duration(time.Hour)
	DefaultChallengeTTL = caddy.Duration(5 * time.Minute)
	DefaultIPv4Prefix   = 24
	DefaultIPv6Prefix   = 48
	DefaultMaxBody      = 64 << 10
	DefaultSpentSize    = 1 << 20
	DefaultStashEntries = 4096
	DefaultStashBytes   = 32 << 20
	DefaultIPv6IPPrefix = 64
	DefaultMaxSolve     = caddy.Duration(5 * time.Second)
)

// Handler shields the routes after it: a client must solve a proof-of-work
// challenge in its browser to get a pass, and every request to a protected
// endpoint (a petition's signature form) spends one of the pass's credits.
// A request that is refused never reaches the next handler.
type Handler struct {
	// Secret keys the HMAC that signs challenges and passes. It accepts
	// placeholders such as {env.REMPART_SECRET}, and must be at least 16
	// bytes once they are replaced. When it is empty, a random secret is
	// generated once and kept in Caddy's storage, which instances sharing
	// storage share. Tokens are also signed with the epoch of the site's
	// records, so none outlives a restart of Caddy (see Site).
	Secret string `json:"secret,omitempty"`

	// Difficulty is the number of leading zero bits of SHA-256 a proof of
	// work must have. Each bit doubles the expected work: 18 (the default)
	// takes a few hundred milliseconds in a current browser.
	Difficulty int `json:"difficulty,omitempty"`

	// Protect lists the signature endpoints. Every request to one of them
	// needs a pass with a credit left and spends one; without one it is
	// answered with a challenge and never forwarded, and its body is held
	// and sent on once the challenge is solved.
	Protect policies.Endpoints `json:"protect,omitempty"`

	// Credits is how many requests to protected endpoints one solved
	// challenge buys. Default: 1, one proof per signature.
	Credits int `json:"credits,omitempty"`

	// PassTTL is how long a pass lets a browser read the site and spend
	// its credits. Default: 1h.
	PassTTL caddy.Duration `json:"pass_ttl,omitempty"`

	// ChallengeTTL is how long a challenge can be solved, and how long an
	// interrupted submission is held. Default: 5m.
	ChallengeTTL caddy.Duration `json:"challenge_ttl,omitempty"`

	// IPv4Prefix is the length of the network prefix, for IPv4 clients,
	// that challenges and passes are bound to. Default: 24.
	IPv4Prefix int `json:"ipv4_prefix,omitempty"`

	// IPv6Prefix is the same for IPv6 clients. Default: 48.
	IPv6Prefix int `json:"ipv6_prefix,omitempty"`

	// NoScriptWait, when set, lets a browser without JavaScript through
	// after waiting this long (at most 255s): the challenge page refreshes
	// itself once the wait is over. It prices a signature in time only, so
	// it is off by default, and a browser without JavaScript is told to
	// enable it.
	NoScriptWait caddy.Duration `json:"noscript_wait,omitempty"`

	// FormOrigins are other origins of the site's own, such as
	// "https://www.example.org" or a campaign site's, whose pages may post
	// signatures here. A signature a browser says comes from another
	// origin is refused, so that no other site's form can make its
	// visitors sign; one whose Origin header is listed here is let through
	// to the usual pass or challenge. Each is http(s)://host[:port], with
	// no path; it is compared as browsers send it (lower case, without
	// the scheme's default port). A signature without an Origin (a link
	// that signs by GET) cannot say which site sent it: from another site
	// it is refused still. Nor can one whose Origin is "null", which
	// browsers send from a page whose referrer policy is no-referrer or
	// same-origin.
	FormOrigins []string `json:"form_origins,omitempty"`

	// Limits are the budgets that bound what a client, a network or a class
	// of networks may do: how many signatures are forwarded and how many
	// challenges issued, per IP, network prefix, ASN or class. Over budget,
	// a request gets 429 with Retry-After and is never forwarded.
	Limits []policies.Budget `json:"limits,omitempty"`

	// Flood makes the difficulty of a network that floods rise, and fall
	// back when it calms. On by default.
	Flood *Flood `json:"flood,omitempty"`

	// MaxSolve is how long, on average, a 2-core phone-class browser may
	// have to work on one challenge: however much the policy's rules and
	// the flood raise the difficulty, it stops at the most bits expected
	// to be solved within MaxSolve at challenge.ReferenceHashRate (2^bits
	// attempts at 2 MH/s: 23 bits for the default 5s), and never below
	// Difficulty. A negative value lifts the cap (max_solve off in the
	// Caddyfile). Default: 5s.
	MaxSolve caddy.Duration `json:"max_solve,omitempty"`

	// Policy is a YAML policy file (docs/policy.md) whose rules decide,
	// in order, to allow, deny, challenge or limit each request. It is
	// checked for changes every PolicyReload and swapped in whole; a broken
	// file keeps the policy in force and logs why. Placeholders such as
	// {env.REMPART_POLICY} work; one that leaves the path empty is a
	// config error. Empty: the embedded default policy, written for a
	// petition site. The Limits come before its rules.
	Policy string `json:"policy,omitempty"`

	// PolicyReload is how often the policy file is checked for changes.
	// Default: 2s.
	PolicyReload caddy.Duration `json:"policy_reload,omitempty"`

	// Mode is "enforce" (the default) or "observe": in observe mode the
	// shield decides every request and logs what it would have done
	// (rule, network, action), but lets every request through, to try a
	// policy safely.
	Mode string `json:"mode,omitempty"`

	// MaxBody is the largest request body, in bytes, that the shield holds
	// for a client while it solves a challenge; a larger one is refused
	// with 413. Default: 65536.
	MaxBody int `json:"max_body,omitempty"`

	// BodyTimeout is how long a request body the shield reads whole (a
	// submission to hold, a proof, a short form it looks into) may take to
	// arrive; one that does not is answered 400. It bounds how long a
	// connection that stops sending keeps what was read of its body in
	// memory. Default: 10s.
	BodyTimeout caddy.Duration `json:"body_timeout,omitempty"`

	// Site names the shield's state: its single-use records, held
	// submissions, budgets and flood estimates belong to this site only and
	// outlive config reloads as long as the name stays. The Caddyfile
	// names the shields of its site blocks "site-1", "site-2"... and those
	// of its named routes "route-1"... in the order they are written, so
	// that adding a block renames those after it: name each when there
	// are several. In JSON, give every shield its own name (default:
	// "default").
	Site string `json:"site,omitempty"`

	// SpentSize is how many solved challenges, and how many spent passes,
	// the shield remembers (each): a token it had to forget before it
	// expired is refused, never accepted twice. Default: 1048576.
	SpentSize int `json:"spent_size,omitempty"`

	// IPv6IPPrefix is the prefix length that budgets "per ip" count an
	// IPv6 client by: one subscriber gets a whole /64, so counting each
	// address would let one client sign 2^64 times. Default: 64.
	IPv6IPPrefix int `json:"ipv6_ip_prefix,omitempty"`

	// NoJournal stops the signature journal. By default every signature
	// the shield forwards carries a random id to the petition in the
	// Rempart-Signature request header (any such header a client sends is
	// removed), and gets one line, with that id, in the log named
	// http.handlers.rempart.journal: the verdict, the client's address,
	// network, ASN and class, the work paid and the petition's answer, so
	// that a bad batch can be found (rempart journal) and purged from the
	// petition later. The id is sent on even without the journal.
	NoJournal bool `json:"no_journal,omitempty"`

	shield      *shield.Shield
	app         *App
	policy      *livePolicy
	state       *siteState
	stateKey    string
	pressureKey string
	logger      *zap.Logger
	lookout     *lookout
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.rempart",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets up the handler.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.setDefaults()
	if err := h.normalizeFormOrigins(); err != nil {
		return err
	}
	var err error
	if h.app, err = loadApp(ctx); err != nil {
		return err
	}
	secret, err := h.loadSecret(ctx)
	if err != nil {
		return err
	}
	if h.stateKey, h.state, err = loadSiteState(ctx, h.app.storeOf(), h.Site, h.stateConfig()); err != nil {
		return err
	}
	if warning := resizedWarning(h.app.storeOf(), h.state.sized, h.stateConfig()); warning != "" {
		h.logger.Warn(warning, zap.String("site", h.Site), zap.Int("spent_size", h.SpentSize), zap.Int("in_force", h.state.sized.SpentSize))
	}
	signer, err := challenge.NewSigner(secret, h.state.Epoch)
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	pages, err := challenge.NewPages(PublicPrefix)
	if err != nil {
		return err
	}
	if err := h.loadPolicy(ctx); err != nil {
		return err
	}
	var pressure store.Pressure
	if !h.Flood.Off {
		cfg, err := h.Flood.pressureConfig()
		if err != nil {
			return err
		}
		if h.pressureKey, pressure, err = loadPressure(ctx, h.app.storeOf(), h.Site, cfg); err != nil {
			return err
		}
	}
	if err := h.provisionWatch(ctx, pressure); err != nil {
		return err
	}
	h.shield, err = shield.New(shield.Config{
		Prefix: PublicPrefix, Signer: signer, Pages: pages, State: h.state.State,
		Policy: h.policy, Pressure: pressure, DifficultyCap: h.difficultyCap(),
		BudgetsFailClosed: budgetsFailClosed(h.app.storeOf()),
		PassTTL:           time.Duration(h.PassTTL), ChallengeTTL: time.Duration(h.ChallengeTTL), NoScriptWait: time.Duration(h.NoScriptWait),
		IPv4Prefix: h.IPv4Prefix, IPv6Prefix: h.IPv6Prefix, MaxBody: h.MaxBody, BodyTimeout: time.Duration(h.BodyTimeout),
		FormOrigins: h.FormOrigins,
		Observe:     h.Mode == modeObserve, Logger: h.logger, Observer: h.lookout.observer(),
		Journal: h.journal(),
	})
	if err != nil {
		return err
	}
	h.logger.Info("rempart shield ready",
		zap.String("site", h.Site), zap.String("mode", h.Mode),
		zap.Int("difficulty", h.Difficulty),
		zap.Int("difficulty_cap", h.difficultyCap()),
		zap.Stringers("protect", endpointStringers(h.Protect)),
		zap.Strings("form_origins", h.FormOrigins),
		zap.Int("credits", h.Credits))
	return nil
}

// journal is the shield's journal logger, nil when it is off. Caddy's
// logging routes and keeps it: a `log` block that includes its name.
func (h *Handler) journal() *zap.Logger {
	if h.NoJournal {
		return nil
	}
	return h.logger.Named("journal").With(zap.String("site", h.Site))
}

func endpointStringers(es policies.Endpoints) []fmt.Stringer {
	out := make([]fmt.Stringer, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// normalizeFormOrigins checks FormOrigins and writes each as browsers send
// it in an Origin header (shield.ParseOrigin).
func (h *Handler) normalizeFormOrigins() error {
	for i, o := range h.FormOrigins {
		n, err := shield.ParseOrigin(o)
		if err != nil {
			return fmt.Errorf("form_origins: %w", err)
		}
		h.FormOrigins[i] = n
	}
	return nil
}

// difficultyCap is the shield's DifficultyCap for MaxSolve: 0 (none) when
// the cap is lifted.
func (h *Handler) difficultyCap() int {
	if h.MaxSolve < 0 {
		return 0
	}
	return max(challenge.SolvableDifficulty(time.Duration(h.MaxSolve)), h.Difficulty)
}

func (h *Handler) setDefaults() {
	if h.Difficulty == 0 {
		h.Difficulty = DefaultDifficulty
	}
	if h.Credits == 0 {
		h.Credits = DefaultCredits
	}
	if h.PassTTL == 0 {
		h.PassTTL = DefaultPassTTL
	}
	if h.ChallengeTTL == 0 {
		h.ChallengeTTL = DefaultChallengeTTL
	}
	if h.IPv4Prefix == 0 {
		h.IPv4Prefix = DefaultIPv4Prefix
	}
	if h.IPv6Prefix == 0 {
		h.IPv6Prefix = DefaultIPv6Prefix
	}
	if h.MaxBody == 0 {
		h.MaxBody = DefaultMaxBody
	}
	if h.BodyTimeout == 0 {
		h.BodyTimeout = caddy.Duration(shield.DefaultBodyTimeout)
	}
	if h.Flood == nil {
		h.Flood = new(Flood)
	}
	if h.PolicyReload == 0 {
		h.PolicyReload = caddy.Duration(defaultPolicyReload)
	}
	if h.Mode == "" {
		h.Mode = modeEnforce
	}
	if h.Site == "" {
		h.Site = "default"
	}
	if h.SpentSize == 0 {
		h.SpentSize = DefaultSpentSize
	}
	if h.IPv6IPPrefix == 0 {
		h.IPv6IPPrefix = DefaultIPv6IPPrefix
	}
	if h.MaxSolve == 0 {
		h.MaxSolve = DefaultMaxSolve
	}
}

// Validate checks the handler's configuration, against the same ranges
// as the Caddyfile parser (intRanges, durationRanges).
func (h *Handler) Validate() error {
	for _, o := range []struct {
		option string
		value  int
	}{
		{"difficulty", h.Difficulty}, {"credits", h.Credits},
		{"ipv4_prefix", h.IPv4Prefix}, {"ipv6_prefix", h.IPv6Prefix}, {"ipv6_ip_prefix", h.IPv6IPPrefix},
		{"spent_size", h.SpentSize}, {"max_body", h.MaxBody},
	} {
		if err := intRanges[o.option].check(o.option, o.value); err != nil {
			return err
		}
	}
	for _, o := range []struct {
		option string
		value  caddy.Duration
	}{
		{"pass_ttl", h.PassTTL}, {"challenge_ttl", h.ChallengeTTL}, {"policy_reload", h.PolicyReload},
		{"body_timeout", h.BodyTimeout},
	} {
		if err := durationRanges[o.option].check(o.option, time.Duration(o.value)); err != nil {
			return err
		}
	}
	if h.MaxSolve > 0 { // negative: no cap
		if err := durationRanges["max_solve"].check("max_solve", time.Duration(h.MaxSolve)); err != nil {
			return fmt.Errorf("%w, or off", err)
		}
	}
	if h.NoScriptWait != 0 { // 0: off
		if err := durationRanges["noscript_wait"].check("noscript_wait", time.Duration(h.NoScriptWait)); err != nil {
			return fmt.Errorf("%w, or 0 to turn it off", err)
		}
	}
	for _, e := range h.Protect {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("protect: %w", err)
		}
	}
	for _, o := range h.FormOrigins {
		if _, err := shield.ParseOrigin(o); err != nil {
			return fmt.Errorf("form_origins: %w", err)
		}
	}
	if h.Mode != modeEnforce && h.Mode != modeObserve {
		return fmt.Errorf("mode %q: want enforce or observe", h.Mode)
	}
	if h.Flood.MaxExtraBits != 0 { // 0: the default
		if err := intRanges["max_extra_bits"].check("flood max_extra_bits", h.Flood.MaxExtraBits); err != nil {
			return err
		}
	}
	return nil
}

// Cleanup releases the handler's hold on the shared state.
func (h *Handler) Cleanup() error {
	if h.policy != nil {
		unregisterPolicy(h.policy)
	}
	if h.stateKey != "" {
		_, _ = siteStates.Delete(h.stateKey)
	}
	if h.pressureKey != "" {
		_, _ = siteStates.Delete(h.pressureKey)
	}
	if h.lookout != nil {
		_, _ = siteStates.Delete(h.lookout.netsKey)
	}
	return nil
}

// ServeHTTP shields the next handler (see package shield): the client is
// identified as Caddy resolved its address, and the shield decides and
// acts.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	err := h.shield.Serve(w, r, h.app.identify(r), next.ServeHTTP)
	// errors.AsType, unlike errors.As, allocates nothing on the way.
	if se, ok := errors.AsType[*shield.StatusError](err); ok {
		return caddyhttp.Error(se.Status, se.Err)
	}
	return err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
