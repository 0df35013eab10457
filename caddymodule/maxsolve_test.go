package caddymodule

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestMaxSolveGivesTheDifficultyCap(t *testing.T) {
	for _, tt := range []struct {
		name       string
		maxSolve   caddy.Duration
		difficulty int
		want       int
	}{
		{"default 5s", 0, 0, 23},
		{"1s", caddy.Duration(time.Second), 0, 20},
		{"never below difficulty", caddy.Duration(100 * time.Millisecond), 0, DefaultDifficulty},
		{"a difficulty above the cap is kept", 0, 28, 28},
		{"off", -1, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := Handler{MaxSolve: tt.maxSolve, Difficulty: tt.difficulty}
			h.setDefaults()
			if err := h.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := h.difficultyCap(); got != tt.want {
				t.Errorf("max_solve %s, difficulty %d: cap %d, want %d", time.Duration(h.MaxSolve), h.Difficulty, got, tt.want)
			}
		})
	}
	h := Handler{MaxSolve: caddy.Duration(2 * time.Hour)}
	h.setDefaults()
	if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "max_solve 2h: want 100ms to 1h, or off") {
		t.Errorf("max_solve 2h in JSON: %v, want a range error", err)
	}
}
