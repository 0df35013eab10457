package challenge_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The solvers the page serves are built from source in the repository: the
// WebAssembly SIMD solver by wabt's wat2wasm (Debian package wabt) from
// scripts/solver/sha256x4.wat, the JavaScript worker by Node from
// scripts/solver/gen_worker.js. These tests build them again and compare
// byte for byte, so that the committed output is the source's. Where the
// tool is missing they skip, except in CI (scripts/test.sh installs both).

// buildTool returns the path of the named command, skipping the test where
// it is not installed outside CI.
func buildTool(t *testing.T, name, pkg string) string {
	t.Helper()
	exe, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found in CI: install Debian's %s package (scripts/test.sh does)", name, pkg)
		}
		t.Skipf("%s not found: install Debian's %s package", name, pkg)
	}
	return exe
}

func compareBuilt(t *testing.T, committed string, built []byte, how string) {
	t.Helper()
	want, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, want) {
		t.Fatalf("%s (%d bytes) is not what its source builds (%d bytes): rebuild it with\n\t%s", committed, len(want), len(built), how)
	}
}

func TestSIMDSolverBuiltFromSource(t *testing.T) {
	wat2wasm := buildTool(t, "wat2wasm", "wabt")
	out := filepath.Join(t.TempDir(), "sha256x4.wasm")
	cmd := exec.Command(wat2wasm, "../scripts/solver/sha256x4.wat", "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	compareBuilt(t, "assets/sha256x4.wasm", built,
		"wat2wasm scripts/solver/sha256x4.wat -o challenge/assets/sha256x4.wasm")
}

func TestJSSolverBuiltFromSource(t *testing.T) {
	node := buildTool(t, "node", "nodejs")
	built, err := exec.Command(node, "../scripts/solver/gen_worker.js").Output()
	if err != nil {
		t.Fatalf("gen_worker.js: %v", err)
	}
	compareBuilt(t, "assets/worker.js", built,
		"node scripts/solver/gen_worker.js > challenge/assets/worker.js")
}
