package journal

import (
	"bytes"
	"compress/gzip"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// A line as Caddy writes it with the README's log block (format json).
const sampleLine = `{"level":"info","ts":1796168791.4711986,"logger":"http.handlers.rempart.journal","msg":"signature","site":"petition","id":"add7381fff6773a5a93aae37","verdict":"spend","host":"petition.example.org","method":"POST","path":"/sign","rule":"default","line":0,"difficulty":18,"paid_bits":18,"pass":"61e2b134d5d96a40","held":true,"ip":"198.51.100.9","asn":64500,"org":"Example Telecom","class":"","network":"198.51.100.0/24","status":200}`

func withTS(ts string) string {
	return strings.Replace(sampleLine, `"ts":1796168791.4711986`, `"ts":`+ts, 1)
}

func TestParse(t *testing.T) {
	want := time.Unix(1796168791, 471198600)
	cases := []struct {
		name    string
		line    string
		time    time.Time
		wantErr string // "not journal" for ErrNotJournal
	}{
		{name: "caddy's default", line: sampleLine, time: want},
		{name: "unix seconds", line: withTS(`1796168791`), time: time.Unix(1796168791, 0)},
		{name: "unix milli float", line: withTS(`1796168791471.1986`), time: time.UnixMilli(1796168791471)},
		{name: "unix nano", line: withTS(`1796168791471198600`), time: time.Unix(0, 1796168791471198600)},
		{name: "iso8601", line: withTS(`"2026-12-01T23:46:31.471+0000"`), time: time.Date(2026, 12, 1, 23, 46, 31, 471e6, time.UTC)},
		{name: "rfc3339 nano", line: withTS(`"2026-12-01T23:46:31.4711986Z"`), time: time.Date(2026, 12, 1, 23, 46, 31, 471198600, time.UTC)},
		{name: "wall", line: withTS(`"2026/12/01 23:46:31"`), time: time.Date(2026, 12, 1, 23, 46, 31, 0, time.Local)},
		{name: "common log", line: withTS(`"01/Dec/2026:23:46:31 +0000"`), time: time.Date(2026, 12, 1, 23, 46, 31, 0, time.UTC)},
		{name: "time in no format", line: withTS(`"yesterday"`), wantErr: "in no time format"},
		{name: "negative time", line: withTS(`-5`), wantErr: "is not a time"},
		{name: "huge time", line: withTS(`1e300`), wantErr: "is not a time"},
		{name: "time missing", line: strings.Replace(sampleLine, `"ts":1796168791.4711986,`, ``, 1), wantErr: "ts: missing"},
		{name: "another logger", line: strings.Replace(sampleLine, `rempart.journal`, `rempart`, 1), wantErr: "not journal"},
		{name: "console format", line: `2026/12/01 23:46:31.471 INFO http.handlers.rempart.journal signature {"id": "x"}`, wantErr: "not journal"},
		{name: "empty", line: "", wantErr: "not journal"},
		{name: "not JSON", line: `{"level":`, wantErr: "not journal"},
		{name: "broken journal line", line: sampleLine[:len(sampleLine)-20], wantErr: "journal line: unexpected end"},
		{name: "no id", line: strings.Replace(sampleLine, `"id":"add7381fff6773a5a93aae37"`, `"id":""`, 1), wantErr: "without id"},
		{name: "bad ip", line: strings.Replace(sampleLine, `"ip":"198.51.100.9"`, `"ip":"198.51.100.999"`, 1), wantErr: "ip:"},
		{name: "bad network", line: strings.Replace(sampleLine, `198.51.100.0/24`, `198.51.100.0/33`, 1), wantErr: "network:"},
		{name: "asn out of range", line: strings.Replace(sampleLine, `"asn":64500`, `"asn":4294967296`, 1), wantErr: "journal line:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse([]byte(tc.line))
			switch {
			case tc.wantErr == "not journal":
				if !errors.Is(err, ErrNotJournal) {
					t.Fatalf("got %v, want ErrNotJournal", err)
				}
				return
			case tc.wantErr != "":
				if err == nil || errors.Is(err, ErrNotJournal) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if !e.Time.Equal(tc.time) {
				t.Errorf("time %v, want %v", e.Time, tc.time)
			}
			if e.ID != "add7381fff6773a5a93aae37" || e.Verdict != "spend" || e.IP != netip.MustParseAddr("198.51.100.9") ||
				e.Network != netip.MustParsePrefix("198.51.100.0/24") || e.ASN != 64500 || e.Org != "Example Telecom" ||
				e.Site != "petition" || !e.Held || e.PaidBits != 18 || e.Status != 200 || e.Path != "/sign" {
				t.Errorf("entry %+v", e)
			}
		})
	}
}

func TestRead(t *testing.T) {
	other := `{"level":"info","ts":1796168790,"logger":"http.handlers.rempart","msg":"rempart: traffic"}`
	broken := strings.Replace(sampleLine, `"ip":"198.51.100.9"`, `"ip":"nowhere"`, 1)
	second := strings.Replace(sampleLine, "add7381fff6773a5a93aae37", "0123456789abcdef01234567", 1)
	log := strings.Join([]string{other, sampleLine, "", broken, "not json at all", second}, "\n") + "\n"

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(log))
	zw.Close()

	for name, data := range map[string][]byte{"plain": []byte(log), "gzip": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			var ids []string
			st, err := Read(bytes.NewReader(data), func(e Entry, raw []byte) error {
				if !bytes.Contains(raw, []byte(e.ID)) {
					t.Errorf("raw line %q is not entry %s's", raw, e.ID)
				}
				ids = append(ids, e.ID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if st.Lines != 6 || st.Entries != 2 || st.Unreadable != 1 || !strings.HasPrefix(st.FirstUnreadable, "line 4: ") {
				t.Errorf("stats %+v", st)
			}
			if len(ids) != 2 || ids[0] != "add7381fff6773a5a93aae37" || ids[1] != "0123456789abcdef01234567" {
				t.Errorf("ids %v", ids)
			}
		})
	}

	// A line longer than any journal line is skipped unread, and the lines
	// after it are read: another log's (an access log's, which a client
	// can make that long) silently, one that names the journal's logger as
	// unreadable.
	long := sampleLine + "\n" + strings.Repeat("x", MaxLine+1) + "\n" + sampleLine + "\n" +
		`{"logger":"` + LoggerName + `","path":"` + strings.Repeat("y", 2*MaxLine) + "\n" + sampleLine
	n := 0
	st, err := Read(strings.NewReader(long), func(Entry, []byte) error { n++; return nil })
	if err != nil || n != 3 || st.Entries != 3 || st.Lines != 5 || st.Unreadable != 1 ||
		st.FirstUnreadable != "line 4: longer than 65536 bytes" {
		t.Fatalf("long lines: %d entries, %+v, %v", n, st, err)
	}
	// A file that says gzip and is not.
	if _, err := Read(bytes.NewReader([]byte{0x1f, 0x8b, 0, 0}), func(Entry, []byte) error { return nil }); err == nil {
		t.Fatal("broken gzip read without error")
	}
}

func TestFilter(t *testing.T) {
	e, err := Parse([]byte(sampleLine))
	if err != nil {
		t.Fatal(err)
	}
	at := e.Time
	cases := []struct {
		name   string
		filter Filter
		match  bool
	}{
		{"zero filter", Filter{}, true},
		{"its site", Filter{Sites: []string{"other", "petition"}}, true},
		{"another site", Filter{Sites: []string{"other"}}, false},
		{"its ASN", Filter{ASNs: []uint32{64500}}, true},
		{"another ASN", Filter{ASNs: []uint32{64501}}, false},
		{"its class (none)", Filter{Classes: []string{""}}, true},
		{"hosting", Filter{Classes: []string{"hosting"}}, false},
		{"its network", Filter{Networks: []netip.Prefix{netip.MustParsePrefix("198.51.0.0/16")}}, true},
		{"its address", Filter{Networks: []netip.Prefix{netip.MustParsePrefix("198.51.100.9/32")}}, true},
		{"next address", Filter{Networks: []netip.Prefix{netip.MustParsePrefix("198.51.100.10/32")}}, false},
		{"an IPv6 network", Filter{Networks: []netip.Prefix{netip.MustParsePrefix("::/0")}}, false},
		{"verdict spend", Filter{Verdicts: []string{"spend"}}, true},
		{"verdict hold", Filter{Verdicts: []string{"hold"}}, false},
		{"stopped", Filter{Stopped: true}, false},
		{"since its time", Filter{Since: at}, true},
		{"since after", Filter{Since: at.Add(time.Nanosecond)}, false},
		{"until its time", Filter{Until: at}, false},
		{"until after", Filter{Until: at.Add(time.Second)}, true},
		{"all of them", Filter{Sites: []string{"petition"}, ASNs: []uint32{64500}, Verdicts: []string{"spend"},
			Networks: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, Since: at.Add(-time.Hour), Until: at.Add(time.Hour)}, true},
		{"all but one", Filter{Sites: []string{"petition"}, ASNs: []uint32{64501}, Verdicts: []string{"spend"}}, false},
	}
	for _, tc := range cases {
		if got := tc.filter.Match(&e); got != tc.match {
			t.Errorf("%s: match %v, want %v", tc.name, got, tc.match)
		}
	}
	// The stopped filter keeps what observe mode forwarded and enforce
	// would not have.
	held := e
	held.Verdict, held.Observed = "hold", true
	if f := (Filter{Stopped: true}); !f.Match(&held) {
		t.Error("stopped does not match a held signature")
	}
	// An address written IPv4-mapped still falls in an IPv4 network.
	mapped := e
	mapped.IP = netip.MustParseAddr("::ffff:198.51.100.9")
	if f := (Filter{Networks: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}); !f.Match(&mapped) {
		t.Error("IPv4-mapped address not in its network")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sampleLine))
	f.Add([]byte(withTS(`"2026-12-01T23:46:31.471+0000"`)))
	f.Add([]byte(withTS(`1796168791471198600`)))
	f.Add([]byte(`{"logger":"http.handlers.rempart.journal","id":"x","verdict":"spend","ip":"::1","ts":1}`))
	f.Add([]byte(`{"logger":"http.handlers.rempart.journal"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			return
		}
		if e.ID == "" || e.Verdict == "" || !e.IP.IsValid() || e.Time.IsZero() && !bytes.Contains(b, []byte(`"ts"`)) {
			t.Fatalf("entry %+v from %q", e, b)
		}
	})
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(sampleLine + "\n" + sampleLine))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(sampleLine + "\n"))
	zw.Close()
	f.Add(gz.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		entries := 0
		st, _ := Read(bytes.NewReader(b), func(Entry, []byte) error { entries++; return nil })
		if st.Entries != entries || st.Entries+st.Unreadable > st.Lines {
			t.Fatalf("stats %+v with %d entries", st, entries)
		}
	})
}

// TestReadLongLineNamingTheJournal: a client makes an access log line over
// MaxLine (a big header) whose URI names the journal's logger; it is
// another log's line, not an unreadable journal line that rempart journal
// reports to the staff.
func TestReadLongLineNamingTheJournal(t *testing.T) {
	access := func(uri string) string {
		return `{"level":"info","ts":1796168790.5,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"203.0.113.7","remote_port":"40000","client_ip":"203.0.113.7","proto":"HTTP/1.1","method":"GET","host":"petition.example.org","uri":"` +
			uri + `","headers":{"X-Pad":["` + strings.Repeat("a", MaxLine) + `"]}}}`
	}
	for _, tc := range []struct {
		name, line     string
		wantUnreadable int
	}{
		{"uri naming the logger", access("/" + LoggerName), 0},
		{"uri quoting the logger's field", access(`/\"logger\":\"` + LoggerName + `\"`), 0},
		{"a journal line cut short", `{"level":"info","ts":1796168790,"logger":"` + LoggerName + `","path":"` + strings.Repeat("y", MaxLine), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const tried = 100
			log := strings.Repeat(tc.line+"\n", tried) + sampleLine + "\n"
			st, err := Read(strings.NewReader(log), func(Entry, []byte) error { return nil })
			if err != nil || st.Lines != tried+1 || st.Entries != 1 || st.Unreadable != tc.wantUnreadable*tried {
				t.Fatalf("%d long lines: %+v, %v; want %d unreadable", tried, st, err, tc.wantUnreadable*tried)
			}
		})
	}
}
