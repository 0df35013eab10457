package journal

import (
	"net/netip"
	"slices"
	"time"
)

// Filter chooses entries: an entry matches when it meets every criterion
// given (a list matches when any of its values does); the zero Filter
// matches all.
type Filter struct {
	// Sites, ASNs, Classes and Verdicts match the entry's.
	Sites    []string
	ASNs     []uint32
	Classes  []string
	Verdicts []string
	// Networks match an entry whose address is in one of them.
	Networks []netip.Prefix
	// Stopped matches what enforce would not have forwarded: an entry
	// whose verdict is not "spend" (only observe mode forwards those).
	Stopped bool
	// Since and Until bound the entry's time: Since included, Until not.
	Since, Until time.Time
}

// Match reports whether e meets f.
func (f *Filter) Match(e *Entry) bool {
	switch {
	case len(f.Sites) > 0 && !slices.Contains(f.Sites, e.Site),
		len(f.ASNs) > 0 && !slices.Contains(f.ASNs, e.ASN),
		len(f.Classes) > 0 && !slices.Contains(f.Classes, e.Class),
		len(f.Verdicts) > 0 && !slices.Contains(f.Verdicts, e.Verdict),
		f.Stopped && e.Verdict == "spend",
		!f.Since.IsZero() && e.Time.Before(f.Since),
		!f.Until.IsZero() && !e.Time.Before(f.Until):
		return false
	}
	if len(f.Networks) == 0 {
		return true
	}
	ip := e.IP.Unmap()
	return slices.ContainsFunc(f.Networks, func(p netip.Prefix) bool { return p.Contains(ip) })
}
