package caddymodule

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/rempart/rempart/asn"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "asn",
		Usage: "lookup --db <file> [--class <name>=<file>]... [<ip>...]",
		Short: "Looks up the network of IP addresses in an IP-to-ASN database",
		Long: `Tools for the IP-to-ASN database that the rempart app reads (asn_db).

"lookup" prints, for each address, the autonomous system that announces
it, its organisation and its class, as the shield sees them:

	$ rempart asn lookup --db GeoLite2-ASN.mmdb 52.94.1.1
	52.94.1.1  AS16509  AMAZON-02  class=hosting`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(lookupCommand())
		},
	})
}

// lookupFlags are the flags of `rempart asn lookup`.
type lookupFlags struct {
	db               string
	classes          []string
	noBuiltinHosting bool
}

func lookupCommand() *cobra.Command {
	var flags lookupFlags
	cmd := &cobra.Command{
		Use:   "lookup --db <file> [--class <name>=<file>]... [<ip>...]",
		Short: "Prints the AS number, organisation and class of IP addresses",
		Long: `Prints, for each IP address, the autonomous system that announces it, the
organisation the database names, and the first class containing it:

	203.0.113.7  AS64500  Example Hosting  class=hosting

or "not found". Classes are checked as the rempart app checks them: those
given with --class in the order of their names, then the built-in hosting
class. Without addresses on the command line, reads one per line from
standard input. The database may be a MaxMind .mmdb, an ip-location-db CSV
or an iptoasn TSV, gzip-compressed or not.

Exits with status 1 if the database does not load or an address is not an
IP address.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return flags.run(cmd, args)
		},
	}
	cmd.Flags().StringVar(&flags.db, "db", "", "IP-to-ASN database file (required)")
	cmd.Flags().StringArrayVar(&flags.classes, "class", nil, "class of networks as <name>=<file of AS numbers>; may be repeated")
	cmd.Flags().BoolVar(&flags.noBuiltinHosting, "no-builtin-hosting", false, "leave out the built-in hosting class")
	return cmd
}

func (f *lookupFlags) run(cmd *cobra.Command, args []string) error {
	if f.db == "" {
		return errors.New("--db: give the IP-to-ASN database file")
	}
	defs := make(map[string]ClassConfig)
	for _, c := range f.classes {
		name, file, ok := strings.Cut(c, "=")
		if !ok || file == "" {
			return fmt.Errorf("--class %q: want <name>=<file>", c)
		}
		def := defs[name]
		def.Files = append(def.Files, file)
		defs[name] = def
	}
	classes, err := newNetworkClasses(defs, !f.noBuiltinHosting)
	if err != nil {
		return fmt.Errorf("--class: %w", err)
	}
	db, err := asn.Open(f.db)
	if err != nil {
		return fmt.Errorf("ASN database: %w", err)
	}
	// The same lookup as the server's, so that the answer is what the
	// shield sees.
	app := &App{classes: classes, db: &watchedDatabase{Database: db}}

	var bad int
	lookup := func(s string) {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			bad++
			fmt.Fprintf(cmd.ErrOrStderr(), "%q: not an IP address\n", s)
			return
		}
		printIdentity(cmd.OutOrStdout(), app.Identify(ip))
	}
	if len(args) > 0 {
		for _, arg := range args {
			lookup(arg)
		}
	} else {
		sc := bufio.NewScanner(cmd.InOrStdin())
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				lookup(line)
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("reading addresses: %w", err)
		}
	}
	switch {
	case bad == 1:
		return errors.New("an address is not an IP address")
	case bad > 1:
		return fmt.Errorf("%d addresses are not IP addresses", bad)
	}
	return nil
}

// printIdentity prints one line for id, named by the address it was
// asked for: a 6to4 or Teredo address says the IPv4 address it maps to.
func printIdentity(w io.Writer, id Identity) {
	label := id.IP.String()
	if id.Tunneled.IsValid() {
		_, tunnel := asn.ClientAddr(id.Tunneled)
		label = fmt.Sprintf("%s (%s of %s)", id.Tunneled, tunnel, id.IP)
	}
	fmt.Fprintln(w, identityLine(id, label))
}

// identityLine describes id's network after label.
func identityLine(id Identity, label string) string {
	if !id.Known {
		return label + "  not found"
	}
	org := id.Org
	if org == "" {
		org = "-"
	}
	class := ""
	if id.Class != "" {
		class = "  class=" + id.Class
	}
	return fmt.Sprintf("%s  AS%d  %s%s", label, id.ASN, org, class)
}

// tunnelNote says that a client's 6to4 or Teredo address stands for the
// IPv4 address it carries, by which the client is known.
func tunnelNote(id Identity) string {
	_, tunnel := asn.ClientAddr(id.Tunneled)
	return fmt.Sprintf("%s is a %s address: it maps to IPv4 %s, whose network, budgets and rules apply", id.Tunneled, tunnel, id.IP)
}
