package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rempart/rempart/internal/shieldtest"
)

// The attacker's moves of issue 9: each tries one way around the shield's
// rules, against a fresh shield process that guards the runner's counting
// petition (petition.go), so that whatever gets through is counted where
// it lands, whatever its path. Each move reports what it tried, what the
// petition got, and what it should have got.
//
// Every move uses addresses of its own (index 200 and up in the replay's
// networks, which the crowd of the scenario never reaches), so that no
// move spends another's budget.

// Tags of the moves' requests (the X-Flood-Move header); the petition
// counts each apart.
const (
	tagSetup         = "setup"          // the signatures that spend a pass before a move replays it
	tagAliases       = "aliases"        // move 1
	tagCheap         = "cheap"          // move 2
	tagFlood         = "stash-flood"    // move 3, the flood
	tagStashSigner   = "stash-signer"   // move 3, the signers
	tagStalled       = "stalled"        // move 3, bodies that never end
	tagStalledSigner = "stalled-signer" // move 3, signers among them
	tagCrossSite     = "cross-site"     // move 4
	tagControl       = "control"        // move 4, the same clients signing from the site
	tagAmplifier     = "amplifier"      // move 5, the one address
	tagAmplified     = "amplified"      // move 5, its network's other addresses
	tagTunneled      = "tunneled"       // move 5, its servers over 6to4 and Teredo
	tagRestart       = "restart"        // move 6
	tagForwardedFor  = "forwarded-for"  // move 7
	tagForgedIDs     = "forged-ids"     // move 8
)

// Where each move's clients sit in the replay's networks: addressIn
// indexes from 200 up, which the scenario's crowd never reaches, a block
// for each move so that no move spends another's budget.
const (
	firstMoveAddress  = 200 // the stash's signers (200, 201), the amplified network, the flood's hosting server
	aliasesAddress    = 202 // up to 8 clients
	cheapAddress      = 210 // up to 10 (the last, the refused proof's server)
	crossSiteAddress  = 220 // up to 8
	restartAddress    = 230 // up to 8
	forwardedAddress  = 240 // the real addresses
	forgedAddress     = 241 // up to 14 forged ones
	maxForwardedTries = 255 - forgedAddress
	// stalledAddress and on: the stalled bodies' signers, past the blocks
	// above (addressIn still gives each its own address).
	stalledAddress = 256
)

// moveResult is one row of the moves' table.
type moveResult struct {
	Name string
	// Did says what the attacker did, Counts what counts as accepted.
	Did, Counts string
	Tried       int
	Accepted    int
	Expected    int
	// Answers counts the shield's answers to the tries, by status and
	// Rempart-Action (answerKey).
	Answers map[string]int
	// Reached are the first request lines the petition recorded from the
	// move, when any got through.
	Reached []string
	Notes   []string
	// Problems say where the move could not be played as written (a setup
	// step refused), or where the shield answered other than it should
	// beyond the count.
	Problems []string
}

func newMove(name, did, counts string) *moveResult {
	return &moveResult{Name: name, Did: did, Counts: counts, Answers: map[string]int{}}
}

func (m *moveResult) answer(r reply, err error) { m.Answers[answerKey(r, err)]++ }

func (m *moveResult) problemf(format string, args ...any) {
	if len(m.Problems) < 10 {
		m.Problems = append(m.Problems, fmt.Sprintf(format, args...))
	}
}

// Met reports whether the move got exactly what it should have.
func (m *moveResult) Met() bool { return m.Accepted == m.Expected && len(m.Problems) == 0 }

// answerKey names an answer: its status and what the shield did
// (Rempart-Action), or that the petition answered.
func answerKey(r reply, err error) string {
	switch {
	case err != nil:
		return "no answer"
	case r.header.Get("Rempart-Action") != "":
		return fmt.Sprintf("%d %s", r.status, r.header.Get("Rempart-Action"))
	case r.signatureAccepted():
		return "303 signed (the petition)"
	}
	return fmt.Sprintf("%d from the petition", r.status)
}

// answersText renders the answers, most frequent first.
func answersText(answers map[string]int) string {
	keys := slices.Collect(maps.Keys(answers))
	slices.SortFunc(keys, func(a, b string) int {
		if answers[a] != answers[b] {
			return answers[b] - answers[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, answers[k])
	}
	return strings.Join(parts, ", ")
}

// movesResult is what the moves showed.
type movesResult struct {
	Moves []*moveResult
	// Signers are the legitimate signers of the stash move, whose
	// submissions were held during the flood; Lost counts those whose held
	// submission the shield no longer had (410).
	Signers []signerResult
	Lost    int
	Flood   floodStats
	// Setup counts the signatures that spent passes for the moves that
	// replay them, and SetupAccepted those the petition took.
	Setup, SetupAccepted int
	// IDs is what the petition found of the shield's ids on every
	// signature of the moves, and of forged ones on every request.
	IDs struct{ Signatures, Untagged, Forged, Duplicates int }
	// Shield is the moves' shield process until the restart, Restarted the
	// process after it.
	Shield, Restarted processStats
	Elapsed           time.Duration
}

// floodStats is what the stash flood did.
type floodStats struct {
	Servers, Networks int
	Posts             int
	Held              int // answered with a challenge: the body held
	BodyBytes         int
	// DuringHold is the fewest and most flood bodies the shield held
	// while one signer's submission waited for its browser.
	DuringHoldMin, DuringHoldMax int
	// FullBefore reports whether the flood had sent more than the
	// stash's room before the first signer posted.
	FullBefore bool
}

// Sizes of the moves.
const (
	// stashRoom is the held submissions' byte bound (README, Memory and
	// limits), and stashBody the flood's body: max_body.
	stashRoom = 32 << 20
	stashBody = 64 << 10
	// stashFlooders are the flood's servers in networks the ASN database
	// does not know (each /24 its own share of the stash), plus one server
	// in a hosting network.
	stashFlooders = 24
	// stashPostsPerServer stays under the per-/24 challenge budget
	// (120 a minute), so that every post is held, not refused.
	stashPostsPerServer = 100
	stashPace           = 30 * time.Millisecond
	// stashFullWait bounds the wait for the flood to fill the stash before
	// the signers post, and each signer's wait for the flood to send a
	// stash's worth more before it comes back.
	stashFullWait = 60 * time.Second
)

// unknownSpace is where the stash flood's servers sit: a /16 that the
// replay's ASN database does not hold.
var unknownSpace = netip.MustParsePrefix("185.0.0.0/16")

// aliasRequest is one spelling of a signature that a framework would route
// to /sign.
type aliasRequest struct {
	method, target string
	header         []rawHeader
}

func (a aliasRequest) String() string {
	s := a.method + " " + a.target
	for _, h := range a.header {
		s += " + " + h.name + ": " + h.value
	}
	return s
}

var aliasRequests = []aliasRequest{
	{method: "POST", target: "/SIGN"},
	{method: "POST", target: "/sign/"},
	{method: "POST", target: "//sign"},
	{method: "POST", target: "/%2Fsign"},
	{method: "POST", target: "/./sign"},
	{method: "POST", target: "/sign;x=1"},
	{method: "POST", target: "/sign.json"},
	{method: "post", target: "/sign"},
	{method: "GET", target: "/sign", header: []rawHeader{{"X-HTTP-Method-Override", "POST"}}},
	{method: "POST", target: "/%73ign"},
	{method: "POST", target: "/%252Fsign"},
	{method: "GET", target: "/sign", header: []rawHeader{{"X-Method-Override", "POST"}}},
	{method: "PUT", target: "/sign"},
	{method: "DELETE", target: "/sign"},
	{method: "PATCH", target: "/Sign/"},
	{method: "POST", target: "/index.php/sign"},
	{method: "POST", target: "/app.php/sign.json"},
	{method: "POST", target: "/?q=sign"},
	{method: "POST", target: "/index.php?/sign"},
}

// mover plays the moves.
type mover struct {
	cfg        config
	shieldURL  string
	shieldAddr string // host:port, also the Host header
	transport  http.RoundTripper
	solver     *nativeSolver
	browser    browserSpeedSolver
	petition   *countingPetition
	res        *movesResult
	shieldPID  int // the shield process, until the restart
}

// movesTimeout bounds the moves, which take well under a minute.
const movesTimeout = 5 * time.Minute

// runMoves plays the attacker's moves against a fresh shield that guards
// the counting petition, restarting it once for the last move.
func runMoves(ctx context.Context, env *environment) (*movesResult, error) {
	cfg := env.cfg
	ctx, cancel := context.WithTimeout(ctx, movesTimeout)
	defer cancel()
	petition, err := startCountingPetition(cfg.ports.Counting)
	if err != nil {
		return nil, err
	}
	defer petition.stop()
	shield, dir, err := env.prepareShield(ctx, "moves", false, cfg.ports.Counting)
	if err != nil {
		return nil, err
	}
	defer func() { shield.stop() }()
	transport := newTransport()
	defer transport.CloseIdleConnections()

	res := &movesResult{}
	m := &mover{
		shieldPID:  shield.pid(),
		cfg:        cfg,
		shieldURL:  cfg.ports.shieldURL(),
		shieldAddr: strings.TrimPrefix(cfg.ports.shieldURL(), "http://"),
		transport:  transport,
		solver:     env.solver,
		browser:    browserSpeedSolver{hashesPerSecond: cfg.signerHashRate},
		petition:   petition,
		res:        res,
	}
	start := time.Now()
	steps := []struct {
		name string
		play func(context.Context) []*moveResult
	}{
		{"stash flooding", m.stash},
		{"bodies that never end", m.stalledBodies},
		{"aliases", m.aliases},
		{"cheap challenge elsewhere", m.cheap},
		{"cross-site posts", m.crossSite},
		{"amplification", m.amplification},
		{"spoofed X-Forwarded-For", m.forwardedFor},
		{"forged signature ids", m.forgedIDs},
	}
	for _, step := range steps {
		cfg.logf("move: %s", step.name)
		res.Moves = append(res.Moves, step.play(ctx)...)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("moves: %w", err)
		}
	}

	cfg.logf("move: replay after restart")
	kept := m.keepForRestart(ctx)
	if res.Shield, err = readProcessStats(shield.pid()); err != nil {
		return nil, err
	}
	shield.stop()
	// The same Caddyfile: the same secret, the same storage.
	shield, err = env.startShields(ctx, dir, "caddy-restarted")
	if err != nil {
		return nil, fmt.Errorf("moves: restarting the shield: %w", err)
	}
	res.Moves = append(res.Moves, m.replayAfterRestart(ctx, kept))
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("moves: %w", err)
	}
	if res.Restarted, err = readProcessStats(shield.pid()); err != nil {
		return nil, err
	}
	res.Elapsed = time.Since(start)
	res.SetupAccepted = petition.signatures(tagSetup)
	res.IDs.Signatures, res.IDs.Untagged, res.IDs.Forged, res.IDs.Duplicates = petition.idTotals()
	if petition.serveErr != nil {
		return nil, fmt.Errorf("moves: the counting petition stopped: %w", petition.serveErr)
	}
	return res, nil
}

// visitor returns a client of the shield at ip whose requests carry the
// move's tag.
func (m *mover) visitor(ip, ua, tag string) *visitor {
	v := newVisitor(m.transport, m.shieldURL, ip, ua)
	v.header = http.Header{moveHeader: {tag}}
	return v
}

// solvedProof is a challenge solved and posted: the pass it bought, and
// the proof as posted (for the restart move to replay).
type solvedProof struct {
	pass   string // a Cookie header value
	action string
	form   string
	bits   int
}

// buyPass gets a challenge at path, solves it natively and posts the
// proof. The visitor's cookies are dropped first.
func (m *mover) buyPass(ctx context.Context, v *visitor, path string) (solvedProof, error) {
	v.forgetCookies()
	page, err := v.get(ctx, path)
	if err != nil {
		return solvedProof{}, err
	}
	if page.status != http.StatusForbidden {
		return solvedProof{}, fmt.Errorf("GET %s from %s answered %s, want a challenge", path, v.ip, answerKey(page, nil))
	}
	ch, err := shieldtest.ParsePage(page.body)
	if err != nil {
		return solvedProof{}, err
	}
	nonce, err := m.solver.solve(ctx, ch.Puzzle)
	if err != nil {
		return solvedProof{}, err
	}
	form := ch.Proof(nonce).Encode()
	granted, err := v.do(ctx, http.MethodPost, ch.Action, formType, form, "")
	if err != nil {
		return solvedProof{}, err
	}
	pass, ok := passFrom(granted)
	if granted.status != http.StatusSeeOther || !ok {
		return solvedProof{}, fmt.Errorf("proof from %s answered %s, want 303 with a pass", v.ip, answerKey(granted, nil))
	}
	return solvedProof{pass: pass, action: ch.Action, form: form, bits: ch.Puzzle.Difficulty}, nil
}

// spend signs once with the pass, as the site's own form (tag setup), and
// returns the 0-credit pass the shield swaps it for.
func (m *mover) spend(ctx context.Context, v *visitor, pass, name string) (string, error) {
	m.res.Setup++
	r, err := v.doWith(ctx, http.MethodPost, "/sign", formType, signatureForm(name).Encode(), pass, http.Header{moveHeader: {tagSetup}})
	if err != nil {
		return "", err
	}
	if !r.signatureAccepted() {
		return "", fmt.Errorf("the signature that spends the pass of %s answered %s", v.ip, answerKey(r, nil))
	}
	swapped, _ := passFrom(r)
	return swapped, nil
}

// --- Move 1: aliases ---------------------------------------------------

// aliases: with a spent pass, post the signature under every spelling a
// framework routes to /sign, as raw request lines.
func (m *mover) aliases(ctx context.Context) []*moveResult {
	mv := newMove("1. aliases",
		fmt.Sprintf("with a spent pass (and with the 0-credit pass the shield swapped it for), sign at %d spellings of `POST /sign` sent as raw request lines: %s",
			len(aliasRequests), aliasList()),
		"signatures that reached the petition")
	for c := range m.cfg.moveClients {
		ip := addressIn(residentialNetworks[(3+c)%len(residentialNetworks)].Prefix, aliasesAddress+c).String()
		v := m.visitor(ip, attackerUA, tagAliases)
		p, err := m.buyPass(ctx, v, "/")
		if err != nil {
			mv.problemf("client %s: %v", ip, err)
			continue
		}
		swapped, err := m.spend(ctx, v, p.pass, "Alias"+strconv.Itoa(c))
		if err != nil {
			mv.problemf("%v", err)
			continue
		}
		cookies := []string{p.pass}
		if swapped != "" {
			cookies = append(cookies, swapped)
		}
		body := fraudForm(ip, c).Encode()
		for _, a := range aliasRequests {
			for _, cookie := range cookies {
				headers := append([]rawHeader{
					{"User-Agent", attackerUA},
					{"X-Forwarded-For", ip},
					{"Cookie", cookie},
					{"Content-Type", formType},
					{moveHeader, tagAliases},
				}, a.header...)
				r, err := rawRequest(ctx, m.shieldAddr, a.method, a.target, headers, body)
				mv.Tried++
				mv.answer(r, err)
				if ctx.Err() != nil {
					return []*moveResult{mv}
				}
			}
		}
	}
	t := m.petition.traffic(tagAliases)
	mv.Accepted, mv.Reached = t.Signatures, t.Samples
	return []*moveResult{mv}
}

func aliasList() string {
	parts := make([]string, len(aliasRequests))
	for i, a := range aliasRequests {
		parts[i] = "`" + a.String() + "`"
	}
	return strings.Join(parts, ", ")
}

// --- Move 2: a cheap challenge elsewhere -------------------------------

// cheap: buy a pass on the cheap page and sign with it.
func (m *mover) cheap(ctx context.Context) []*moveResult {
	mv := newMove("2. cheap challenge elsewhere",
		fmt.Sprintf("solve the %d-bit challenge of `GET %s` (the policy's cheap rule), then sign with that pass where the policy asks 18 bits (20 from a hosting network)", cheapDifficulty, cheapPath),
		"signatures that reached the petition")
	pageBits, signBits := map[int]int{}, map[int]int{}
	clients := m.cfg.moveClients + 1
	for c := range clients {
		n := residentialNetworks[(7+c)%len(residentialNetworks)]
		price := 18
		if c == clients-1 { // one from a hosting network, whose signatures cost 2 bits more
			n, price = hostingNetworks[1], 20
		}
		ip := addressIn(n.Prefix, cheapAddress+c).String()
		v := m.visitor(ip, attackerUA, tagCheap)
		p, err := m.buyPass(ctx, v, cheapPath)
		if err != nil {
			mv.problemf("client %s: %v", ip, err)
			continue
		}
		pageBits[p.bits]++
		if p.bits != cheapDifficulty {
			mv.problemf("GET %s from %s was challenged at %d bits, not the rule's %d: the move is not cheap", cheapPath, ip, p.bits, cheapDifficulty)
		}
		if r, err := v.do(ctx, http.MethodGet, cheapPath, "", "", p.pass); err != nil || r.status != http.StatusOK {
			mv.problemf("GET %s with its own pass from %s answered %s, want 200", cheapPath, ip, answerKey(r, err))
		}
		r, err := v.do(ctx, http.MethodPost, "/sign", formType, fraudForm(ip, c).Encode(), p.pass)
		mv.Tried++
		mv.answer(r, err)
		if err == nil && r.status == http.StatusForbidden && r.header.Get("Rempart-Action") == "challenge" {
			if ch, perr := shieldtest.ParsePage(r.body); perr == nil {
				signBits[ch.Puzzle.Difficulty]++
				if ch.Puzzle.Difficulty < price {
					mv.problemf("the signature from %s with a %d-bit pass was answered with a challenge of %d bits, under the signature's %d", ip, p.bits, ch.Puzzle.Difficulty, price)
				}
			}
		}
	}
	mv.Notes = append(mv.Notes, fmt.Sprintf("challenges of `GET %s`: %s; challenges the signatures were answered with: %s",
		cheapPath, bitsText(pageBits), bitsText(signBits)))
	t := m.petition.traffic(tagCheap)
	mv.Accepted, mv.Reached = t.Signatures, t.Samples
	return []*moveResult{mv, m.refusedProofElsewhere(ctx)}
}

// refusedProofElsewhere: a refused proof is answered as the page it names
// would be. A server replays one spent proof, naming a page that an allow
// rule lets through (robots.txt, above every limit rule of the default
// policy), to get challenge pages that no budget counts, at that page's
// difficulty.
func (m *mover) refusedProofElsewhere(ctx context.Context) *moveResult {
	const tries = 50
	mv := newMove("2. cheap challenge elsewhere: a refused proof naming an allowed page",
		fmt.Sprintf("a hosting server solves one challenge, then posts its proof again %d times with return=/robots.txt (an allow rule, above the challenge budgets)", tries),
		"challenge pages got for the replayed proof")
	ip := addressIn(hostingNetworks[2].Prefix, cheapAddress+m.cfg.moveClients+1).String()
	v := m.visitor(ip, attackerUA, tagCheap)
	p, err := m.buyPass(ctx, v, "/")
	if err != nil {
		mv.problemf("client %s: %v", ip, err)
		return mv
	}
	form, err := url.ParseQuery(p.form)
	if err != nil {
		mv.problemf("the proof form of %s: %v", ip, err)
		return mv
	}
	form.Set("return", "/robots.txt")
	for range tries {
		r, err := v.do(ctx, http.MethodPost, p.action, formType, form.Encode(), "")
		mv.Tried++
		mv.answer(r, err)
		if err == nil && r.header.Get("Rempart-Action") == "challenge" {
			mv.Accepted++
		}
	}
	return mv
}

func bitsText(counts map[int]int) string {
	if len(counts) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(counts))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d bits ×%d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}

// --- Move 3: stash flooding --------------------------------------------

// stash: servers that never solve post 64 KiB signature bodies without a
// pass, more than the stash holds, while signers whose submissions are held
// solve and come back for them.
func (m *mover) stash(ctx context.Context) []*moveResult {
	flood := newMove("3. stash flooding: the flood",
		"", "flood bodies that reached the petition")
	signers := newMove("3. stash flooding: the signers",
		"", "held submissions that reached the petition once their signer solved")
	var (
		held, posts atomic.Int64
		signersDone = make(chan struct{})
		wg          sync.WaitGroup
		mu          sync.Mutex
	)
	body := floodBody()
	servers := make([]string, 0, stashFlooders+1)
	for i := range stashFlooders {
		servers = append(servers, addressIn(unknownSpace, i).String())
	}
	servers = append(servers, addressIn(hostingNetworks[3].Prefix, firstMoveAddress).String())
	m.res.Flood = floodStats{Servers: len(servers), Networks: len(servers), BodyBytes: len(body)}
	for _, ip := range servers {
		v := m.visitor(ip, attackerUA, tagFlood)
		wg.Go(func() {
			for range stashPostsPerServer {
				select {
				case <-signersDone:
					return
				case <-ctx.Done():
					return
				default:
				}
				v.forgetCookies()
				r, err := v.do(ctx, http.MethodPost, "/sign", formType, body, "")
				posts.Add(1)
				if err == nil && r.header.Get("Rempart-Action") == "challenge" {
					held.Add(1)
				}
				mu.Lock()
				flood.Tried++
				flood.answer(r, err)
				mu.Unlock()
				if !sleep(ctx, stashPace) {
					return
				}
			}
		})
	}

	// The signers post once the flood has sent more than the stash holds.
	full := int64(stashRoom/len(body)) + 1
	deadline := time.Now().Add(stashFullWait)
	for held.Load() < full && time.Now().Before(deadline) && ctx.Err() == nil {
		sleep(ctx, 20*time.Millisecond)
	}
	m.res.Flood.FullBefore = held.Load() >= full
	var (
		swg      sync.WaitGroup
		minDur   atomic.Int64
		maxDur   atomic.Int64
		lost     atomic.Int64
		resultMu sync.Mutex
	)
	minDur.Store(1 << 62)
	for j := range m.cfg.stashSigners {
		sleep(ctx, 50*time.Millisecond)
		swg.Go(func() {
			res, gone, during, last := m.heldSigner(ctx, j, &held, full+full/8)
			if gone {
				lost.Add(1)
			}
			for {
				cur := minDur.Load()
				if during >= cur || minDur.CompareAndSwap(cur, during) {
					break
				}
			}
			for {
				cur := maxDur.Load()
				if during <= cur || maxDur.CompareAndSwap(cur, during) {
					break
				}
			}
			resultMu.Lock()
			m.res.Signers = append(m.res.Signers, res)
			signers.Answers[last]++
			resultMu.Unlock()
		})
	}
	swg.Wait()
	close(signersDone)
	wg.Wait()

	fs := &m.res.Flood
	fs.Posts, fs.Held = int(posts.Load()), int(held.Load())
	fs.DuringHoldMin, fs.DuringHoldMax = int(minDur.Load()), int(maxDur.Load())
	if len(m.res.Signers) == 0 {
		fs.DuringHoldMin = 0
	}
	m.res.Lost = int(lost.Load())
	flood.Did = fmt.Sprintf("%d servers that never solve (%d in /24s the ASN database does not know, each its own share, and one in AS%d) post %d KiB signature bodies without a pass, every %s each, until the signers are done: %d bodies, %.0f MiB, against the stash's %d MiB",
		len(servers), stashFlooders, hostingNetworks[3].ASN, len(body)>>10, stashPace, fs.Posts, float64(fs.Posts*len(body))/(1<<20), stashRoom>>20)
	signers.Did = fmt.Sprintf("%d signers in residential networks post their signature without a pass once the flood has filled the stash; it is held while they solve at %.1f MH/s and, as on a slow phone, until the flood has had more than a full stash of bodies held after theirs; then the proof's 307 re-posts it",
		m.cfg.stashSigners, m.cfg.signerHashRate/1e6)
	t := m.petition.traffic(tagFlood)
	flood.Accepted, flood.Reached = t.Signatures, t.Samples
	signers.Tried = len(m.res.Signers)
	signers.Accepted = m.petition.signatures(tagStashSigner)
	signers.Expected = m.cfg.stashSigners
	for _, s := range m.res.Signers {
		if !s.signed {
			signers.problemf("%s", s.reason)
		}
	}
	signers.Notes = append(signers.Notes, fmt.Sprintf("held submissions lost (410 at the proof or at the re-post): **%d** of %d", m.res.Lost, len(m.res.Signers)))
	if !fs.FullBefore {
		flood.problemf("the flood had %d bodies held after %s, fewer than the %d that fill the stash: the signers posted into a stash with room", held.Load(), stashFullWait, full)
	}
	if len(m.res.Signers) > 0 && int64(fs.DuringHoldMin) < full {
		flood.problemf("a signer came back after only %d flood bodies were held after its own, fewer than the %d that fill the stash (the flood stopped, or %s passed)", fs.DuringHoldMin, full, stashFullWait)
	}
	signers.Notes = append(signers.Notes, fmt.Sprintf("flood bodies the shield held while a signer's submission waited: %d to %d (the stash holds about %d)",
		fs.DuringHoldMin, fs.DuringHoldMax, stashRoom/len(body)))
	return []*moveResult{flood, signers}
}

// floodBody is a signature form padded to max_body exactly.
func floodBody() string {
	head := "name=Flood&email=flood%40example.org&pad="
	return head + strings.Repeat("x", stashBody-len(head))
}

// heldSigner plays signer j of the stash move: sign without a pass, solve
// the challenge the held submission gets, wait until the flood has had
// wait bodies held after its own (held counts them), and come back for
// it. gone reports that the shield no longer had the submission (410);
// during is how many flood bodies were held while it waited, and last the
// shield's last answer (answerKey).
func (m *mover) heldSigner(ctx context.Context, j int, held *atomic.Int64, wait int64) (res signerResult, gone bool, during int64, last string) {
	n := residentialNetworks[j%len(residentialNetworks)]
	ip := addressIn(n.Prefix, firstMoveAddress+j/len(residentialNetworks)).String()
	return m.heldSignerAt(ctx, j, ip, tagStashSigner, held, wait)
}

// heldSignerAt is heldSigner signing from ip, its requests tagged tag.
func (m *mover) heldSignerAt(ctx context.Context, j int, ip, tag string, held *atomic.Int64, wait int64) (res signerResult, gone bool, during int64, last string) {
	start := time.Now()
	defer func() { res.total = time.Since(start) }()
	res.interrupted = true
	v := m.visitor(ip, signerUA, tag)
	before := held.Load()
	defer func() { during = held.Load() - before }()
	fail := func(format string, args ...any) (signerResult, bool, int64, string) {
		res.reason = fmt.Sprintf("held signer %s: ", ip) + fmt.Sprintf(format, args...)
		return res, gone, 0, last
	}
	r, err := v.postForm(ctx, "/sign", signatureForm(fmt.Sprintf("Held%d", j)))
	last = answerKey(r, err)
	if err != nil {
		return fail("%v", err)
	}
	if r.status != http.StatusForbidden || r.header.Get("Rempart-Action") != "challenge" {
		return fail("POST /sign without a pass answered %s, want a challenge (held)", answerKey(r, nil))
	}
	ch, err := shieldtest.ParsePage(r.body)
	if err != nil {
		return fail("%v", err)
	}
	res.maxBits = ch.Puzzle.Difficulty
	nonce, took, err := m.browser.solve(ctx, ch.Puzzle)
	res.solving = took
	if err != nil {
		return fail("solving: %v", err)
	}
	waitUntil := time.Now().Add(stashFullWait)
	for held.Load()-before < wait && time.Now().Before(waitUntil) && sleep(ctx, 20*time.Millisecond) {
	}
	proof := ch.Proof(nonce).Encode()
	released, err := v.do(ctx, http.MethodPost, ch.Action, formType, proof, "")
	last = "proof: " + answerKey(released, err)
	if err != nil {
		return fail("%v", err)
	}
	if released.status == http.StatusGone {
		gone = true
		return fail("the proof answered 410: the held submission is gone")
	}
	if released.status != http.StatusTemporaryRedirect {
		return fail("the proof answered %s, want 307", answerKey(released, nil))
	}
	// The browser follows the 307 by posting the proof form again to the
	// submission's path, where the held body replaces it.
	r, err = v.do(ctx, http.MethodPost, released.location(), formType, proof, "")
	last = "re-post: " + answerKey(r, err)
	if err != nil {
		return fail("%v", err)
	}
	if r.status == http.StatusGone {
		gone = true
		return fail("the re-post answered 410: the held submission is gone")
	}
	if !r.signatureAccepted() {
		return fail("the re-post answered %s, want the petition's 303", answerKey(r, nil))
	}
	res.signed = true
	return res, gone, 0, last
}

// --- Move 4: cross-site posts ------------------------------------------

// crossSite: signature posts as a third-party page's form sends them, with
// and without the signer's pass.
func (m *mover) crossSite(ctx context.Context) []*moveResult {
	variants := []struct {
		name   string
		header http.Header
	}{
		{"`Origin: https://evil.example`", http.Header{"Origin": {"https://evil.example"}}},
		{"`Sec-Fetch-Site: cross-site`", http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"both", http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}},
	}
	mv := newMove("4. cross-site posts",
		"signature posts from residential addresses as a form on another site sends them: `Origin: https://evil.example`, `Sec-Fetch-Site: cross-site`, or both; each with the signer's valid pass and without one",
		"posts held (answered with a challenge) or forwarded to the petition")
	controls, controlled := 0, 0
	for c := range m.cfg.moveClients {
		ip := addressIn(residentialNetworks[(11+c)%len(residentialNetworks)].Prefix, crossSiteAddress+c).String()
		v := m.visitor(ip, signerUA, tagCrossSite)
		p, err := m.buyPass(ctx, v, "/")
		if err != nil {
			mv.problemf("client %s: %v", ip, err)
			continue
		}
		for _, vr := range variants {
			form := signatureForm(fmt.Sprintf("Lured%d", c)).Encode()
			r, err := v.doWith(ctx, http.MethodPost, "/sign", formType, form, p.pass, vr.header)
			mv.Tried++
			mv.answer(r, err)
			if err == nil && r.header.Get("Rempart-Action") == "challenge" {
				mv.Accepted++ // held
			}
			bare := m.visitor(ip, signerUA, tagCrossSite) // no cookie at all
			r, err = bare.doWith(ctx, http.MethodPost, "/sign", formType, form, "", vr.header)
			mv.Tried++
			mv.answer(r, err)
			if err == nil && r.header.Get("Rempart-Action") == "challenge" {
				mv.Accepted++
			}
		}
		// The same pass, from the site's own form: the refused posts spent
		// nothing.
		controls++
		r, err := v.doWith(ctx, http.MethodPost, "/sign", formType, signatureForm(fmt.Sprintf("Signer%d", c)).Encode(), p.pass,
			http.Header{"Origin": {m.shieldURL}, "Sec-Fetch-Site": {"same-origin"}, moveHeader: {tagControl}})
		if err == nil && r.signatureAccepted() {
			controlled++
		} else {
			mv.problemf("the control signature of %s from the site itself answered %s", ip, answerKey(r, err))
		}
	}
	t := m.petition.traffic(tagCrossSite)
	mv.Accepted += t.Signatures
	mv.Reached = t.Samples
	mv.Notes = append(mv.Notes, fmt.Sprintf("held: %d, forwarded: %d; the same clients then signed from the site itself (`Origin` the site's, `Sec-Fetch-Site: same-origin`) with the pass the refused posts had not spent: %d of %d accepted",
		mv.Accepted-t.Signatures, t.Signatures, controlled, controls))
	return []*moveResult{mv, m.embeddedLoads(ctx)}
}

// embeddedLoads: a page on another site loads the petition as images,
// scripts, frames and fetches in its visitors' browsers, all in one
// carrier's /24, more often than the /24's challenge budget allows: none
// of them can solve a challenge, so issued and counted they would spend
// the budget of everyone behind that /24.
func (m *mover) embeddedLoads(ctx context.Context) *moveResult {
	const loads = 150 // over the /24's 120 challenges a minute
	dests := []string{"image", "script", "style", "iframe", "empty"}
	mv := newMove("4. ... another site's page loads the petition",
		fmt.Sprintf("%d loads of `/` by a page on another site (`Sec-Fetch-Site: cross-site`, `Sec-Fetch-Dest` image, script, style, iframe or empty) from the visitors of one residential /24, over its budget of 120 challenges a minute; then a reader of that /24 opens the petition", loads),
		"loads issued a challenge (counted against the /24's budget)")
	base := addressIn(residentialNetworks[(12+m.cfg.moveClients)%len(residentialNetworks)].Prefix, crossSiteAddress+8).As4()
	for i := range loads {
		base[3] = byte(1 + i%250)
		v := m.visitor(netip.AddrFrom4(base).String(), signerUA, tagCrossSite)
		r, err := v.doWith(ctx, http.MethodGet, "/", "", "", "",
			http.Header{"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Dest": {dests[i%len(dests)]}, "Sec-Fetch-Mode": {"no-cors"}})
		mv.Tried++
		mv.answer(r, err)
		if err == nil && r.header.Get("Rempart-Action") == "challenge" {
			mv.Accepted++
		}
	}
	base[3] = 251
	r, err := m.visitor(netip.AddrFrom4(base).String(), signerUA, tagControl).doWith(ctx, http.MethodGet, "/", "", "", "",
		http.Header{"Sec-Fetch-Site": {"none"}, "Sec-Fetch-Dest": {"document"}, "Sec-Fetch-Mode": {"navigate"}})
	if err != nil || r.header.Get("Rempart-Action") != "challenge" {
		mv.problemf("a reader of the same /24 opening the petition afterwards got %s, not a challenge", answerKey(r, err))
	}
	mv.Notes = append(mv.Notes, fmt.Sprintf("a reader of the same /24 opening the petition afterwards: %s", answerKey(r, err)))
	return mv
}

// --- Move 5: amplification ---------------------------------------------

// amplification: one address of a hosting network signs far over its
// per-address budget; then the network's other addresses sign.
func (m *mover) amplification(ctx context.Context) []*moveResult {
	n := hostingNetworks[2]
	tries := 4 * ipBudgetPerHour
	share := hostingBudgetPerHour - ipBudgetPerHour
	others := share + 1
	one := newMove("5. amplification: the one address",
		fmt.Sprintf("one address of AS%d (a hosting network: %d signatures an hour for the whole ASN, %d for each address) solves and signs %d times in a row", n.ASN, hostingBudgetPerHour, ipBudgetPerHour, tries),
		"its signatures that reached the petition")
	one.Expected = ipBudgetPerHour
	rest := newMove("5. amplification: the network's other addresses",
		fmt.Sprintf("then %d other addresses of AS%d solve and sign once each", others, n.ASN),
		"their signatures that reached the petition; expected: the ASN's budget less the one address's")
	rest.Expected = share

	sign := func(mv *moveResult, ip, tag string, round int) {
		v := m.visitor(ip, attackerUA, tag)
		p, err := m.buyPass(ctx, v, "/")
		if err != nil {
			mv.problemf("client %s: %v", ip, err)
			return
		}
		r, err := v.do(ctx, http.MethodPost, "/sign", formType, fraudForm(ip, round).Encode(), p.pass)
		mv.Tried++
		mv.answer(r, err)
	}
	amp := addressIn(n.Prefix, firstMoveAddress).String()
	for i := range tries {
		if ctx.Err() != nil {
			break
		}
		sign(one, amp, tagAmplifier, i)
	}
	for i := range others {
		if ctx.Err() != nil {
			break
		}
		sign(rest, addressIn(n.Prefix, firstMoveAddress+1+i).String(), tagAmplified, 0)
	}
	// The network's budget spent, its servers sign from the IPv6
	// addresses their IPv4 ones give them: 6to4 (65,536 /64s each) and
	// Teredo.
	const tunneledTries = 6
	tunneled := newMove("5. amplification: the network's servers over 6to4 and Teredo",
		fmt.Sprintf("then %d more servers of AS%d solve and sign from the 6to4 or Teredo address of their IPv4 one", tunneledTries, n.ASN),
		"their signatures that reached the petition; expected: none, the ASN's budget being spent")
	for i := range tunneledTries {
		if ctx.Err() != nil {
			break
		}
		ip := addressIn(n.Prefix, firstMoveAddress+1+others+i)
		sign(tunneled, tunnelAddress(ip, i%2 == 1).String(), tagTunneled, 0)
	}
	one.Accepted = m.petition.signatures(tagAmplifier)
	rest.Accepted = m.petition.signatures(tagAmplified)
	tunneled.Accepted = m.petition.signatures(tagTunneled)
	return []*moveResult{one, rest, tunneled}
}

// tunnelAddress returns an IPv6 address that carries ip: its 6to4 address
// (2002:IPv4::/48, a /64 of its own in it), or its Teredo address (the
// client's IPv4 inverted in the last 32 bits, behind a Teredo server).
func tunnelAddress(ip netip.Addr, teredo bool) netip.Addr {
	v4 := ip.As4()
	var a [16]byte
	if teredo {
		copy(a[:], []byte{0x20, 0x01, 0, 0, 0x41, 0x36, 0xe3, 0x78, 0x80, 0x00, 0x63, 0xbf})
		for i, b := range v4 {
			a[12+i] = ^b
		}
		return netip.AddrFrom16(a)
	}
	a[0], a[1] = 0x20, 0x02
	copy(a[2:6], v4[:])
	a[7], a[15] = 0x2a, 1 // a /64 of its own, as a server routing its /48 would use
	return netip.AddrFrom16(a)
}

// --- Move 7: spoofed X-Forwarded-For -----------------------------------

// forwardedFor: clients behind the trusted proxy prepend a forged address
// to X-Forwarded-For, a new one for every signature; the proxy appends the
// real one.
func (m *mover) forwardedFor(ctx context.Context) []*moveResult {
	const attackers = 2
	tries := m.cfg.forwardedTries
	mv := newMove("7. spoofed X-Forwarded-For",
		fmt.Sprintf("%d clients in residential networks, behind the trusted proxy, each solve and sign %d times, every time with `X-Forwarded-For: <forged>, <real>` and a new forged address in another residential network (the proxy appends the real one; the Caddyfile has `trusted_proxies_strict`)", attackers, tries),
		"signatures that reached the petition; expected: each real address's budget")
	mv.Expected = attackers * min(tries, ipBudgetPerHour)
	for a := range attackers {
		real := addressIn(residentialNetworks[a].Prefix, forwardedAddress).String()
		for i := range tries {
			if ctx.Err() != nil {
				break
			}
			forged := addressIn(residentialNetworks[2+(a*tries+i)%(len(residentialNetworks)-2)].Prefix, forgedAddress+i).String()
			v := m.visitor(forged+", "+real, attackerUA, tagForwardedFor)
			p, err := m.buyPass(ctx, v, "/")
			if err != nil {
				mv.problemf("client %s: %v", v.ip, err)
				continue
			}
			r, err := v.do(ctx, http.MethodPost, "/sign", formType, fraudForm(real, i).Encode(), p.pass)
			mv.Tried++
			mv.answer(r, err)
		}
	}
	t := m.petition.traffic(tagForwardedFor)
	mv.Accepted, mv.Reached = t.Signatures, t.Samples
	return []*moveResult{mv}
}

// --- Move 6: replay after restart --------------------------------------

// keptTokens are what a client keeps across the shield's restart.
type keptTokens struct {
	ip      string
	pass    string // spent on one signature
	swapped string // the 0-credit pass the shield swapped it for
	proof   solvedProof
}

// keepForRestart buys passes, spends them, and keeps them with the proofs
// that bought them.
func (m *mover) keepForRestart(ctx context.Context) []keptTokens {
	var kept []keptTokens
	for c := range m.cfg.moveClients {
		ip := addressIn(residentialNetworks[(15+c)%len(residentialNetworks)].Prefix, restartAddress+c).String()
		v := m.visitor(ip, attackerUA, tagRestart)
		p, err := m.buyPass(ctx, v, "/")
		if err != nil {
			continue // replayAfterRestart reports the shortfall
		}
		swapped, err := m.spend(ctx, v, p.pass, "Restart"+strconv.Itoa(c))
		if err != nil {
			continue
		}
		kept = append(kept, keptTokens{ip: ip, pass: p.pass, swapped: swapped, proof: p})
	}
	return kept
}

// replayAfterRestart replays, against the restarted shield, the spent
// passes and the solved proofs kept before it.
func (m *mover) replayAfterRestart(ctx context.Context, kept []keptTokens) *moveResult {
	mv := newMove("6. replay after restart",
		fmt.Sprintf("%d clients each keep a pass spent on one signature, the 0-credit pass the shield swapped it for, and the proof that bought it; the shield process is restarted (same Caddyfile: same secret, same storage); they sign again with both passes and post the proof again (and sign with whatever pass it gets)", len(kept)),
		"signatures that reached the petition, and proofs that got a pass")
	if len(kept) < m.cfg.moveClients {
		mv.problemf("only %d of %d clients could buy and spend a pass before the restart", len(kept), m.cfg.moveClients)
	}
	granted := 0
	for i, k := range kept {
		v := m.visitor(k.ip, attackerUA, tagRestart)
		for _, cookie := range []string{k.pass, k.swapped} {
			if cookie == "" {
				continue
			}
			r, err := v.do(ctx, http.MethodPost, "/sign", formType, fraudForm(k.ip, i).Encode(), cookie)
			mv.Tried++
			mv.answer(r, err)
		}
		r, err := v.do(ctx, http.MethodPost, k.proof.action, formType, k.proof.form, "")
		mv.Tried++
		mv.answer(r, err)
		if pass, ok := passFrom(r); err == nil && ok {
			granted++
			r, err := v.do(ctx, http.MethodPost, "/sign", formType, fraudForm(k.ip, i).Encode(), pass)
			mv.answer(r, err)
		}
	}
	t := m.petition.traffic(tagRestart)
	mv.Accepted, mv.Reached = t.Signatures+granted, t.Samples
	mv.Notes = append(mv.Notes, fmt.Sprintf("proofs that got a pass after the restart: %d; signatures that reached the petition: %d", granted, t.Signatures))
	return mv
}

// rows returns the moves in the order of issue 9 (1 to 7).
func (r *movesResult) rows() []*moveResult {
	rows := slices.Clone(r.Moves)
	slices.SortStableFunc(rows, func(a, b *moveResult) int { return strings.Compare(a.Name[:2], b.Name[:2]) })
	return rows
}

// violations lists what the moves found wrong: a move that got more (or
// less) than it should have, a signer whose held submission was lost or
// who could not sign, a setup signature refused.
func (r *movesResult) violations() []string {
	var v []string
	for _, mv := range r.rows() {
		if mv.Accepted != mv.Expected {
			v = append(v, fmt.Sprintf("move %q: %d accepted of %d tried, expected %d (the shield answered: %s)", mv.Name, mv.Accepted, mv.Tried, mv.Expected, answersText(mv.Answers)))
		}
		for _, p := range mv.Problems {
			v = append(v, fmt.Sprintf("move %q: %s", mv.Name, p))
		}
	}
	if r.Lost > 0 {
		v = append(v, fmt.Sprintf("stash flooding: %d signers' held submissions were lost", r.Lost))
	}
	if ids := r.IDs; ids.Untagged+ids.Forged+ids.Duplicates > 0 {
		v = append(v, fmt.Sprintf("of the %d signatures the petition got during the moves, %d came without exactly one id of the shield's and %d with an id another had; %d requests brought a forged id",
			ids.Signatures, ids.Untagged, ids.Duplicates, ids.Forged))
	}
	if r.SetupAccepted != r.Setup {
		v = append(v, fmt.Sprintf("the moves' setup: %d of %d legitimate signatures (that spend a pass before a move replays it) were accepted", r.SetupAccepted, r.Setup))
	}
	return v
}
