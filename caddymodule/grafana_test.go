package caddymodule

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

var fqName = regexp.MustCompile(`fqName: "([a-z_]+)"`)

// exportedMetrics are the names rempart's collectors describe.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	ch := make(chan *prometheus.Desc, 64)
	for _, c := range rempartMetrics().collectors() {
		c.Describe(ch)
	}
	close(ch)
	names := map[string]bool{}
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("descriptor %s without a name", d)
		}
		names[m[1]] = true
	}
	return names
}

// The Grafana dashboard in docs/ queries only metrics rempart exports, and
// shows every one of them.
func TestGrafanaDashboardMatchesTheMetrics(t *testing.T) {
	raw, err := os.ReadFile("../docs/grafana/rempart-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	exported := exportedMetrics(t)
	shown := map[string]bool{}
	queried := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, name := range regexp.MustCompile(`rempart_[a-z_]+`).FindAllString(target.Expr, -1) {
				queried++
				base := name
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					if b, ok := strings.CutSuffix(name, suffix); ok && exported[b] {
						base = b
					}
				}
				if !exported[base] {
					t.Errorf("panel %q queries %s, which rempart does not export", p.Title, name)
				}
				shown[base] = true
			}
		}
	}
	for name := range exported {
		if !shown[name] {
			t.Errorf("metric %s is on no panel", name)
		}
	}
	t.Logf("panels %d, metric references %d, metrics exported %d, shown %d", len(dash.Panels), queried, len(exported), len(shown))
}
