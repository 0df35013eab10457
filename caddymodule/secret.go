package caddymodule

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// secretStorageKey is where a generated secret is kept in Caddy's storage.
const secretStorageKey = "rempart/secret"

// loadSecret returns the configured secret with its placeholders replaced
// or, when none is configured, the one kept in Caddy's storage, generating
// and storing it on first use.
func (h *Handler) loadSecret(ctx caddy.Context) ([]byte, error) {
	if h.Secret != "" {
		secret := caddy.NewReplacer().ReplaceKnown(h.Secret, "")
		if len(secret) < 16 {
			return nil, fmt.Errorf("secret: %d bytes after replacing placeholders, want at least 16 (is the environment variable set?)", len(secret))
		}
		return []byte(secret), nil
	}
	if keeper, ok := h.app.storeOf().(secretKeeper); ok {
		return h.sharedSecret(ctx, keeper)
	}
	storage := ctx.Storage()
	stored, err := storage.Load(ctx, secretStorageKey)
	if err == nil {
		secret, err := base64.StdEncoding.DecodeString(string(stored))
		if err != nil || len(secret) < 16 {
			return nil, fmt.Errorf("secret in storage at %q is corrupt: delete it to generate a new one (passes then expire)", secretStorageKey)
		}
		return secret, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("loading secret from storage: %w", err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generating secret: %w", err)
	}
	if err := storage.Store(ctx, secretStorageKey, []byte(base64.StdEncoding.EncodeToString(secret))); err != nil {
		return nil, fmt.Errorf("storing generated secret: %w", err)
	}
	h.logger.Info("generated a new secret and stored it", zap.String("storage_key", secretStorageKey))
	return secret, nil
}

// sharedSecret returns the secret every instance using the store shares,
// generating it on first use. Without it the instances could not accept
// each other's tokens, so a store that does not answer fails the config.
func (h *Handler) sharedSecret(ctx caddy.Context, keeper secretKeeper) ([]byte, error) {
	candidate := make([]byte, 32)
	if _, err := rand.Read(candidate); err != nil {
		return nil, fmt.Errorf("generating secret: %w", err)
	}
	secret, err := keeper.LoadOrStoreSecret(ctx, []byte(base64.StdEncoding.EncodeToString(candidate)))
	if err != nil {
		return nil, fmt.Errorf("loading the secret shared through the store (set `secret {env.REMPART_SECRET}` so that instances start without it): %w", err)
	}
	return secret, nil
}
