package asn

import (
	"context"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultWatchInterval is how often Watch polls when given no interval.
const DefaultWatchInterval = time.Minute

// Database is an IP-to-ASN table backed by a file that can be reloaded
// while lookups go on: lookups read the current Table through an atomic
// pointer and never wait for a reload.
type Database struct {
	path  string
	table atomic.Pointer[Table]

	mu sync.Mutex // serialises Reload; guards the fields below
	// loaded describes the file the current table came from, failed
	// the last file that did not parse (with its error), so that an
	// unchanged file is never read twice.
	loaded    os.FileInfo
	failed    os.FileInfo
	failedErr error
}

// Open loads the database at path (see Load).
func Open(path string) (*Database, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	t, err := Load(path)
	if err != nil {
		return nil, err
	}
	d := &Database{path: path, loaded: fi}
	d.table.Store(t)
	return d, nil
}

// Path returns the file the database is loaded from.
func (d *Database) Path() string { return d.path }

// Table returns the current table.
func (d *Database) Table() *Table { return d.table.Load() }

// Lookup looks addr up in the current table; see Table.Lookup.
func (d *Database) Lookup(addr netip.Addr) (Info, bool) {
	return d.table.Load().Lookup(addr)
}

// Reload re-reads the file if its identity, size or modification time
// changed since it was last read, and reports whether the table was
// replaced. On error the current table stays in place: a download cut
// short or a wrong file never empties the table. A file that failed
// keeps returning its error, without being parsed again, until it
// changes.
func (d *Database) Reload() (changed bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fi, err := os.Stat(d.path)
	if err != nil {
		return false, err
	}
	if sameFile(fi, d.loaded) {
		return false, nil
	}
	if sameFile(fi, d.failed) {
		return false, d.failedErr
	}
	t, err := Load(d.path)
	if err != nil {
		d.failed, d.failedErr = fi, err
		return false, err
	}
	// The file may have changed between Stat and Load; then the next
	// Reload sees a new stamp and reads it again, which is harmless.
	d.loaded, d.failed, d.failedErr = fi, nil, nil
	d.table.Store(t)
	return true, nil
}

// sameFile reports whether a and b describe the same, unmodified file.
// Comparing identity too catches a new file renamed into place with the
// same size and time, as some download tools preserve the server's time.
func sameFile(a, b os.FileInfo) bool {
	return a != nil && b != nil &&
		os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// Watch polls the file every interval (DefaultWatchInterval if
// interval <= 0) until ctx is done, then returns; run it in its own
// goroutine. A file that changed is reloaded once it has stayed the
// same for a whole interval, so that a download writing it in place is
// not read half-way. onReload, if not nil, is called with the new table
// after each successful reload, and with the error when a reload
// fails; an error that persists (a missing or broken file left as it
// is) is reported once, not at every poll.
func (d *Database) Watch(ctx context.Context, interval time.Duration, onReload func(t *Table, err error)) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var (
		lastSeen os.FileInfo
		lastErr  string
	)
	report := func(t *Table, err error) {
		switch {
		case err != nil:
			if err.Error() != lastErr && onReload != nil {
				onReload(nil, err)
			}
			lastErr = err.Error()
		case t != nil:
			lastErr = ""
			if onReload != nil {
				onReload(t, nil)
			}
		default:
			lastErr = ""
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		fi, err := os.Stat(d.path)
		if err != nil {
			report(nil, err)
			lastSeen = nil
			continue
		}
		settled := sameFile(fi, lastSeen)
		lastSeen = fi
		if !settled {
			continue
		}
		changed, err := d.Reload()
		if changed {
			report(d.Table(), nil)
		} else {
			report(nil, err)
		}
	}
}
