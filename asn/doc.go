// Package asn maps client IP addresses to the autonomous systems (AS)
// that announce them, so that rempart can give each network its own
// budget: a flood from a few hundred rented servers comes from a handful
// of hosting networks, whatever the number of addresses.
//
// A [Table] holds one prefix trie for IPv4 and IPv6; [Load] fills it
// from a file, [Database] reloads that file when it changes, and
// [Classes] name sets of networks ("hosting", "vpn", ...), with a
// built-in hosting list ([HostingASNs]).
//
// # Free databases
//
// Load detects the format from the content, so any of these works as
// downloaded (gzip included):
//
//   - DB-IP "IP to ASN Lite": .mmdb or CSV, monthly, no account.
//     Licensed CC BY 4.0: the site must show an attribution to DB-IP.
//   - MaxMind GeoLite2-ASN: .mmdb, free account and license key
//     required; its EULA obliges you to install updates.
//   - IPinfo Lite: .mmdb (or CSV, not read here), free account token,
//     CC BY-SA 4.0 with attribution to IPinfo.
//   - iptoasn.com: ip2asn-v4.tsv.gz, ip2asn-v6.tsv.gz or
//     ip2asn-combined.tsv.gz, updated hourly, no account; the -u32
//     variant with integer addresses works too.
//   - ip-location-db "asn" CSV files (RouteViews and DB-IP data, CC BY
//     4.0), also published on npm as @ip-location-db/asn, "-num"
//     variants included. They come as one file per address family:
//     concatenate the IPv4 and IPv6 files to serve both from one table.
//
// Replace a database by writing the new file beside it and renaming it
// into place; Watch also waits for a changed file to stop changing
// before reading it.
//
// # Bounds on damaged and hostile files
//
// Databases come from third parties and are reloaded when they change,
// so a load must end quickly, with an error naming the file and the
// reason, whatever the file holds; the last good table stays in place.
// Work and memory stay proportional to the file's length:
//
//   - Any file: at most 1 GiB, after decompression (gzip bombs
//     included), and at most 8,388,608 (2^23) networks in the table,
//     about four times the largest free database; a CSV of millions of
//     tiny ranges, or of wide ranges that split into up to 254 prefixes
//     each, stops there. Organisation names shared by several AS
//     numbers are stored once.
//   - CSV and TSV: lines of at most 4 KiB. Load reads them as a stream
//     (see ParseReader), so a single line of a gigabyte is refused
//     after its first 4 KiB, without being held in memory; the first
//     data line must start within the first 64 KiB.
//   - MaxMind DB: the metadata must describe a tree of 24-, 28- or
//     32-bit records, IP version 4 or 6, whose node count fits in the
//     file. The walk of the search tree stops after 4(n+1) networks for
//     n nodes, which only a tree whose nodes are shared can exceed
//     (such a tree may have 2^128 paths). A record may nest maps and
//     arrays at most 32 deep and must end within the data section;
//     the distinct records decoded may not add up to more than twice
//     the data section, nor the distinct organisation names (at most
//     1 KiB each) to more than the data section: real writers store
//     each value once, while records forged to overlap would otherwise
//     take time quadratic in the file's length. A record that is a
//     pointer is followed once; a pointer to a pointer is refused, and
//     the reader library refuses pointer loops inside records and
//     bounds what one record may expand to.
//   - Organisation names, which whoever registers an AS chooses and
//     staff read in terminals, logs and the dashboard: control
//     characters but tab (a newline would forge a line of `rempart asn
//     lookup` or explain, an escape sequence drive the terminal),
//     bidirectional controls and invalid UTF-8 are each replaced by
//     U+FFFD.
package asn
