package caddymodule

import "time"

// every calls f once per interval until stop is closed: the background
// work of a config (policy reloads, the interval log) stops with it.
func every(stop <-chan struct{}, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			f()
		}
	}
}
