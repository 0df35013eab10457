package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/rempart/rempart/internal/shieldtest"
)

// --- Move 8: forged signature ids ---------------------------------------

// The journal's id reaches the petition in this field; a petition that
// keeps it purges a bad batch by it.
const signatureField = "Rempart-Signature"

// forgedIDPrefix starts every value the attacker writes into it.
const forgedIDPrefix = "forged-"

// forgedIDFields are the spellings the attacker sends, each with its own
// value: PHP and CGI read every one of them as HTTP_REMPART_SIGNATURE.
var forgedIDFields = []string{"Rempart-Signature", "rempart-signature", "REMPART_SIGNATURE", "Rempart_Signature"}

// idsAddress is where the move's clients sit, one per network: an index
// no other move uses.
const idsAddress = 228

// forgedIDs: sign with forged Rempart-Signature fields, with a pass and
// through a held submission, so that the fraud's rows in the petition
// would carry ids that no journal line has (a purge by the journal's ids
// would miss them), or a legitimate signer's.
func (m *mover) forgedIDs(ctx context.Context) []*moveResult {
	mv := newMove("8. forged signature ids",
		fmt.Sprintf("%d clients in residential networks send `Rempart-Signature` (the id a petition keeps to purge a batch by the journal) forged in %d spellings (%s) on every request: each reads a page with a pass, signs once with it, and once without, held, solved and re-posted",
			m.cfg.moveClients, len(forgedIDFields), strings.Join(forgedIDFields, ", ")),
		"requests that reached the petition with a forged id, and signatures without exactly one id of the shield's")
	for c := range m.cfg.moveClients {
		ip := addressIn(residentialNetworks[(11+c)%len(residentialNetworks)].Prefix, idsAddress).String()
		v := m.visitor(ip, attackerUA, tagForgedIDs)
		for i, name := range forgedIDFields {
			v.header[name] = []string{forgedIDPrefix + strconv.Itoa(c) + "-" + strconv.Itoa(i)}
		}
		p, err := m.buyPass(ctx, v, "/")
		if err != nil {
			mv.problemf("client %s: %v", ip, err)
			continue
		}
		// A page read with the pass: it gets no id, and must not bring one.
		r, err := v.do(ctx, http.MethodGet, "/", "", "", p.pass)
		mv.Tried++
		mv.answer(r, err)
		r, err = v.do(ctx, http.MethodPost, "/sign", formType, fraudForm(ip, 0).Encode(), p.pass)
		mv.Tried++
		mv.answer(r, err)

		v.forgetCookies()
		r, err = v.do(ctx, http.MethodPost, "/sign", formType, fraudForm(ip, 1).Encode(), "")
		mv.Tried++
		if err == nil && r.status == http.StatusForbidden {
			r, err = m.solveHeld(ctx, v, r)
		}
		mv.answer(r, err)
	}
	t := m.petition.traffic(tagForgedIDs)
	mv.Accepted, mv.Reached = t.ForgedIDs+t.Untagged, t.Samples
	if want := 2 * m.cfg.moveClients; t.Signatures != want || t.Requests != mv.Tried {
		mv.problemf("%d of %d signatures and %d of %d requests reached the petition: the move did not test the ids of the others",
			t.Signatures, want, t.Requests, mv.Tried)
	}
	return []*moveResult{mv}
}

// solveHeld solves the challenge that held a signature, posts the proof
// and re-posts it where the shield sends it, as the challenge page does;
// it returns the last answer.
func (m *mover) solveHeld(ctx context.Context, v *visitor, page reply) (reply, error) {
	ch, err := shieldtest.ParsePage(page.body)
	if err != nil {
		return reply{}, err
	}
	nonce, err := m.solver.solve(ctx, ch.Puzzle)
	if err != nil {
		return reply{}, err
	}
	form := ch.Proof(nonce).Encode()
	r, err := v.do(ctx, http.MethodPost, ch.Action, formType, form, "")
	if err != nil || r.status != http.StatusTemporaryRedirect {
		return r, err
	}
	return v.do(ctx, http.MethodPost, r.location(), formType, form, "")
}
