package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// shieldPackage is the binary the runner builds when not given one.
const shieldPackage = "github.com/rempart/rempart/cmd/rempart"

// buildShield builds cmd/rempart into dir and returns its path.
func buildShield(ctx context.Context, dir string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building the shield: no go command: %w", err)
	}
	out := filepath.Join(dir, "rempart")
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", out, shieldPackage)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the shield: %w\n%s", err, msg)
	}
	return out, nil
}

// ports are where the replay's servers listen, all on 127.0.0.1.
type ports struct {
	// HTTP is Caddy's http_port (nothing is served on it) and HTTPS its
	// https_port (nothing either: automatic HTTPS is off).
	HTTP, HTTPS int
	// Demo is the petition itself, Shield the petition behind rempart, Bare
	// the petition behind a bare reverse_proxy, Admin Caddy's admin API.
	// Counting is the runner's own petition, which the shield guards in the
	// attacker's moves (see moves.go); it is served by the runner, not by
	// Caddy. Refuse is a bare "respond 429", what the shield's own answers
	// (refusals, challenge pages) are compared with.
	Demo, Shield, Bare, Counting, Refuse, Admin int
	// Redis is the redis-server of a -store redis run.
	Redis int
	// Instances are the ports of the instances of an -instances run,
	// from base+7.
	Instances []int
}

// portsFrom lays the ports out from base: base, base+1, ... base+6,
// base+7 on for the instances, and base+99 for HTTPS.
func portsFrom(base, admin, instances int) ports {
	p := ports{HTTP: base, Demo: base + 1, Shield: base + 2, Bare: base + 3, Counting: base + 4, Refuse: base + 5, Redis: base + 6, HTTPS: base + 99, Admin: admin}
	if instances > 1 {
		for i := range instances {
			p.Instances = append(p.Instances, base+7+i)
		}
	}
	return p
}

// checkFree makes sure nothing listens on the run's ports already (a
// shield left over from another run would answer in this one's place).
func (p ports) checkFree() error {
	for _, port := range []int{p.HTTP, p.Demo, p.Shield, p.Bare, p.Refuse, p.Admin} {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return fmt.Errorf("port %d is taken (another run?): %w", port, err)
		}
		l.Close()
	}
	return nil
}

func (p ports) shieldURL() string { return "http://127.0.0.1:" + strconv.Itoa(p.Shield) }
func (p ports) bareURL() string   { return "http://127.0.0.1:" + strconv.Itoa(p.Bare) }
func (p ports) refuseURL() string { return "http://127.0.0.1:" + strconv.Itoa(p.Refuse) }
func (p ports) demoURL() string   { return "http://127.0.0.1:" + strconv.Itoa(p.Demo) }

// shieldConfig fills the Caddyfile template.
type shieldConfig struct {
	Ports         ports
	Secret        string
	Storage       string
	ASNDB         string
	Policy        string // the replay's policy file (see policy.go)
	HostingBudget int    // signatures an hour for each hosting ASN
	IPBudget      int    // signatures an hour for each address
	BackendLog    string // access log of the petition; empty for none
	// Upstream is the port of the petition the shield guards: the demo's,
	// or the runner's counting petition in the attacker's moves.
	Upstream int
	// Redis, when set, is the address of the Redis the shield keeps its
	// state in (-store redis), under KeyPrefix.
	Redis, KeyPrefix string
	// ShieldPort is where this process's shield listens: Ports.Shield for
	// a single instance, else its own port behind the load balancer.
	ShieldPort int
	// Instances are the ports of every instance when there are several
	// (-instances): the first process also runs the load balancer on
	// Ports.Shield, the petition and the bare sites.
	Instances []int
	// Extra makes the Caddyfile of a second or third instance: the
	// shield alone, no admin API.
	Extra bool
}

// hostingBudgetPerHour is the replay's budget for each hosting ASN: at
// most that many fraudulent signatures an hour from each of the
// attacker's networks.
const hostingBudgetPerHour = 10

// ipBudgetPerHour is the replay's budget for each address: at most that
// many signatures an hour.
const ipBudgetPerHour = 3

// caddyfileTemplate is the replay's Caddyfile: the README's budgets in
// front of the demo petition, the clients' addresses taken from
// X-Forwarded-For when the request comes from 127.0.0.1, and a bare
// reverse_proxy to compare the shield's load figures with.
var caddyfileTemplate = template.Must(template.New("Caddyfile").Parse(`{
{{- if .Extra}}
	admin off
{{- else}}
	admin 127.0.0.1:{{.Ports.Admin}}
{{- end}}
	persist_config off
	http_port {{.Ports.HTTP}}
	https_port {{.Ports.HTTPS}}
	auto_https off
	grace_period 2s
	storage file_system {{.Storage}}
	servers {
		trusted_proxies static 127.0.0.1/32
		trusted_proxies_strict
		client_ip_headers X-Forwarded-For
	}
	rempart {
		asn_db {{.ASNDB}}
{{- if .Redis}}
		store redis {{.Redis}} {
			key_prefix {{.KeyPrefix}}
		}
{{- end}}
	}
}

{{- if not .Extra}}

# The petition: GET / (form and count), POST /sign, GET /api/count.
http://:{{.Ports.Demo}} {
	bind 127.0.0.1
{{- if .BackendLog}}
	log {
		output file {{.BackendLog}}
		format json
	}
{{- end}}
	rempart_demo
}
{{- end}}

# The petition behind the shield: what signers (and the attacker) reach
{{- if .Instances}} through the load balancer below{{end}}.
http://localhost:{{.ShieldPort}}, http://127.0.0.1:{{.ShieldPort}} {
	bind 127.0.0.1
	rempart {
		secret {{.Secret}}
		difficulty 18
		protect POST /sign
		# the default policy, with a cheap page (GET /about, 4 bits)
		policy {{.Policy}}
		# every hosting ASN at most 10 signatures an hour
		limit signatures per asn {{.HostingBudget}}/hour class hosting
		# every other ASN at most 300 a minute, every address 3 an hour
		limit signatures per asn 300/min
		limit signatures per ip {{.IPBudget}}/hour
		# challenge pages, per network prefix
		limit challenges per prefix 120/min
		flood {
			threshold 60/min
			max_extra_bits 6
			half_life 1m
		}
	}
	reverse_proxy 127.0.0.1:{{.Upstream}}
}
{{- if not .Extra}}
{{- if .Instances}}

# Several instances sharing one Redis, behind a round-robin load balancer
# (in this Caddy: its CPU counts in this process's).
http://localhost:{{.Ports.Shield}}, http://127.0.0.1:{{.Ports.Shield}} {
	bind 127.0.0.1
	reverse_proxy{{range .Instances}} 127.0.0.1:{{.}}{{end}} {
		lb_policy round_robin
	}
}
{{- end}}

# The petition behind a bare reverse proxy, for comparison.
http://127.0.0.1:{{.Ports.Bare}} {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:{{.Ports.Demo}}
}

# A bare refusal, what the shield's own answers are compared with.
http://127.0.0.1:{{.Ports.Refuse}} {
	bind 127.0.0.1
	respond 429
}
{{- end}}
`))

// writeCaddyfile writes the replay's Caddyfile to path.
func writeCaddyfile(path string, cfg shieldConfig) error {
	var buf bytes.Buffer
	if err := caddyfileTemplate.Execute(&buf, cfg); err != nil {
		return fmt.Errorf("caddyfile: %w", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("caddyfile: %w", err)
	}
	return nil
}

// randomSecret returns a fresh HMAC secret for the shield.
func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// shieldProcess is cmd/rempart running as a subprocess, so that its CPU
// time and peak memory are its own.
type shieldProcess struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	waitErr error
	// extras are the second and third instances of an -instances run,
	// stopped with this one.
	extras []*shieldProcess
}

// startupTimeout bounds how long Caddy may take to start serving.
const startupTimeout = 30 * time.Second

// startShield runs binary with the Caddyfile at config and waits until the
// petition and the shield answer. Caddy's own log goes to logPath.
func startShield(ctx context.Context, binary, config, logPath, home string, p ports) (*shieldProcess, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("shield log: %w", err)
	}
	defer logFile.Close()
	if err := p.checkFree(); err != nil {
		return nil, err
	}
	return launch(ctx, binary, config, logFile, logPath, home,
		[]string{p.demoURL() + "/api/count", p.shieldURL() + "/", p.bareURL() + "/api/count", p.refuseURL() + "/"})
}

// startInstance runs binary with the Caddyfile of a second or third
// instance, whose shield listens on port, and waits until it answers.
func startInstance(ctx context.Context, binary, config, logPath, home string, port int) (*shieldProcess, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("instance log: %w", err)
	}
	defer logFile.Close()
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("port %d is taken (another run?): %w", port, err)
	}
	l.Close()
	return launch(ctx, binary, config, logFile, logPath, home, []string{url + "/"})
}

// launch starts the process and waits until every URL answers.
func launch(ctx context.Context, binary, config string, logFile *os.File, logPath, home string, urls []string) (*shieldProcess, error) {
	cmd := exec.Command(binary, "run", "--config", config, "--adapter", "caddyfile")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Should the runner die without stopping it, the shield goes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Caddy keeps its data and config under HOME and XDG dirs: give it the
	// run's own.
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the shield: %w", err)
	}
	s := &shieldProcess{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx, urls); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls the URLs (the petition, the shield...) until each
// answers.
func (s *shieldProcess) waitReady(ctx context.Context, urls []string) error {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for _, url := range urls {
		for {
			if resp, err := client.Get(url); err == nil {
				resp.Body.Close()
				break
			}
			select {
			case <-s.exited:
				return fmt.Errorf("the shield exited at start-up (%v):\n%s", s.waitErr, tail(s.logPath, 20))
			case <-ctx.Done():
				return fmt.Errorf("the shield did not answer %s within %s:\n%s", url, startupTimeout, tail(s.logPath, 20))
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func (s *shieldProcess) pid() int { return s.cmd.Process.Pid }

// stop asks Caddy to stop (SIGINT, a graceful stop) and kills it if it
// has not within ten seconds; then the other instances, if any.
func (s *shieldProcess) stop() {
	defer func() {
		for _, x := range s.extras {
			x.stop()
		}
	}()
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// tail returns the last n lines of the file at path, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
