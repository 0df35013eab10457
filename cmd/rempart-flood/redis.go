package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// redisServer is Debian's redis-server, started for a -store redis run:
// the shield keeps its state there as several instances would.
type redisServer struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{}
}

// startRedis runs redis-server on 127.0.0.1:port with its files in dir,
// without persistence and with noeviction (what the README asks), and
// waits until it answers.
func startRedis(ctx context.Context, dir string, port int) (*redisServer, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("-store redis: redis-server is not installed (Debian: apt-get install redis-server)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	s := &redisServer{addr: "127.0.0.1:" + strconv.Itoa(port), exited: make(chan struct{})}
	// A server left over from another run would answer in this one's place.
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("redis port %d is taken (another run?): %w", port, err)
	}
	l.Close()
	s.cmd = exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
		"--appendonly", "no", "--maxmemory-policy", "noeviction", "--logfile", filepath.Join(dir, "redis.log"))
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting redis-server: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := ping(s.addr)
		switch {
		case err == nil:
			return s, nil
		case ctx.Err() != nil || time.Now().After(deadline):
			s.stop()
			return nil, fmt.Errorf("redis-server on %s did not answer: %w", s.addr, err)
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("redis-server on %s exited (see %s)", s.addr, filepath.Join(dir, "redis.log"))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop ends the server and waits for it.
func (s *redisServer) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// ping sends PING in Redis's inline protocol and checks for +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("unexpected answer %q", line)
	}
	return nil
}

// storeScripts is scriptsRun of the run's Redis at addr, or 0 without
// one.
func storeScripts(addr string) (int64, error) {
	if addr == "" {
		return 0, nil
	}
	return scriptsRun(addr)
}

// scriptsRun returns how many scripts the Redis at addr has run (EVALSHA
// and EVAL, from INFO commandstats): each is one round trip of the
// shield's store. Commands a script calls are counted apart, not here.
func scriptsRun(addr string) (int64, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("INFO commandstats\r\n")); err != nil {
		return 0, err
	}
	return parseScriptsRun(bufio.NewReader(c))
}

// parseScriptsRun reads INFO commandstats' bulk reply and returns the
// calls of EVALSHA and EVAL together.
func parseScriptsRun(r *bufio.Reader) (int64, error) {
	head, err := r.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("INFO: %w", err)
	}
	size, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(head, "$"), "\r\n"))
	if !strings.HasPrefix(head, "$") || err != nil || size < 0 || size > 1<<20 {
		return 0, fmt.Errorf("INFO: unexpected answer %q", head)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, fmt.Errorf("INFO: %w", err)
	}
	var calls int64
	for line := range strings.SplitSeq(string(body), "\r\n") {
		stats, ok := strings.CutPrefix(line, "cmdstat_evalsha:")
		if !ok {
			stats, ok = strings.CutPrefix(line, "cmdstat_eval:")
		}
		if !ok {
			continue
		}
		n, ok := strings.CutPrefix(strings.Split(stats, ",")[0], "calls=")
		v, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil || v < 0 || calls+v < calls {
			return 0, fmt.Errorf("INFO: unexpected line %q", line)
		}
		calls += v
	}
	return calls, nil
}
