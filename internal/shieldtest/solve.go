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

// Proof is a solved challenge page: where to post it and what.
type Proof struct {
	Action string
	Form   url.Values
}

// SolvePage parses a challenge page and returns its proof form, solved.
func SolvePage(page []byte) (Proof, error) {
	seedM, bitsM, actionM := seedAttr.FindSubmatch(page), bitsAttr.FindSubmatch(page), actionAttr.FindSubmatch(page)
	if seedM == nil || bitsM == nil || actionM == nil {
		return Proof{}, fmt.Errorf("not a challenge page: %.200q", page)
	}
	var c challenge.Challenge
	if _, err := hex.Decode(c.Seed[:], seedM[1]); err != nil {
		return Proof{}, fmt.Errorf("seed: %w", err)
	}
	bits, err := strconv.Atoi(string(bitsM[1]))
	if err != nil {
		return Proof{}, fmt.Errorf("difficulty: %w", err)
	}
	c.Difficulty = bits
	form := url.Values{}
	for _, m := range hiddenAttr.FindAllSubmatch(page, -1) {
		form.Set(string(m[1]), html.UnescapeString(string(m[2])))
	}
	form.Set("nonce", challenge.Solve(c))
	return Proof{Action: html.UnescapeString(string(actionM[1])), Form: form}, nil
}
