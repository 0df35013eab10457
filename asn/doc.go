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
package asn
