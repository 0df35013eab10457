package caddymodule

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/rempart/rempart/asn"
	"github.com/rempart/rempart/journal"
)

const journalUsage = "[--site <name>]... [--asn <AS>]... [--network <cidr>]... [--class <name>]... [--verdict <v>]... [--stopped] [--since <time>] [--until <time>] [--format json|csv|ids] <file>..."

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "journal",
		Usage: journalUsage,
		Short: "Finds signatures in the shield's journal, to purge a bad batch",
		Long: `Reads the signature journal (the log named http.handlers.rempart.journal,
written by a Caddy log block with format json; see the README) and prints
the signatures that match every criterion given, with a count on standard
error:

	$ rempart journal --asn AS64500 --since 2026-12-01T22:00:00Z --format csv signatures.log
	time,site,id,verdict,observed,ip,network,asn,org,class,paid_bits,held,status,method,path
	2026-12-01T22:03:11.471Z,petition,add7381fff6773a5a93aae37,spend,false,198.51.100.9,...
	journal: 1 file, 5210 lines, 5210 signatures, 412 match

Each signature reached the petition with its id in the Rempart-Signature
request header: a petition (or an access log) that keeps it can delete
exactly the rows of the batch; otherwise match them by time and address.

--stopped keeps what enforce would not have forwarded: the signatures
observe mode let through whose verdict is not "spend".

--asn, --network, --class, --verdict and --site may be repeated (any of
their values matches). --since and --until take RFC 3339 times
(2026-12-01T22:00:00Z) or a date (2026-12-01, midnight UTC); --until is
excluded. Files may be gzip-compressed (Caddy's rolled logs); "-" reads
standard input. Lines of other logs in the files are skipped.

--format json (the default) prints the matching lines as they are in the
journal, csv prints a header and a row each, ids the ids alone.

Exits with status 1 if a flag is malformed or a file cannot be read;
journal lines that cannot be read (or over 64 KiB) are counted on
standard error, with the first one's number and why. Lines of other logs
over 64 KiB are skipped unread.`,
		CobraFunc: func(cmd *cobra.Command) {
			var flags journalFlags
			cmd.Flags().StringArrayVar(&flags.sites, "site", nil, "the shield's site name; may be repeated")
			cmd.Flags().StringArrayVar(&flags.asns, "asn", nil, "AS number (AS64500 or 64500); may be repeated")
			cmd.Flags().StringArrayVar(&flags.networks, "network", nil, "client network, a CIDR prefix or an address; may be repeated")
			cmd.Flags().StringArrayVar(&flags.classes, "class", nil, "network class (hosting...); may be repeated")
			cmd.Flags().StringArrayVar(&flags.verdicts, "verdict", nil, "verdict (spend, hold, challenge, limit, deny, refuse); may be repeated")
			cmd.Flags().BoolVar(&flags.stopped, "stopped", false, "only what enforce would not have forwarded (verdict other than spend)")
			cmd.Flags().StringVar(&flags.since, "since", "", "from this time on (RFC 3339, or a date)")
			cmd.Flags().StringVar(&flags.until, "until", "", "before this time (RFC 3339, or a date)")
			cmd.Flags().StringVar(&flags.format, "format", "json", "output: json, csv or ids")
			cmd.RunE = func(cmd *cobra.Command, args []string) error {
				return flags.run(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args)
			}
		},
	})
}

// journalFlags are the flags of `rempart journal`.
type journalFlags struct {
	sites, asns, networks, classes, verdicts []string
	stopped                                  bool
	since, until, format                     string
}

// filter checks the flags and returns the filter they describe.
func (f *journalFlags) filter() (journal.Filter, error) {
	filter := journal.Filter{Sites: f.sites, Classes: f.classes, Verdicts: f.verdicts, Stopped: f.stopped}
	for _, a := range f.asns {
		n, err := asn.ParseNumber(a)
		if err != nil {
			return filter, fmt.Errorf("--asn %q: %w", a, err)
		}
		filter.ASNs = append(filter.ASNs, n)
	}
	for _, s := range f.networks {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			addr, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return filter, fmt.Errorf("--network %q: want a CIDR prefix or an address", s)
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		filter.Networks = append(filter.Networks, p.Masked())
	}
	var err error
	if filter.Since, err = journalTime("--since", f.since); err != nil {
		return filter, err
	}
	if filter.Until, err = journalTime("--until", f.until); err != nil {
		return filter, err
	}
	switch f.format {
	case "json", "csv", "ids":
	default:
		return filter, fmt.Errorf("--format %q: want json, csv or ids", f.format)
	}
	return filter, nil
}

func journalTime(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time (2026-12-01T22:00:00Z) or a date (2026-12-01)", flag, s)
}

var journalCSVHeader = []string{"time", "site", "id", "verdict", "observed", "ip", "network", "asn", "org", "class",
	"paid_bits", "held", "status", "method", "path"}

func (f *journalFlags) run(stdin io.Reader, stdout, stderr io.Writer, files []string) error {
	filter, err := f.filter()
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return errors.New("give the journal's files (- for standard input)")
	}
	out := csv.NewWriter(stdout)
	if f.format == "csv" {
		if err := out.Write(journalCSVHeader); err != nil {
			return err
		}
	}
	matched := 0
	emit := func(e journal.Entry, raw []byte) error {
		if !filter.Match(&e) {
			return nil
		}
		matched++
		var err error
		switch f.format {
		case "json":
			_, err = fmt.Fprintf(stdout, "%s\n", escapeC1(raw))
		case "ids":
			_, err = fmt.Fprintln(stdout, asn.CleanText(e.ID))
		case "csv":
			row := []string{e.Time.UTC().Format(time.RFC3339Nano), e.Site, e.ID, e.Verdict,
				strconv.FormatBool(e.Observed), e.IP.String(), e.Network.String(), asnText(e.ASN), e.Org, e.Class,
				strconv.Itoa(e.PaidBits), strconv.FormatBool(e.Held), strconv.Itoa(e.Status), e.Method, e.Path}
			for i := range row {
				row[i] = spreadsheetText(asn.CleanText(row[i]))
			}
			err = out.Write(row)
		}
		return err
	}
	var total journal.Stats
	for _, name := range files {
		st, err := readJournalFile(stdin, name, emit)
		total.Lines += st.Lines
		total.Entries += st.Entries
		total.Unreadable += st.Unreadable
		if total.FirstUnreadable == "" && st.FirstUnreadable != "" {
			total.FirstUnreadable = name + ": " + st.FirstUnreadable
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	out.Flush()
	if err := out.Error(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "journal: %d file(s), %d lines, %d signatures, %d match\n", len(files), total.Lines, total.Entries, matched)
	if total.Unreadable > 0 {
		// Why a line is unreadable may quote its id.
		fmt.Fprintf(stderr, "journal: %d unreadable journal lines, the first at %s\n", total.Unreadable, asn.CleanText(total.FirstUnreadable))
	}
	return nil
}

func readJournalFile(stdin io.Reader, name string, fn func(journal.Entry, []byte) error) (journal.Stats, error) {
	if name == "-" {
		return journal.Read(stdin, fn)
	}
	file, err := os.Open(name)
	if err != nil {
		return journal.Stats{}, err
	}
	defer file.Close()
	return journal.Read(file, fn)
}

// spreadsheetText keeps a spreadsheet from reading a CSV cell as a
// formula (an organisation name or a method such as "=HYPERLINK(...)"
// or "+1+1"): a cell that starts as one does is prefixed with an
// apostrophe, as OWASP advises.
func spreadsheetText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// escapeC1 writes the C1 control characters of a JSON line (which JSON
// allows unescaped in strings, and some terminals act on) and its
// bidirectional controls (which reorder what is shown) as \u escapes,
// a byte that is not UTF-8 (a lone 0x9b is CSI to a terminal in 8-bit
// mode; encoding/json reads it as U+FFFD) as \ufffd, and a carriage
// return (JSON whitespace, which sends the cursor back over the line) as a
// space: the line means the same.
func escapeC1(line []byte) []byte {
	if utf8.Valid(line) && !bytes.ContainsFunc(line, func(r rune) bool { return r == '\r' || escapedInJSON(r) }) {
		return line
	}
	var b bytes.Buffer
	for i := 0; i < len(line); {
		r, size := utf8.DecodeRune(line[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\ufffd`)
		case r == '\r':
			b.WriteByte(' ')
		case escapedInJSON(r):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.Write(line[i : i+size])
		}
		i += size
	}
	return b.Bytes()
}

func asnText(n uint32) string {
	if n == 0 {
		return ""
	}
	return "AS" + strconv.FormatUint(uint64(n), 10)
}

// escapedInJSON reports whether escapeC1 writes r as a \u escape.
func escapedInJSON(r rune) bool {
	return r >= 0x7f && r <= 0x9f || unicode.Is(unicode.Bidi_Control, r)
}
