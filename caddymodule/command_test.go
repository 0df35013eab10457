package caddymodule

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rempart/rempart/asn/asntest"
)

func TestASNLookupCommand(t *testing.T) {
	db := writeTestDB(t)
	cdn := writeFile(t, "cdn.txt", "AS13335 # Cloudflare\n")
	corrupt := writeFile(t, "corrupt.mmdb", "\x00\x01\x02 not a database")
	// An organisation name is chosen by whoever registers the AS.
	hostile := filepath.Join(t.TempDir(), "hostile.mmdb")
	asntest.WriteMMDB(t, hostile, []asntest.Network{{Prefix: netip.MustParsePrefix("203.0.113.0/24"), ASN: 64666,
		Org: "Evil\n52.94.1.1  AS16509  Amazon.com, Inc.  class=hosting\x1b[2J"}})
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantOut    string
		wantStderr string
		wantErr    string
	}{
		{
			name: "addresses",
			args: []string{"lookup", "--db", db, "52.94.1.1", "8.8.8.8", "1.1.1.1", "2600:1f00::1", "198.51.100.7", "192.0.2.1"},
			wantOut: "52.94.1.1  AS16509  Amazon.com, Inc.  class=hosting\n" +
				"8.8.8.8  AS15169  Google LLC  class=hosting\n" +
				"1.1.1.1  AS13335  Cloudflare, Inc.\n" +
				"2600:1f00::1  AS16509  Amazon.com, Inc.  class=hosting\n" +
				"198.51.100.7  AS64501  -\n" +
				"192.0.2.1  not found\n",
		},
		{
			name: "6to4 and Teredo",
			args: []string{"lookup", "--db", db, "2002:345e:101::1", "2001:0:4136:e378:8000:63bf:cba1:fefe", "2002:a00:1::1"},
			wantOut: "2002:345e:101::1 (6to4 of 52.94.1.1)  AS16509  Amazon.com, Inc.  class=hosting\n" +
				"2001:0:4136:e378:8000:63bf:cba1:fefe (Teredo of 52.94.1.1)  AS16509  Amazon.com, Inc.  class=hosting\n" +
				"2002:a00:1::1  not found\n",
		},
		{
			name:    "classes",
			args:    []string{"lookup", "--db", db, "--class", "cdn=" + cdn, "--no-builtin-hosting", "1.1.1.1", "52.94.1.1"},
			wantOut: "1.1.1.1  AS13335  Cloudflare, Inc.  class=cdn\n52.94.1.1  AS16509  Amazon.com, Inc.\n",
		},
		{
			name:    "standard input",
			args:    []string{"lookup", "--db", db},
			stdin:   "52.94.1.1\n\n  1.1.1.1  \n",
			wantOut: "52.94.1.1  AS16509  Amazon.com, Inc.  class=hosting\n1.1.1.1  AS13335  Cloudflare, Inc.\n",
		},
		{
			name:       "bad address",
			args:       []string{"lookup", "--db", db, "52.94.1.1", "52.94.1", "1.1.1.1"},
			wantOut:    "52.94.1.1  AS16509  Amazon.com, Inc.  class=hosting\n1.1.1.1  AS13335  Cloudflare, Inc.\n",
			wantStderr: "\"52.94.1\": not an IP address\n",
			wantErr:    "an address is not an IP address",
		},
		{
			name:    "hostile organisation name",
			args:    []string{"lookup", "--db", hostile, "203.0.113.5"},
			wantOut: "203.0.113.5  AS64666  Evil\ufffd52.94.1.1  AS16509  Amazon.com, Inc.  class=hosting\ufffd[2J\n",
		},
		{name: "no database", args: []string{"lookup", "1.1.1.1"}, wantErr: "--db: give the IP-to-ASN database file"},
		{name: "missing database", args: []string{"lookup", "--db", "/nonexistent/asn.mmdb", "1.1.1.1"}, wantErr: "ASN database: stat /nonexistent/asn.mmdb: no such file or directory"},
		{name: "corrupt database", args: []string{"lookup", "--db", corrupt, "1.1.1.1"}, wantErr: "ASN database: " + corrupt + ": binary data"},
		{name: "bad class flag", args: []string{"lookup", "--db", db, "--class", "cdn", "1.1.1.1"}, wantErr: `--class "cdn": want <name>=<file>`},
		{name: "missing class file", args: []string{"lookup", "--db", db, "--class", "cdn=/nonexistent/cdn.txt", "1.1.1.1"}, wantErr: `--class: class "cdn": open /nonexistent/cdn.txt`},
		{name: "bad class name", args: []string{"lookup", "--db", db, "--class", "CDN=" + cdn, "1.1.1.1"}, wantErr: `--class: class name "CDN"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := runCommandWithInput(t, "asn", tt.stdin, tt.args...)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if out != tt.wantOut {
				t.Errorf("output:\n%s\nwant:\n%s", out, tt.wantOut)
			}
			if stderr != tt.wantStderr {
				t.Errorf("standard error %q, want %q", stderr, tt.wantStderr)
			}
		})
	}
}

// TestASNLookupBinary runs the command in the rempart binary, to check
// its exit status and messages as an admin sees them.
func TestASNLookupBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the rempart binary")
	}
	bin := filepath.Join(t.TempDir(), "rempart")
	build := exec.Command("go", "build", "-o", bin, "./cmd/rempart")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := writeTestDB(t)

	out, err := exec.Command(bin, "asn", "lookup", "--db", db, "52.94.1.1").Output()
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if want := "52.94.1.1  AS16509  Amazon.com, Inc.  class=hosting\n"; string(out) != want {
		t.Errorf("lookup printed %q, want %q", out, want)
	}

	corrupt := filepath.Join(t.TempDir(), "asn.mmdb")
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(corrupt, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "asn", "lookup", "--db", corrupt, "52.94.1.1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
		t.Fatalf("lookup in a truncated file: %v, want exit status 1", err)
	}
	if want := "Error: ASN database: " + corrupt + ": binary data without a MaxMind DB metadata marker"; !strings.Contains(stderr.String(), want) {
		t.Errorf("standard error %q, want it to contain %q", stderr.String(), want)
	}
}
