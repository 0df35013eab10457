package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// moveHeader tags every request of the attacker's moves with the move, so
// that the counting petition counts what each one got through.
const moveHeader = "X-Flood-Move"

// countingPetition is the petition the shield guards during the attacker's
// moves: a lenient one, as a web framework's routes often are, that takes
// every request that writes (any method but GET, HEAD and OPTIONS, in any
// case, or one that claims another method in an override header) as a
// signature, whatever its path. So an alias of /sign that got past the
// shield is counted here even though the demo petition would not have
// recorded it. It answers a signature as the demo does (303 to
// /?signed=1) and anything else with the petition's form.
type countingPetition struct {
	mu     sync.Mutex
	byMove map[string]*moveTraffic
	// ids counts the shield's ids (Rempart-Signature) the signatures
	// carried, across the moves: each must be one signature's.
	ids map[string]int

	srv  *http.Server
	done chan struct{}
	// serveErr is why the server stopped, when not by stop.
	serveErr error
}

// moveTraffic is what reached the petition from one move.
type moveTraffic struct {
	Requests   int
	Signatures int
	// Samples are the first signatures' request lines, for the report.
	Samples []string
	// Untagged counts the signatures without exactly one id of the
	// shield's, and DuplicateIDs those whose id an earlier signature had;
	// ForgedIDs counts the requests, signatures or not, that carried a
	// value the attacker wrote (forged-).
	Untagged, ForgedIDs, DuplicateIDs int
}

// maxSamples bounds the request lines kept per move.
const maxSamples = 5

// startCountingPetition listens on 127.0.0.1:port and serves until stop.
func startCountingPetition(port int) (*countingPetition, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("counting petition: port %d: %w", port, err)
	}
	p := &countingPetition{byMove: make(map[string]*moveTraffic), ids: make(map[string]int), done: make(chan struct{})}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.serveErr = err
		}
	}()
	return p, nil
}

func (p *countingPetition) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	<-p.done
}

// writes reports whether the petition takes r as a signature.
func writes(r *http.Request) bool {
	switch strings.ToUpper(r.Method) {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return true
	}
	for _, name := range []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"} {
		if r.Header.Get(name) != "" {
			return true
		}
	}
	return false
}

func (p *countingPetition) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	signature := writes(r)
	move := r.Header.Get(moveHeader)
	p.mu.Lock()
	t := p.byMove[move]
	if t == nil {
		t = new(moveTraffic)
		p.byMove[move] = t
	}
	t.Requests++
	p.checkID(t, r.Header, signature)
	if signature {
		t.Signatures++
		if len(t.Samples) < maxSamples {
			line := r.Method + " " + r.RequestURI
			for _, name := range []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"} {
				if v := r.Header.Get(name); v != "" {
					line += " (" + name + ": " + v + ")"
				}
			}
			t.Samples = append(t.Samples, line)
		}
	}
	p.mu.Unlock()
	if signature {
		w.Header().Set("Location", "/?signed=1")
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, `<!doctype html><title>Petition</title><form id="petition" method="post" action="/sign"><input name="name"><input name="email"><button>Sign</button></form>`)
}

// checkID counts, in t, what is wrong with the ids a request carried in
// every field a petition could read as Rempart-Signature: a forged value
// on any request, and a signature without exactly one id of the shield's
// or with another's. The caller holds p.mu.
func (p *countingPetition) checkID(t *moveTraffic, h http.Header, signature bool) {
	var ids []string
	for name, values := range h {
		if strings.EqualFold(strings.NewReplacer("_", "-", ".", "-").Replace(name), signatureField) {
			ids = append(ids, values...)
		}
	}
	if slices.ContainsFunc(ids, func(id string) bool { return strings.HasPrefix(id, forgedIDPrefix) }) {
		t.ForgedIDs++
	}
	if !signature {
		return
	}
	if len(ids) != 1 || !shieldID(ids[0]) {
		t.Untagged++
		return
	}
	if p.ids[ids[0]]++; p.ids[ids[0]] > 1 {
		t.DuplicateIDs++
	}
}

// shieldID reports whether id is written as the shield writes its ids:
// 24 lower-case hex digits.
func shieldID(id string) bool {
	return len(id) == 24 && strings.Trim(id, "0123456789abcdef") == ""
}

// idTotals sums the id checks over every move's signatures.
func (p *countingPetition) idTotals() (signatures, untagged, forged, duplicates int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.byMove {
		signatures += t.Signatures
		untagged += t.Untagged
		forged += t.ForgedIDs
		duplicates += t.DuplicateIDs
	}
	return signatures, untagged, forged, duplicates
}

// traffic returns what reached the petition from move.
func (p *countingPetition) traffic(move string) moveTraffic {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.byMove[move]
	if t == nil {
		return moveTraffic{}
	}
	c := *t
	c.Samples = slices.Clone(t.Samples)
	return c
}

// signatures returns the signatures that reached the petition from move.
func (p *countingPetition) signatures(move string) int { return p.traffic(move).Signatures }
