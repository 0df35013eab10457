package caddymodule

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/policies"
)

const (
	modeEnforce = "enforce"
	modeObserve = "observe"
)

// decision is what the policy decided for one request, with the policy
// that decided (whose budgets count it) and who the client is.
type decision struct {
	policies.Decision
	active *activePolicy
	id     Identity
}

// decide runs the request, as method and path, through the policy in
// force. It also identifies the client, which sets the {http.rempart.asn*}
// placeholders for what follows.
func (h *Handler) decide(r *http.Request, method, path string) *decision {
	id := h.app.identify(r)
	active := h.policy.active(time.Now())
	req := policies.Request{
		Method: method, Path: path, Host: r.Host,
		IP: id.IP, ASN: id.ASN, Org: id.Org, Class: id.Class,
		UserAgent: r.UserAgent(), Header: r.Header,
	}
	return &decision{Decision: active.chain.Decide(&req), active: active, id: id}
}

// deny refuses the request as the rule says.
func (h *Handler) deny(w http.ResponseWriter, r *http.Request, dec *decision) error {
	h.logger.Debug("denied by policy", zap.String("rule", dec.Rule), zap.Int("line", dec.Line), zap.Uint32("asn", dec.id.ASN))
	return h.message(w, r, dec.Status, func(t *challenge.Messages) (string, string) {
		if dec.Message != "" {
			return http.StatusText(dec.Status), dec.Message
		}
		return t.DeniedTitle, t.Denied
	})
}

// logDecision says, in observe mode, what the shield would have done.
func (h *Handler) logDecision(r *http.Request, dec *decision, client challenge.Binding) {
	h.logger.Info("observe: would "+string(dec.Action),
		zap.String("rule", dec.Rule), zap.Int("line", dec.Line), zap.Strings("why", dec.Why),
		zap.Strings("budgets", dec.Budgets), zap.String("method", r.Method), zap.String("path", r.URL.Path),
		zap.Uint32("asn", dec.id.ASN), zap.String("org", dec.id.Org), zap.String("class", dec.id.Class),
		zap.Stringer("network", client.Network))
}
