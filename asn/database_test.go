package asn

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// writeDB writes content to path with an explicit modification time, so
// that each version is distinguishable even on coarse-grained clocks.
func writeDB(t *testing.T, path, content string, version int) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2026, 1, 1, 0, 0, version, 0, time.UTC)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// replaceDB writes a new version of the file beside it and renames it
// into place, as a careful download script does, so that the watcher
// never sees it half-written.
func replaceDB(t *testing.T, path, content string, version int) {
	t.Helper()
	tmp := path + ".tmp"
	writeDB(t, tmp, content, version)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func lookupASN(d *Database, addr string) uint32 {
	info, _ := d.Lookup(mustAddr(addr))
	return info.ASN
}

func TestDatabaseReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "asn.csv")
	writeDB(t, path, "192.0.2.0,192.0.2.255,64500,One\n", 1)

	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if db.Path() != path || lookupASN(db, "192.0.2.1") != 64500 {
		t.Fatalf("after Open: path %q, AS%d", db.Path(), lookupASN(db, "192.0.2.1"))
	}

	if changed, err := db.Reload(); changed || err != nil {
		t.Errorf("Reload of an unchanged file = %v, %v; want false, nil", changed, err)
	}

	writeDB(t, path, "192.0.2.0,192.0.2.255,64501,Two\n", 2)
	if changed, err := db.Reload(); !changed || err != nil {
		t.Fatalf("Reload after a change = %v, %v; want true, nil", changed, err)
	}
	if got := lookupASN(db, "192.0.2.1"); got != 64501 {
		t.Errorf("after reload: AS%d, want AS64501", got)
	}
	good := db.Table()

	// A broken file keeps the last good table, and keeps failing
	// until it changes.
	writeDB(t, path, "192.0.2.0,192.0.2.x,64502,Broken\n", 3)
	for range 2 {
		changed, err := db.Reload()
		if changed || err == nil || !strings.Contains(err.Error(), path+":1: bad end address") {
			t.Errorf("Reload of a broken file = %v, %v; want false and a line error", changed, err)
		}
		if db.Table() != good {
			t.Error("a broken file replaced the table")
		}
	}

	// A missing file too.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if changed, err := db.Reload(); changed || !os.IsNotExist(err) {
		t.Errorf("Reload of a missing file = %v, %v; want false, not exist", changed, err)
	}
	if got := lookupASN(db, "192.0.2.1"); got != 64501 {
		t.Errorf("after a failed reload: AS%d, want AS64501", got)
	}

	writeDB(t, path, "192.0.2.0,192.0.2.255,64503,Three\n", 4)
	if changed, err := db.Reload(); !changed || err != nil {
		t.Fatalf("Reload of a repaired file = %v, %v; want true, nil", changed, err)
	}
	if got := lookupASN(db, "192.0.2.1"); got != 64503 {
		t.Errorf("after repair: AS%d, want AS64503", got)
	}
}

// A new file renamed into place with the same size and time (as a
// download tool preserving the server's time could produce) is still
// noticed.
func TestDatabaseReloadRenamedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "asn.csv")
	writeDB(t, path, "192.0.2.0,192.0.2.255,64500,Same\n", 1)
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	next := filepath.Join(dir, "asn.csv.new")
	writeDB(t, next, "192.0.2.0,192.0.2.255,64501,Same\n", 1)
	if err := os.Rename(next, path); err != nil {
		t.Fatal(err)
	}
	if changed, err := db.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v; want true, nil", changed, err)
	}
	if got := lookupASN(db, "192.0.2.1"); got != 64501 {
		t.Errorf("AS%d, want AS64501", got)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing.mmdb")); !os.IsNotExist(err) {
		t.Errorf("Open(missing) error = %v, want not exist", err)
	}
	path := filepath.Join(dir, "empty.csv")
	writeDB(t, path, "", 1)
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "empty file") {
		t.Errorf("Open(empty) error = %v, want empty file", err)
	}
}

type reloadEvent struct {
	table *Table
	err   error
}

func TestDatabaseWatch(t *testing.T) {
	defer goleak.VerifyNone(t)

	dir := t.TempDir()
	path := filepath.Join(dir, "asn.csv")
	writeDB(t, path, "192.0.2.0,192.0.2.255,64500,One\n", 1)
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}

	events := make(chan reloadEvent, 100)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		db.Watch(ctx, time.Millisecond, func(tbl *Table, err error) {
			events <- reloadEvent{tbl, err}
		})
	})
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
		}
	}
	defer stop() // before goleak checks, even when the test fails early
	next := func() reloadEvent {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(30 * time.Second): // a deadlock guard, not a speed check
			t.Fatal("no reload reported")
			return reloadEvent{}
		}
	}

	replaceDB(t, path, "192.0.2.0,192.0.2.255,64501,Two\n", 2)
	if ev := next(); ev.err != nil || ev.table == nil || lookupASN(db, "192.0.2.1") != 64501 {
		t.Fatalf("first event = %+v, AS%d; want the new table", ev, lookupASN(db, "192.0.2.1"))
	}

	replaceDB(t, path, "garbage without separators\n", 3)
	if ev := next(); ev.err == nil || ev.table != nil {
		t.Fatalf("event for a broken file = %+v, want an error", ev)
	}
	// Let the watcher poll the broken file many more times: the error
	// must not be reported again.
	time.Sleep(50 * time.Millisecond)
	replaceDB(t, path, "192.0.2.0,192.0.2.255,64502,Three\n", 4)
	if ev := next(); ev.err != nil || ev.table == nil {
		t.Fatalf("event after repair = %+v, want the new table (was the error reported twice?)", ev)
	}
	if got := lookupASN(db, "192.0.2.1"); got != 64502 {
		t.Errorf("AS%d, want AS64502", got)
	}

	// A file that disappears is reported once too, and the table stays.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if ev := next(); !os.IsNotExist(ev.err) {
		t.Fatalf("event for a missing file = %+v, want not exist", ev)
	}
	time.Sleep(50 * time.Millisecond)
	if got := lookupASN(db, "192.0.2.1"); got != 64502 {
		t.Errorf("with the file missing: AS%d, want AS64502", got)
	}
	replaceDB(t, path, "192.0.2.0,192.0.2.255,64503,Four\n", 5)
	if ev := next(); ev.err != nil || ev.table == nil {
		t.Fatalf("event after the file came back = %+v, want the new table (was the error reported twice?)", ev)
	}

	stop()
	select {
	case ev := <-events:
		t.Errorf("unexpected event after the last change: %+v", ev)
	default:
	}
}
