// Package journal reads the signature journal the shield writes: one JSON
// line per signature it forwarded, in the log named LoggerName (Caddy's
// `log` block with `format json` writes it), so that a batch of
// signatures (a network, an hour, what observe mode would have stopped)
// can be found and purged from the petition.
package journal

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// LoggerName is the name of the shield's journal log.
const LoggerName = "http.handlers.rempart.journal"

// MaxLine is the longest line read: a journal line is under 1 KiB, so a
// longer one is not the journal's, and reading it whole would let one
// file hold any amount of memory.
const MaxLine = 64 << 10

// Entry is one forwarded signature.
type Entry struct {
	// Time is when the line was written, after the petition answered.
	Time time.Time
	// Site is the shield's site; ID is the id the petition got in the
	// Rempart-Signature header.
	Site, ID string
	// Verdict is what the shield decided: "spend" when it forwarded the
	// signature itself; in observe mode (Observed) what enforce would have
	// done with it: hold, challenge, limit, deny, refuse or spend.
	Verdict  string
	Observed bool
	// Host, Method and Path are the signature's request.
	Host, Method, Path string
	// Rule is the policy rule that decided.
	Rule string
	// Difficulty is the work the signature needed, PaidBits the work its
	// pass was bought with (0 when a rule allowed it without one), Pass
	// the pass's id.
	Difficulty, PaidBits int
	Pass                 string
	// Held reports a signature held while its browser solved a challenge.
	Held bool
	// IP is the client's address, Network the prefix its tokens were bound
	// to, ASN, Org and Class its network's (ASN 0 when unknown).
	IP      netip.Addr
	Network netip.Prefix
	ASN     uint32
	Org     string
	Class   string
	// Status is the petition's answer; Error what went wrong reaching it.
	Status int
	Error  string
}

// line is a journal line as Caddy's JSON encoder writes it.
type line struct {
	Logger     string          `json:"logger"`
	TS         json.RawMessage `json:"ts"`
	Site       string          `json:"site"`
	ID         string          `json:"id"`
	Verdict    string          `json:"verdict"`
	Observed   bool            `json:"observed"`
	Host       string          `json:"host"`
	Method     string          `json:"method"`
	Path       string          `json:"path"`
	Rule       string          `json:"rule"`
	Difficulty int             `json:"difficulty"`
	PaidBits   int             `json:"paid_bits"`
	Pass       string          `json:"pass"`
	Held       bool            `json:"held"`
	IP         string          `json:"ip"`
	Network    string          `json:"network"`
	ASN        uint32          `json:"asn"`
	Org        string          `json:"org"`
	Class      string          `json:"class"`
	Status     int             `json:"status"`
	Error      string          `json:"error"`
}

// loggerField is how a journal line names its logger. A line of another
// log holds the logger's name only in a string, where its quotes are
// escaped: an access log's URI can name the journal, not write this.
var loggerField = []byte(`"logger":"` + LoggerName + `"`)

// ErrNotJournal is Parse's answer for a line of another log.
var ErrNotJournal = errors.New("not a journal line")

// Parse reads one line of a log. A line of another logger, or that is not
// JSON, is ErrNotJournal; a journal line that cannot be read (no id, an
// address or a time that does not parse) is another error, saying why.
func Parse(b []byte) (Entry, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return Entry{}, ErrNotJournal
	}
	var l line
	if err := json.Unmarshal(b, &l); err != nil {
		if !bytes.Contains(b, loggerField) {
			return Entry{}, ErrNotJournal
		}
		return Entry{}, fmt.Errorf("journal line: %w", err)
	}
	if l.Logger != LoggerName {
		return Entry{}, ErrNotJournal
	}
	e := Entry{Site: l.Site, ID: l.ID, Verdict: l.Verdict, Observed: l.Observed, Host: l.Host, Method: l.Method,
		Path: l.Path, Rule: l.Rule, Difficulty: l.Difficulty, PaidBits: l.PaidBits, Pass: l.Pass, Held: l.Held,
		ASN: l.ASN, Org: l.Org, Class: l.Class, Status: l.Status, Error: l.Error}
	if e.ID == "" || e.Verdict == "" {
		return Entry{}, errors.New("journal line without id or verdict")
	}
	var err error
	if e.IP, err = netip.ParseAddr(l.IP); err != nil {
		return Entry{}, fmt.Errorf("journal line %s: ip: %w", e.ID, err)
	}
	if l.Network != "" && l.Network != "invalid Prefix" {
		if e.Network, err = netip.ParsePrefix(l.Network); err != nil {
			return Entry{}, fmt.Errorf("journal line %s: network: %w", e.ID, err)
		}
	}
	if e.Time, err = parseTime(l.TS); err != nil {
		return Entry{}, fmt.Errorf("journal line %s: ts: %w", e.ID, err)
	}
	return e, nil
}

// timeLayouts are the layouts of Caddy's time_format options that write
// a string, the zone given or local.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.000Z0700",  // iso8601
	"2006/01/02 15:04:05.000000000", // wall_nano
	"2006/01/02 15:04:05.000",       // wall_milli
	"2006/01/02 15:04:05",           // wall
	"02/Jan/2006:15:04:05 -0700",    // common_log
}

// parseTime reads ts as Caddy's time_format options write it: a number
// (seconds by default; milliseconds or nanoseconds, told apart by size),
// or a string in one of timeLayouts.
func parseTime(ts json.RawMessage) (time.Time, error) {
	if len(ts) == 0 {
		return time.Time{}, errors.New("missing")
	}
	if ts[0] == '"' {
		var s string
		if err := json.Unmarshal(ts, &s); err != nil {
			return time.Time{}, err
		}
		for _, layout := range timeLayouts {
			if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("%q is in no time format Caddy writes", s)
	}
	// Exactly from the digits when the number is written plainly: a
	// float64 keeps no more than microseconds of a time in seconds.
	whole, frac, _ := strings.Cut(string(ts), ".")
	n, err := strconv.ParseInt(whole, 10, 64)
	if err == nil && n >= 0 && len(frac) <= 9 && strings.Trim(frac, "0123456789") == "" {
		nanos, _ := strconv.Atoi((frac + "000000000")[:9])
		switch {
		case n < 1e11: // seconds, until the year 5138
			return time.Unix(n, int64(nanos)), nil
		case n < 1e14: // milliseconds
			return time.UnixMilli(n), nil
		default: // nanoseconds
			return time.Unix(0, n), nil
		}
	}
	var v float64
	if err := json.Unmarshal(ts, &v); err != nil {
		return time.Time{}, err
	}
	if v < 0 || v >= 1e11 || math.IsNaN(v) {
		return time.Time{}, fmt.Errorf("%s is not a time", ts)
	}
	sec, f := math.Modf(v)
	return time.Unix(int64(sec), int64(f*1e9)), nil
}

// Stats counts what Read went through.
type Stats struct {
	// Lines is every line read; Entries the journal's among them;
	// Unreadable the journal lines that did not parse.
	Lines, Entries, Unreadable int
	// FirstUnreadable is the first unreadable line's number and why.
	FirstUnreadable string
}

// Read calls fn with each journal entry of r, a log file as Caddy writes
// it, gzip-compressed or not (its roller compresses the files it rolls),
// with the line it was read from. Lines of other logs are skipped,
// unreadable journal lines counted. A line over MaxLine is skipped
// unread, counted as unreadable if it is the journal's: other logs write
// what clients send (an access log line holds every request header), so
// that a client can make one that long, and it must not hide the lines
// after it.
func Read(r io.Reader, fn func(e Entry, raw []byte) error) (Stats, error) {
	var st Stats
	br := bufio.NewReaderSize(r, MaxLine)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return st, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, MaxLine)
	}
	for {
		b, err := br.ReadSlice('\n')
		if len(b) > 0 || errors.Is(err, bufio.ErrBufferFull) {
			st.Lines++
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			journal := bytes.Contains(b[:min(len(b), 512)], loggerField)
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n') // the rest of the line, unread
			}
			if journal {
				st.Unreadable++
				if st.FirstUnreadable == "" {
					st.FirstUnreadable = fmt.Sprintf("line %d: longer than %d bytes", st.Lines, MaxLine)
				}
			}
		} else if len(b) > 0 {
			if ferr := st.line(b, fn); ferr != nil {
				return st, ferr
			}
		}
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			return st, fmt.Errorf("line %d: %w", st.Lines+1, err)
		}
	}
}

// line reads one line of Read's, whole.
func (st *Stats) line(b []byte, fn func(e Entry, raw []byte) error) error {
	b = bytes.TrimRight(b, "\r\n")
	e, err := Parse(b)
	switch {
	case errors.Is(err, ErrNotJournal):
		return nil
	case err != nil:
		st.Unreadable++
		if st.FirstUnreadable == "" {
			st.FirstUnreadable = fmt.Sprintf("line %d: %v", st.Lines, err)
		}
		return nil
	}
	st.Entries++
	return fn(e, b)
}
