// Package shieldtest plays the client side of the shield's protocol in Go,
// for tests and load tools: it reads a challenge page and solves it the way
// the browser solver would, only natively.
package shieldtest

import (
	"encoding/hex"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"strconv"

	"github.com/rempart/rempart/challenge"
)

var (
	seedAttr   = regexp.MustCompile(`data-seed="([0-9a-f]{64})"`)
	bitsAttr   = regexp.MustCompile(`data-bits="([0-9]+)"`)
	hiddenAttr = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)
	actionAttr = regexp.MustCompile(`<form id="rempart-proof" method="post" action="([^"]+)"`)
)

// Page is a challenge page as a client reads it: the puzzle, and the
// proof form to fill in with its nonce.
type Page struct {
	// Puzzle holds the seed and difficulty (its Token is left empty).
	Puzzle challenge.Challenge
	// Action is where the proof form posts.
	Action string
	// Form holds the proof form's hidden fields, without the nonce.
	Form url.Values
}

// ParsePage reads a challenge page without solving it.
func ParsePage(page []byte) (Page, error) {
	seedM, bitsM, actionM := seedAttr.FindSubmatch(page), bitsAttr.FindSubmatch(page), actionAttr.FindSubmatch(page)
	if seedM == nil || bitsM == nil || actionM == nil {
		return Page{}, fmt.Errorf("not a challenge page: %.200q", page)
	}
	var p Page
	if _, err := hex.Decode(p.Puzzle.Seed[:], seedM[1]); err != nil {
		return Page{}, fmt.Errorf("challenge seed: %w", err)
	}
	bits, err := strconv.Atoi(string(bitsM[1]))
	if err != nil || bits < challenge.MinDifficulty || bits > challenge.MaxDifficulty {
		return Page{}, fmt.Errorf("challenge difficulty %q", bitsM[1])
	}
	p.Puzzle.Difficulty = bits
	p.Action = html.UnescapeString(string(actionM[1]))
	p.Form = url.Values{}
	for _, m := range hiddenAttr.FindAllSubmatch(page, -1) {
		p.Form.Set(string(m[1]), html.UnescapeString(string(m[2])))
	}
	return p, nil
}

// Proof returns the proof form carrying nonce.
func (p Page) Proof(nonce string) url.Values {
	form := url.Values{}
	for k, v := range p.Form {
		form[k] = v
	}
	form.Set("nonce", nonce)
	return form
}

// Proof is a solved challenge page: where to post it and what.
type Proof struct {
	Action string
	Form   url.Values
}

// SolvePage parses a challenge page and returns its proof form, solved.
func SolvePage(page []byte) (Proof, error) {
	p, err := ParsePage(page)
	if err != nil {
		return Proof{}, err
	}
	return Proof{Action: p.Action, Form: p.Proof(challenge.Solve(p.Puzzle))}, nil
}
