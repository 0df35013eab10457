package caddymodule

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/policies"
)

// Status codes a client can see from the shield (README, "Status codes").
const (
	// StatusChallenge answers a request without a usable pass with the
	// challenge page: a browser runs it, a bot sees it was refused.
	StatusChallenge = http.StatusForbidden
)

// challenge answers with a fresh challenge page. A request with a body is
// held (stashed) first, so that it can be sent on once the browser has
// solved the challenge; problem, when set, says why a proof was refused.
func (h *Handler) challenge(w http.ResponseWriter, r *http.Request, client challenge.Binding, dec *decision, now time.Time, problem string) error {
	if ok, err := h.admit(w, r, policies.CountChallenges, dec, client, now); !ok {
		return err
	}
	ret := challenge.SafeReturn(r.URL.RequestURI(), PublicPrefix)
	submission := ""
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		var err error
		if submission, err = h.stashBody(w, r, client, now); err != nil {
			return err
		}
		if submission == "" {
			return nil // refused and answered
		}
	}
	return h.renderChallenge(w, r, client, dec, now, ret, submission, problem)
}

// challengePage counts a challenge against the budgets and answers with
// it, for a request whose body is held already (or has none).
func (h *Handler) challengePage(w http.ResponseWriter, r *http.Request, client challenge.Binding, dec *decision, now time.Time, ret, submission, problem string) error {
	if ok, err := h.admit(w, r, policies.CountChallenges, dec, client, now); !ok {
		return err
	}
	return h.renderChallenge(w, r, client, dec, now, ret, submission, problem)
}

func (h *Handler) renderChallenge(w http.ResponseWriter, r *http.Request, client challenge.Binding, dec *decision, now time.Time, ret, submission, problem string) error {
	c, err := h.signer.IssueChallenge(client, h.difficulty(dec, client, now), dec.Credits, now, time.Duration(h.ChallengeTTL))
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("issuing challenge: %w", err))
	}
	noScript, err := h.noScriptWait(client, now, ret, submission)
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	lang, t := challenge.Negotiate(r.Header.Get("Accept-Language"))
	var buf bytes.Buffer
	err = h.pages.RenderChallenge(&buf, challenge.ChallengePage{
		Lang: lang, T: t, Challenge: c, VerifyPath: verifyPath,
		Return: ret, Submission: submission, Problem: problem, NoScript: noScript,
	})
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("rendering challenge page: %w", err))
	}
	h.logger.Debug("challenge issued",
		zap.String("path", r.URL.Path), zap.Int("difficulty", c.Difficulty), zap.Uint32("asn", dec.id.ASN), zap.String("rule", dec.Rule),
		zap.Stringer("network", client.Network), zap.Bool("held_submission", submission != ""))
	return writePage(w, r, StatusChallenge, "challenge", buf.Bytes())
}

// stashBody holds the request body for the client. It returns the id that
// releases it, or "" once it has answered the request itself (body too
// large or unreadable).
func (h *Handler) stashBody(w http.ResponseWriter, r *http.Request, client challenge.Binding, now time.Time) (string, error) {
	if r.ContentLength > int64(h.MaxBody) {
		return "", h.message(w, r, http.StatusRequestEntityTooLarge, tooLarge)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(h.MaxBody)+1))
	if err != nil {
		h.logger.Debug("reading body to hold", zap.Error(err))
		return "", h.message(w, r, http.StatusBadRequest, badRequest)
	}
	if len(body) > h.MaxBody {
		return "", h.message(w, r, http.StatusRequestEntityTooLarge, tooLarge)
	}
	id, err := h.state.stash.Put(challenge.Submission{
		Method: r.Method, Path: r.URL.RequestURI(), ContentType: r.Header.Get("Content-Type"),
		Body: body, Expires: now.Add(time.Duration(h.ChallengeTTL)),
	}, client)
	if err != nil {
		return "", caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("holding submission: %w", err))
	}
	return id, nil
}

func tooLarge(t *challenge.Messages) (string, string)   { return t.TooLargeTitle, t.TooLarge }
func expired(t *challenge.Messages) (string, string)    { return t.ExpiredTitle, t.Expired }
func badRequest(t *challenge.Messages) (string, string) { return t.BadRequestTitle, t.BadRequest }

// message answers with a short page in the client's language.
func (h *Handler) message(w http.ResponseWriter, r *http.Request, status int, text func(*challenge.Messages) (title, body string)) error {
	lang, t := challenge.Negotiate(r.Header.Get("Accept-Language"))
	title, body := text(t)
	var buf bytes.Buffer
	if err := h.pages.RenderMessage(&buf, challenge.MessagePage{Lang: lang, T: t, Title: title, Text: body, Link: "/"}); err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("rendering message page: %w", err))
	}
	return writePage(w, r, status, "refuse", buf.Bytes())
}

// writePage sends one of the shield's own pages. Rempart-Action tells
// scripts and logs what the shield did without parsing HTML.
func writePage(w http.ResponseWriter, r *http.Request, status int, action string, page []byte) error {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Length", strconv.Itoa(len(page)))
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Security-Policy", challenge.ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	hdr.Set("Rempart-Action", action)
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		// A client that went away needs no error page.
		_, _ = w.Write(page)
	}
	return nil
}
