package main

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// class is who a simulated client is: a person signing, or one of the
// attacker's servers.
type class int

const (
	legitimate class = iota
	fraudulent
	numClasses
)

func (c class) String() string {
	if c == fraudulent {
		return "fraudulent"
	}
	return "legitimate"
}

// outcome is what became of one POST /sign.
type outcome int

const (
	// accepted: the petition recorded the signature.
	accepted outcome = iota
	// challenged: the shield answered with a challenge page (403).
	challenged
	// overBudget: the shield answered 429.
	overBudget
	// refusedOther: any other answer (400, 410, 413, 5xx).
	refusedOther
	// failed: no answer at all (connection error, timeout).
	failed
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"accepted", "challenged (403)", "over budget (429)", "other refusal", "no answer"}

func (o outcome) String() string { return outcomeNames[o] }

func outcomeOf(r reply, err error) outcome {
	switch {
	case err != nil:
		return failed
	case r.signatureAccepted():
		return accepted
	case r.status == http.StatusForbidden:
		return challenged
	case r.status == http.StatusTooManyRequests:
		return overBudget
	}
	return refusedOther
}

// acceptance is one signature the petition recorded, and when.
type acceptance struct {
	at    time.Duration
	class class
}

// signerResult is one legitimate signer's experience.
type signerResult struct {
	signed      bool
	reason      string // why not, when not signed
	interrupted bool   // the pass was gone when the form was sent: the body was held
	total       time.Duration
	solving     time.Duration
	maxBits     int
}

// browserResult is one headless Chromium signer's experience.
type browserResult struct {
	signed bool
	reason string
	took   time.Duration // solving included: the browser does it
}

// recorder collects what every simulated client saw. It is safe for
// concurrent use.
type recorder struct {
	start time.Time

	mu sync.Mutex
	// requests each class sent to the shield, and the answers among them
	// that came from the petition itself (not from the shield).
	requests, fromBackend [numClasses]int
	// signAttempts counts POST /sign by class and outcome; byRole splits the
	// fraudulent ones by attacker role.
	signAttempts [numClasses][numOutcomes]int
	byRole       map[string]*[numOutcomes]int
	// fraudByASN counts the fraudulent signatures accepted from each
	// hosting ASN.
	fraudByASN  map[uint32]int
	acceptances []acceptance
	// attackProofs counts the proofs the attackers solved and had accepted;
	// attackBits is the hardest challenge they were given.
	attackProofs, attackBits int
	signers                  []signerResult
	browsers                 []browserResult
}

func newRecorder(start time.Time) *recorder {
	return &recorder{start: start, byRole: make(map[string]*[numOutcomes]int), fraudByASN: make(map[uint32]int)}
}

// request counts one request a client of class c sent to the shield, and
// whether the answer came from the petition: an answer without the
// shield's Rempart-Action header to a path the shield does not own.
func (rec *recorder) request(c class, path string, r reply, err error) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.requests[c]++
	if err == nil && r.header.Get("Rempart-Action") == "" && !strings.HasPrefix(path, "/.rempart/") && r.status < 500 {
		rec.fromBackend[c]++
	}
}

// fraud records the outcome of one fraudulent POST /sign from asn and
// returns it.
func (rec *recorder) fraud(asn uint32, role string, r reply, err error) outcome {
	o := rec.signature(fraudulent, role, r, err)
	if o == accepted {
		rec.mu.Lock()
		rec.fraudByASN[asn]++
		rec.mu.Unlock()
	}
	return o
}

// signature records the outcome of one POST /sign and returns it.
func (rec *recorder) signature(c class, role string, r reply, err error) outcome {
	o := outcomeOf(r, err)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.signAttempts[c][o]++
	if c == fraudulent {
		counts := rec.byRole[role]
		if counts == nil {
			counts = new([numOutcomes]int)
			rec.byRole[role] = counts
		}
		counts[o]++
	}
	if o == accepted {
		rec.acceptances = append(rec.acceptances, acceptance{at: time.Since(rec.start), class: c})
	}
	return o
}

// browserSignature records a signature made in Chromium, which the runner
// sees only through the page: the thank-you means the petition took it.
func (rec *recorder) browserSignature(b browserResult) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.browsers = append(rec.browsers, b)
	o := refusedOther
	if b.signed {
		o = accepted
		rec.acceptances = append(rec.acceptances, acceptance{at: time.Since(rec.start), class: legitimate})
	}
	rec.signAttempts[legitimate][o]++
}

func (rec *recorder) attackProof(bits int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.attackProofs++
	rec.attackBits = max(rec.attackBits, bits)
}

func (rec *recorder) signer(s signerResult) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.signers = append(rec.signers, s)
}

// scenarioStats is what the recorder saw, frozen once the clients are done.
type scenarioStats struct {
	requests, fromBackend [numClasses]int
	signAttempts          [numClasses][numOutcomes]int
	byRole                map[string][numOutcomes]int
	fraudByASN            map[uint32]int
	acceptances           []acceptance
	attackProofs          int
	attackBits            int
	signers               []signerResult
	browsers              []browserResult
}

func (rec *recorder) snapshot() scenarioStats {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	s := scenarioStats{
		requests:     rec.requests,
		fromBackend:  rec.fromBackend,
		signAttempts: rec.signAttempts,
		byRole:       make(map[string][numOutcomes]int, len(rec.byRole)),
		fraudByASN:   maps.Clone(rec.fraudByASN),
		acceptances:  slices.Clone(rec.acceptances),
		attackProofs: rec.attackProofs,
		attackBits:   rec.attackBits,
		signers:      slices.Clone(rec.signers),
		browsers:     slices.Clone(rec.browsers),
	}
	for role, counts := range rec.byRole {
		s.byRole[role] = *counts
	}
	return s
}

// attempted returns how many signatures class c sent.
func (s scenarioStats) attempted(c class) int {
	n := 0
	for _, v := range s.signAttempts[c] {
		n += v
	}
	return n
}

func (s scenarioStats) accepted(c class) int { return s.signAttempts[c][accepted] }

// percentile returns the p-th percentile (0 to 100) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := int(p/100*float64(len(sorted))+0.5) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
