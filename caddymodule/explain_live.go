package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxLiveExplain bounds the admin endpoint's answer to `rempart explain
// --admin`.
const maxLiveExplain = 1 << 20

// explainLive asks the running Caddy's admin endpoint (admin, such as
// localhost:2019) to explain the request, so that the answer has the live
// budgets and the flood's extra bits, and writes its answer to w.
func (f *explainFlags) explainLive(w io.Writer) error {
	if f.policy != "" || f.db != "" || len(f.classes) > 0 {
		return fmt.Errorf("--admin asks the running shield, with its own policy and database: drop --policy, --asn-db and --class")
	}
	base := f.admin
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	q := url.Values{"ip": {f.ip}, "method": {f.method}, "path": {f.path}}
	if f.host != "" {
		q.Set("host", f.host)
	}
	if f.ua != "" {
		q.Set("user_agent", f.ua)
	}
	for _, h := range f.headers {
		q.Add("header", h)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(strings.TrimSuffix(base, "/") + "/rempart/explain?" + q.Encode())
	if err != nil {
		return fmt.Errorf("--admin: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxLiveExplain))
	if err != nil {
		return fmt.Errorf("--admin: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("--admin: %s answered %d: %s", f.admin, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	_, err = w.Write(body)
	return err
}
