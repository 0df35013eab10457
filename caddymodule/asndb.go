package caddymodule

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/rempart/rempart/asn"
)

// asnDatabases holds the ASN databases in use, keyed by file and reload
// interval, so that a config reload neither reads a large file again nor
// starts a second watcher on it. Changing the interval loads the file
// afresh under a new key.
var asnDatabases = caddy.NewUsagePool()

// watchedDatabase is an ASN database and the goroutine that reloads it
// when its file changes.
type watchedDatabase struct {
	*asn.Database
	// logger is that of the config now running, which replaces the one
	// that first loaded the file.
	logger atomic.Pointer[zap.Logger]
	stop   context.CancelFunc
	done   chan struct{}
}

// loadDatabase returns the database at path from the pool, opening it and
// starting its watcher if no config uses it yet. The caller releases it
// with asnDatabases.Delete(key).
func loadDatabase(path string, interval time.Duration, logger *zap.Logger) (key string, db *watchedDatabase, err error) {
	key = databaseKey(path, interval)
	val, _, err := asnDatabases.LoadOrNew(key, func() (caddy.Destructor, error) {
		d, err := asn.Open(path)
		if err != nil {
			return nil, err
		}
		logger.Info("ASN database loaded",
			zap.String("file", path),
			zap.Stringer("format", d.Table().Format()),
			zap.Int("prefixes", d.Table().Len()))
		return watch(d, interval, logger), nil
	})
	if err != nil {
		return "", nil, err
	}
	return key, val.(*watchedDatabase), nil
}

func databaseKey(path string, interval time.Duration) string {
	return fmt.Sprintf("%s\x00%s", path, interval)
}

func watch(d *asn.Database, interval time.Duration, logger *zap.Logger) *watchedDatabase {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watchedDatabase{Database: d, stop: cancel, done: make(chan struct{})}
	w.logger.Store(logger)
	go func() {
		defer close(w.done)
		d.Watch(ctx, interval, w.reloaded)
	}()
	return w
}

// reloaded logs the outcome of each reload that the watcher reports.
func (w *watchedDatabase) reloaded(t *asn.Table, err error) {
	logger := w.logger.Load()
	if err != nil {
		logger.Warn("ASN database not reloaded: keeping the last good one",
			zap.String("file", w.Path()), zap.Error(err))
		return
	}
	logger.Info("ASN database reloaded",
		zap.String("file", w.Path()),
		zap.Stringer("format", t.Format()),
		zap.Int("prefixes", t.Len()))
}

// Destruct stops the watcher and waits for it to return, so that no
// goroutine outlives the last config using the file.
func (w *watchedDatabase) Destruct() error {
	w.stop()
	<-w.done
	return nil
}
