package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// The quickstart's Caddyfile (README: go run ./cmd/rempart run --config
// Caddyfile.example) adapts without a warning and provisions, every
// module of it, in the binary it is written for. Its storage and the
// journal's file are moved to the test's directory; nothing listens.
func TestCaddyfileExampleProvisions(t *testing.T) {
	src, err := os.ReadFile("../../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	adapted, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": "Caddyfile.example"})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warnings {
		t.Errorf("Caddyfile.example:%d: %s", w.Line, w.Message)
	}
	var cfg map[string]any
	if err := json.Unmarshal(adapted, &cfg); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg["storage"] = map[string]any{"module": "file_system", "root": filepath.Join(dir, "storage")}
	logs, _ := cfg["logging"].(map[string]any)["logs"].(map[string]any)
	journal, ok := logs["journal"].(map[string]any)
	if !ok {
		t.Fatal("Caddyfile.example has no journal log")
	}
	writer := journal["writer"].(map[string]any)
	if writer["filename"] != "rempart-signatures.log" {
		t.Fatalf("the journal goes to %v", writer["filename"])
	}
	writer["filename"] = filepath.Join(dir, "rempart-signatures.log")
	moved, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var c caddy.Config
	if err := json.Unmarshal(moved, &c); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&c); err != nil {
		t.Fatalf("Caddyfile.example does not provision: %v", err)
	}
}
