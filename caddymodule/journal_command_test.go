package caddymodule

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// journalLine is a journal line as the shield and Caddy write it.
func journalLine(ts, id, verdict, ip, network string, asn uint32, class, path string) string {
	observed := ""
	if verdict != "spend" {
		observed = `"observed":true,`
	}
	return fmt.Sprintf(`{"level":"info","ts":%s,"logger":"http.handlers.rempart.journal","msg":"signature","site":"petition","id":%q,"verdict":%q,%s"host":"petition.example","method":"POST","path":%q,"rule":"default","line":0,"difficulty":18,"paid_bits":18,"ip":%q,"network":%q,"asn":%d,"org":"Org %d","class":%q,"status":200}`,
		ts, id, verdict, observed, path, ip, network, asn, asn, class)
}

func TestJournalCommand(t *testing.T) {
	lines := []string{
		`{"level":"info","ts":1796160000,"logger":"http.handlers.rempart","msg":"rempart: traffic"}`,
		journalLine("1796083200.5", "aaaa00000000000000000001", "spend", "198.51.100.9", "198.51.100.0/24", 64500, "", "/sign"),
		journalLine("1796086800", "aaaa00000000000000000002", "hold", "203.0.113.7", "203.0.113.0/24", 64501, "hosting", "/sign"),
		journalLine("1796086801", "aaaa00000000000000000003", "limit", "203.0.113.8", "203.0.113.0/24", 64501, "hosting", "/sign"),
		journalLine("1796090400", "aaaa00000000000000000004", "spend", "2001:db8::1", "2001:db8::/48", 64502, "", "/p/\x1b[2J/sign"),
		strings.Replace(journalLine("1796090401", "aaaa00000000000000000005", "spend", "198.51.100.10", "198.51.100.0/24", 64500, "", "/sign"), `"ip":"198.51.100.10"`, `"ip":"nowhere"`, 1),
	}
	// The ESC of the hostile path as zap writes it (%q wrote \x1b).
	lines[4] = strings.Replace(lines[4], `\x1b`, `\u001b`, 1)
	dir := t.TempDir()
	plain := filepath.Join(dir, "signatures.log")
	if err := os.WriteFile(plain, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(lines[1] + "\n"))
	zw.Close()
	rolled := filepath.Join(dir, "signatures-2026-11-30T00-00-00.000.log.gz")
	if err := os.WriteFile(rolled, gz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(dir, "long.log")
	if err := os.WriteFile(long, []byte(strings.Repeat("x", 70000)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantOut    string
		wantStderr string
		wantErr    string
	}{
		{
			name:       "one network, ids",
			args:       []string{"--network", "203.0.113.0/24", "--format", "ids", plain},
			wantOut:    "aaaa00000000000000000002\naaaa00000000000000000003\n",
			wantStderr: "journal: 1 file(s), 6 lines, 4 signatures, 2 match\njournal: 1 unreadable journal lines, the first at " + plain + ": line 6: journal line aaaa00000000000000000005: ip:",
		},
		{
			name:    "what enforce would have stopped",
			args:    []string{"--stopped", "--format", "ids", plain},
			wantOut: "aaaa00000000000000000002\naaaa00000000000000000003\n",
		},
		{
			name:    "an ASN and an hour, rolled files too",
			args:    []string{"--asn", "AS64500", "--since", "2026-12-01", "--until", "2026-12-01T01:00:00Z", "--format", "ids", plain, rolled},
			wantOut: "aaaa00000000000000000001\naaaa00000000000000000001\n",
		},
		{
			name:    "until is excluded",
			args:    []string{"--verdict", "hold", "--verdict", "limit", "--until", "2026-12-01T01:00:01Z", "--format", "ids", plain},
			wantOut: "aaaa00000000000000000002\n",
		},
		{
			name:    "an address",
			args:    []string{"--network", "2001:db8::1", "--format", "csv", plain},
			wantOut: "time,site,id,verdict,observed,ip,network,asn,org,class,paid_bits,held,status,method,path\n2026-12-01T02:00:00Z,petition,aaaa00000000000000000004,spend,false,2001:db8::1,2001:db8::/48,AS64502,Org 64502,,18,false,200,POST,/p/\ufffd[2J/sign\n",
		},
		{
			name:    "json lines as they are",
			args:    []string{"--class", "hosting", "--verdict", "limit", "-"},
			stdin:   strings.Join(lines, "\n"),
			wantOut: lines[3] + "\n",
		},
		{name: "no file", args: []string{"--asn", "64500"}, wantErr: "give the journal's files"},
		{name: "missing file", args: []string{"/nonexistent/signatures.log"}, wantErr: "/nonexistent/signatures.log: open"},
		{name: "a line too long is skipped", args: []string{long}, wantStderr: "journal: 1 file(s), 1 lines, 0 signatures, 0 match\n"},
		{name: "bad asn", args: []string{"--asn", "ASX", plain}, wantErr: `--asn "ASX"`},
		{name: "bad network", args: []string{"--network", "203.0.113/24", plain}, wantErr: `--network "203.0.113/24": want a CIDR prefix or an address`},
		{name: "bad time", args: []string{"--since", "yesterday", plain}, wantErr: `--since "yesterday": want an RFC 3339 time`},
		{name: "bad format", args: []string{"--format", "xml", plain}, wantErr: `--format "xml": want json, csv or ids`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, err := runCommandWithInput(t, "journal", tc.stdin, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out != tc.wantOut {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, tc.wantOut)
			}
			if tc.wantStderr != "" && !strings.HasPrefix(stderr, tc.wantStderr) {
				t.Errorf("stderr:\n%s\nwant it to start with:\n%s", stderr, tc.wantStderr)
			}
		})
	}
}

func TestEscapeC1(t *testing.T) {
	in := []byte(`{"org":"a` + "\u009b" + `2Jb` + "\u202e" + `"}`)
	if got, want := string(escapeC1(in)), `{"org":"a\u009b2Jb\u202e"}`; got != want {
		t.Fatalf("escapeC1 = %s, want %s", got, want)
	}
}

// A hostile journal file (one an attacker wrote, or edited) puts what a
// terminal acts on where rempart journal prints it: an ESC, decoded from
// \u001b, in the id of a line it cannot read (named on standard error),
// a lone C1 byte (0x9b, CSI to a terminal in 8-bit mode), which
// encoding/json reads in a string, in the org of a line it prints as is,
// and a carriage return between its fields (JSON whitespace), which would
// print the rest of the line over its start.
func TestJournalCommandHostileFile(t *testing.T) {
	unreadable := strings.Replace(journalLine("1796090401", `aaaa\u001b]0;owned\u0007\u001b[2J`, "spend", "198.51.100.10",
		"198.51.100.0/24", 64500, "", "/sign"), `"ip":"198.51.100.10"`, `"ip":"nowhere"`, 1)
	unreadable = strings.Replace(unreadable, `\\u`, `\u`, -1) // %q escaped the backslashes
	printed := strings.Replace(journalLine("1796090400", "aaaa00000000000000000007", "spend", "198.51.100.9",
		"198.51.100.0/24", 64500, "", "/sign"), `"org":"Org 64500"`, "\"org\":\"Org \x9b2J\u202edesrever\"\r", 1)
	file := filepath.Join(t.TempDir(), "signatures.log")
	if err := os.WriteFile(file, []byte(unreadable+"\n"+printed+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCommandWithInput(t, "journal", "", file)
	if err != nil {
		t.Fatal(err)
	}
	tried, written := 0, 0
	for _, s := range []string{out, stderr} {
		tried++
		if hasTerminalControl(s) {
			written++
		}
	}
	if written != 0 || !strings.Contains(out, "aaaa00000000000000000007") || !strings.Contains(stderr, "1 unreadable") {
		t.Fatalf("%d outputs of a hostile file, %d with terminal controls; want 0\nstdout %q\nstderr %q", tried, written, out, stderr)
	}
}

// A CSV cell from the journal never starts as a spreadsheet formula: an
// organisation name chosen by whoever registers the AS, a method that is
// a valid token.
func TestJournalCSVHasNoFormulas(t *testing.T) {
	line := strings.Replace(journalLine("1796090400", "aaaa00000000000000000008", "spend", "198.51.100.9",
		"198.51.100.0/24", 64500, "", "/sign"), `"org":"Org 64500"`, `"org":"=HYPERLINK(\"http://evil.example\",\"x\")"`, 1)
	line = strings.Replace(line, `"method":"POST"`, `"method":"+1+1"`, 1)
	out, _, err := runCommandWithInput(t, "journal", line+"\n", "--format", "csv", "-")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("csv %q: %v", out, err)
	}
	cells, formulas := 0, 0
	for _, cell := range rows[1] {
		cells++
		if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
			formulas++
		}
	}
	if formulas != 0 || rows[1][8] != `'=HYPERLINK("http://evil.example","x")` || rows[1][13] != "'+1+1" {
		t.Fatalf("%d of %d cells start as a formula: %q", formulas, cells, rows[1])
	}
}

// hasTerminalControl reports whether s holds a C0 control other than a
// line feed, or a C1 control, as a character or as a lone byte, or a
// bidirectional control.
func hasTerminalControl(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			r = rune(s[i])
		}
		if r < 0x20 && r != '\n' || r >= 0x7f && r <= 0x9f || unicode.Is(unicode.Bidi_Control, r) {
			return true
		}
		i += size
	}
	return false
}
