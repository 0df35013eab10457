package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"unicode"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/rempart/rempart/asn"
	"github.com/rempart/rempart/policies"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "policy",
		Usage: "validate|test <file> [--class <name>=<file>]... [--no-builtin-hosting]",
		Short: "Checks and tests rempart policy files",
		Long: `Tools for rempart policy files (see docs/policy.md).

"validate" checks a policy as the server does when it loads it, its tests
included, and lists every problem as file:line: message:

	$ rempart policy validate policy.yaml
	policy.yaml: ok (5 rules, 4 tests)

"test" runs the policy's tests section and reports each test:

	$ rempart policy test policy.yaml
	ok   a signer at home is challenged with the defaults
	FAIL health check (line 61): expected allow by rule "health", got challenge by the defaults
	1 passed, 1 failed`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(policyValidateCommand(), policyTestCommand())
		},
	})
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "explain",
		Usage: explainUsage,
		Short: "Explains what a policy decides for a sample request",
		Long: `Explains what a policy decides for a sample request: the network the
client address is in (looked up in the IP-to-ASN database, as
"rempart asn lookup" does), each limit rule that counts the request, the
rule that decides and why, and the action:

	$ rempart explain --policy policy.yaml --asn-db GeoLite2-ASN.mmdb \
		--ip 52.94.1.1 --method POST --path /sign
	lookup:   52.94.1.1  AS16509  AMAZON-02  class=hosting
	request:  POST /sign
	network:  52.94.1.1, AS16509 "AMAZON-02", class hosting
	limit:    signatures-per-ip (line 25), signatures per ip at 20/h, which matches every request
	limit:    hosting-signatures (line 36), signatures per asn at 10/h, because class is hosting
	limit:    hosting-challenges (line 45), challenges per asn at 120/m, because class is hosting
	decided:  rule hosting-harder (line 56), because class is hosting
	action:   challenge at 20 bits (default 18 +2), the pass buys 1 signature

With --admin (such as localhost:2019), the running Caddy answers instead,
through its admin API's /rempart/explain, for every site: its policy in
force, where the client stands against each budget, and what the flood
adds to the difficulty now.

The request is described by --ip, --method, --path, --host,
--user-agent (or --ua) and --header, as the admin API's
/rempart/explain takes ip, method, path, host, user_agent (or ua) and
header.

Without --policy, explains the default policy. Without --asn-db, or for an
address the database lacks, the network is unknown: no ASN, org or class
matches it, and per-asn budgets count it by its network prefix (/24 for
IPv4, /48 for IPv6 unless the server sets ipv4_prefix or ipv6_prefix).
The policy's classes are the built-in hosting class and those given with
--class.

Exits with status 1 if the policy, the database or a class file does not
load, or a flag is malformed.`,
		CobraFunc: func(cmd *cobra.Command) {
			var flags explainFlags
			cmd.Args = cobra.NoArgs
			cmd.RunE = func(cmd *cobra.Command, _ []string) error {
				return flags.run(cmd)
			}
			flags.register(cmd)
		},
	})
}

const explainUsage = "--ip <address> [--policy <file>] [--asn-db <file>] [--class <name>=<file>]... [--admin <address>] " +
	"[--method <method>] [--path <path>] [--host <host>] [--user-agent <user agent>] [--header <name>=<value>]..."

// classFlags are the flags that define the server's network classes.
type classFlags struct {
	classes          []string
	noBuiltinHosting bool
}

func (f *classFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.classes, "class", nil, "class of networks as <name>=<file of AS numbers>; may be repeated")
	cmd.Flags().BoolVar(&f.noBuiltinHosting, "no-builtin-hosting", false, "leave out the built-in hosting class")
}

// load builds the classes as the rempart app does: those given with
// --class in the order of their names, then the built-in hosting class.
func (f *classFlags) load() (*networkClasses, error) {
	defs := make(map[string]ClassConfig)
	for _, c := range f.classes {
		name, file, ok := strings.Cut(c, "=")
		if !ok || file == "" {
			return nil, fmt.Errorf("--class %q: want <name>=<file>", c)
		}
		def := defs[name]
		def.Files = append(def.Files, file)
		defs[name] = def
	}
	classes, err := newNetworkClasses(defs, !f.noBuiltinHosting)
	if err != nil {
		return nil, fmt.Errorf("--class: %w", err)
	}
	return classes, nil
}

// parseOptions returns the options a policy is loaded with: the classes
// the flags define.
func (f *classFlags) parseOptions() (*networkClasses, policies.ParseOptions, error) {
	classes, err := f.load()
	if err != nil {
		return nil, policies.ParseOptions{}, err
	}
	names := classes.names()
	if names == nil {
		// A nil Classes accepts any class; no class at all is an empty list.
		names = []string{}
	}
	return classes, policies.ParseOptions{Classes: names}, nil
}

// loadPolicy loads the policy at path. When the policy has problems, it
// prints them to standard error, one per line as file:line: message, and
// returns an error that the command line does not print again.
func loadPolicy(cmd *cobra.Command, opts policies.ParseOptions, path string) (*policies.Policy, error) {
	p, err := opts.Load(path)
	if err == nil {
		return p, nil
	}
	var verr *policies.ValidationError
	if !errors.As(err, &verr) {
		return nil, err // such as "reading policy: open policy.yaml: no such file or directory"
	}
	for _, problem := range verr.Problems {
		fmt.Fprintln(cmd.ErrOrStderr(), problem)
	}
	cmd.SilenceErrors = true
	return nil, fmt.Errorf("%s: %s", path, plural(len(verr.Problems), "problem"))
}

// plural writes n and noun, in the plural unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func policyValidateCommand() *cobra.Command {
	var flags classFlags
	cmd := &cobra.Command{
		Use:   "validate <file> [--class <name>=<file>]... [--no-builtin-hosting]",
		Short: "Checks a policy file and runs its tests",
		Long: `Checks a policy file as the server does when it loads it: its syntax,
rules, classes, and its tests section, which must pass. Prints

	policy.yaml: ok (5 rules, 4 tests)

or every problem, one per line as file:line: message, on standard error.
The classes a rule may name are the built-in hosting class and those given
with --class.

Exits with status 1 if the policy has a problem or does not load.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, opts, err := flags.parseOptions()
			if err != nil {
				return err
			}
			p, err := loadPolicy(cmd, opts, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%s, %s)\n", args[0],
				plural(len(p.Rules()), "rule"), plural(len(policies.RunTests(p)), "test"))
			return nil
		},
	}
	flags.register(cmd)
	return cmd
}

func policyTestCommand() *cobra.Command {
	var flags classFlags
	cmd := &cobra.Command{
		Use:   "test <file> [--class <name>=<file>]... [--no-builtin-hosting]",
		Short: "Runs the tests of a policy file",
		Long: `Runs the tests section of a policy file and prints one line per test:

	ok   a signer at home is challenged with the defaults
	FAIL health check (line 61): expected allow by rule "health", got challenge by the defaults
	1 passed, 1 failed

Exits with status 1 if a test fails or the policy does not load (its
problems are then listed as "rempart policy validate" does).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, opts, err := flags.parseOptions()
			if err != nil {
				return err
			}
			opts.SkipTests = true
			p, err := loadPolicy(cmd, opts, args[0])
			if err != nil {
				return err
			}
			return reportTests(cmd.OutOrStdout(), args[0], policies.RunTests(p))
		},
	}
	flags.register(cmd)
	return cmd
}

// reportTests prints results and fails if any test failed.
func reportTests(w io.Writer, path string, results []policies.TestResult) error {
	failed := 0
	for _, r := range results {
		if r.Passed() {
			fmt.Fprintf(w, "ok   %s\n", r.Name)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL %s (line %d): %s\n", r.Name, r.Line, r.Failure)
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", len(results)-failed, failed)
	if failed > 0 {
		return fmt.Errorf("%s: %s of %d failed", path, plural(failed, "test"), len(results))
	}
	return nil
}

// explainFlags are the flags of `rempart explain`.
type explainFlags struct {
	classFlags
	policy  string
	db      string
	ip      string
	method  string
	path    string
	host    string
	ua      string
	headers []string
	admin   string
}

func (f *explainFlags) register(cmd *cobra.Command) {
	f.classFlags.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.policy, "policy", "", "policy file (default: the default policy)")
	fl.StringVar(&f.db, "asn-db", "", "IP-to-ASN database file, to find the client's network")
	fl.StringVar(&f.ip, "ip", "", "client IP address (required)")
	fl.StringVar(&f.method, "method", http.MethodGet, "request method")
	fl.StringVar(&f.path, "path", "/", "request path")
	fl.StringVar(&f.host, "host", "", "request host")
	fl.StringVar(&f.ua, "user-agent", "", "User-Agent header")
	fl.StringVar(&f.ua, "ua", "", "the same as --user-agent")
	fl.StringArrayVar(&f.headers, "header", nil, "request header as <name>=<value>; may be repeated")
	fl.StringVar(&f.admin, "admin", "", "ask the running Caddy's admin endpoint, such as localhost:2019: its live policy, budgets and flood")
}

func (f *explainFlags) run(cmd *cobra.Command) error {
	if f.ip == "" {
		return errors.New("--ip: give the client's IP address")
	}
	// A client's address has no zone (Caddy drops it), and a zone is any
	// text, a newline included.
	ip, err := netip.ParseAddr(f.ip)
	if err != nil || ip.Zone() != "" {
		return fmt.Errorf("--ip %q: not an IP address", f.ip)
	}
	ip = ip.Unmap()
	if err := checkSample(f.method, f.path, f.host); err != nil {
		return fmt.Errorf("--%w", err)
	}
	header := make(http.Header)
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n:") {
			return fmt.Errorf("--header %q: want <name>=<value>, such as Accept-Language=fr", h)
		}
		header.Add(name, strings.TrimSpace(value))
	}
	if f.ua != "" {
		header.Set("User-Agent", f.ua)
	}
	if len(header.Values("Host")) > 0 {
		return errors.New(`--header: give the host with --host, not a Host header`)
	}
	if f.admin != "" {
		return f.explainLive(cmd.OutOrStdout())
	}

	classes, opts, err := f.parseOptions()
	if err != nil {
		return err
	}
	p := policies.Default()
	if f.policy != "" {
		if p, err = loadPolicy(cmd, opts, f.policy); err != nil {
			return err
		}
	}
	app := &App{classes: classes}
	if f.db != "" {
		db, err := asn.Open(f.db)
		if err != nil {
			return fmt.Errorf("ASN database: %w", err)
		}
		app.db = &watchedDatabase{Database: db}
	}
	id := app.Identify(ip)

	w := cmd.OutOrStdout()
	if id.Tunneled.IsValid() {
		fmt.Fprintf(w, "address:  %s\n", tunnelNote(id))
	}
	fmt.Fprintf(w, "lookup:   %s\n", describeLookup(id, f.db != ""))
	req := policies.Request{
		Method:    strings.ToUpper(f.method),
		Path:      f.path,
		Host:      f.host,
		IP:        id.IP,
		ASN:       id.ASN,
		Org:       id.Org,
		Class:     id.Class,
		UserAgent: header.Get("User-Agent"),
		Header:    header,
	}
	req.MarkSignature(p)
	fmt.Fprint(w, p.Explain(&req))
	return nil
}

// checkSample refuses, for `rempart explain` and /rempart/explain alike,
// a method, path or host that no HTTP request holds: a control character
// in one would also write a forged line into the explanation. The error
// starts with the parameter's name.
func checkSample(method, path, host string) error {
	if _, err := policies.CanonicalMethod(method); err != nil {
		return fmt.Errorf("method %q: want a method such as GET or POST", method)
	}
	if !strings.HasPrefix(path, "/") || strings.ContainsFunc(path, unicode.IsControl) {
		return fmt.Errorf("path %q: want a path starting with /, with no control character", path)
	}
	if strings.ContainsFunc(host, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
		return fmt.Errorf("host %q: want a host name, such as petition.example.org", host)
	}
	return nil
}

// describeLookup says what the ASN database knows of the client, as
// `rempart asn lookup` prints it, or why its network is unknown.
func describeLookup(id Identity, haveDB bool) string {
	if id.Known {
		return identityLine(id, id.IP.String())
	}
	why := "not found in the ASN database"
	if !haveDB {
		why = "unknown network (no --asn-db)"
	}
	bits := DefaultIPv6Prefix
	if id.IP.Is4() {
		bits = DefaultIPv4Prefix
	}
	prefix, _ := id.IP.Prefix(bits)
	return fmt.Sprintf("%s  %s: no ASN, org or class; per-asn budgets count it by its prefix %s", id.IP, why, prefix)
}
