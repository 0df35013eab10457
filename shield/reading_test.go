package shield

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/internal/race"
)

func TestReadingBounds(t *testing.T) {
	const kib = 1 << 10
	tests := []struct {
		name    string
		stash   challenge.StashConfig
		enter   []string // owners already reading, 64 KiB each
		owner   string
		size    int64
		fits    bool
		inBytes int64 // bytes counted once it entered or gave up
	}{
		{"room", challenge.StashConfig{MaxEntries: 4096, MaxBytes: 1 << 20}, []string{"a", "b"}, "c", 64 * kib, true, 192 * kib},
		{"network's share taken", challenge.StashConfig{MaxEntries: 128, MaxBytes: 1 << 20}, []string{"a", "a", "a", "a", "a", "a", "a", "a"}, "a", 1, false, 512 * kib},
		{"another network within its share", challenge.StashConfig{MaxEntries: 128, MaxBytes: 1 << 20}, []string{"a", "a", "a", "a", "a", "a", "a", "a"}, "b", 1, true, 513 * kib},
		{"all the bytes taken", challenge.StashConfig{MaxEntries: 4096, MaxBytes: 256 * kib}, []string{"a", "b", "c", "d"}, "e", 1, false, 256 * kib},
		{"a body larger than the room waits for all of it", challenge.StashConfig{MaxEntries: 4096, MaxBytes: 256 * kib}, []string{"a"}, "b", 1 << 20, false, 64 * kib},
		{"an empty body counts too", challenge.StashConfig{MaxEntries: 4096, MaxBytes: 65 * kib}, []string{"a"}, "b", 0, true, 65 * kib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewReading(tt.stash)
			var leaves []func()
			for _, o := range tt.enter {
				leave, err := g.Enter(context.Background(), o, 64*kib, nil)
				if err != nil {
					t.Fatalf("entering %s: %v", o, err)
				}
				leaves = append(leaves, leave)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			leave, err := g.Enter(ctx, tt.owner, tt.size, nil)
			if fits := err == nil; fits != tt.fits {
				t.Fatalf("fits = %v (%v), want %v", fits, err, tt.fits)
			}
			if !tt.fits && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("gave up with %v, want the deadline", err)
			}
			if _, bytes := g.InUse(); bytes != tt.inBytes {
				t.Fatalf("bytes in use %d, want %d", bytes, tt.inBytes)
			}
			if leave != nil {
				leave()
				leave() // twice ends it once
			}
			for _, l := range leaves {
				l()
			}
			wantNothingRead(t, g)
		})
	}
}

// A read that finds the bytes taken cuts off the oldest read of the
// network reading most, if that network reads two more than its own, and
// takes its room; the read cut off ends.
func TestReadingGivesWayToFewer(t *testing.T) {
	const kib = 1 << 10
	tests := []struct {
		name  string
		enter []string // owners already reading, 64 KiB each, in a room of 256 KiB
		owner string
		cut   int // the read cut off, by its index in enter, or -1
	}{
		{"the network reading most gives way", []string{"c", "a", "a", "a"}, "b", 1},
		{"to a network of its own", []string{"c", "a", "a", "a"}, "c", 1},
		{"networks reading as many cut nothing", []string{"a", "b", "c", "d"}, "e", -1},
		{"nor one reading one fewer", []string{"a", "a", "b", "c"}, "b", -1},
		{"nor the network reading most", []string{"a", "a", "a", "b"}, "a", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewReading(challenge.StashConfig{MaxEntries: 4096, MaxBytes: 256 * kib})
			leaves := make([]func(), len(tt.enter))
			cut := make(chan int, len(tt.enter))
			for i, o := range tt.enter {
				leave, err := g.Enter(context.Background(), o, 64*kib, func() {
					cut <- i
					go leaves[i]()
				})
				if err != nil {
					t.Fatalf("entering %s: %v", o, err)
				}
				leaves[i] = leave
			}
			// Long: a read that cut another enters as soon as it ends, one that
			// cut none is refused at once.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			leave, err := g.EnterNow(ctx, tt.owner, 64*kib, nil)
			got := -1
			select {
			case got = <-cut:
			default:
			}
			if got != tt.cut || (err == nil) != (tt.cut >= 0) {
				t.Fatalf("cut %d and entered: %v, want %d cut", got, err, tt.cut)
			}
			if err == nil {
				leave()
			}
			for i, l := range leaves {
				if i != got {
					l()
				}
			}
			wantNothingRead(t, g)
		})
	}
}

// A read waiting for room enters as soon as a read ends.
func TestReadingWaitsForRoom(t *testing.T) {
	g := NewReading(challenge.StashConfig{MaxEntries: 8, MaxBytes: 1 << 20})
	var leaves []func()
	for range 8 {
		leave, err := g.Enter(context.Background(), "a", 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, leave)
	}
	entered := make(chan error, 1)
	go func() {
		leave, err := g.Enter(context.Background(), "a", 1, nil)
		if err == nil {
			leave()
		}
		entered <- err
	}()
	select {
	case err := <-entered:
		t.Fatalf("a ninth read of one network entered a share of 8: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	leaves[0]()
	if err := <-entered; err != nil {
		t.Fatal(err)
	}
}

// stalledHolds opens tries connections that each post a signature's body
// of max_body but for its last byte, from the addresses addr(i) gives, to
// srv, which serves a client named by its X-Test-Client header.
func stalledHolds(t *testing.T, srv *httptest.Server, tries, maxBody int, addr func(i int) string) []net.Conn {
	t.Helper()
	body := strings.Repeat("x", maxBody-1)
	conns := make([]net.Conn, 0, tries)
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	for i := range tries {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		// A body the shield does not read yet waits in the socket's
		// buffers, which may not take it all.
		go func() { _, _ = io.WriteString(c, signatureHead(addr(i), maxBody)+body) }()
	}
	return conns
}

func signatureHead(client string, length int) string {
	return fmt.Sprintf("POST /sign HTTP/1.1\r\nHost: petition.example\r\nUser-Agent: Mozilla/5.0 (test)\r\nX-Test-Client: %s\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nOrigin: http://petition.example\r\nSec-Fetch-Site: same-origin\r\n"+
		"Content-Length: %d\r\n\r\n", client, length)
}

// An attacker opens many connections that each post a signature's body
// but for its last byte, within its body timeout: each is read into memory
// to be held, and nothing in the default policy budgets a challenge outside
// the hosting networks. From one network, the bodies read at once must
// stay within that network's share, and a signer of another network is
// held while they stall. From many, they must stay within the site's room,
// and the signer is held once their time is up, or asked to send again;
// its submission is never lost. Neither may hold more memory than the room.
func TestBodiesReadAtOnceAreBounded(t *testing.T) {
	const (
		tries    = 400
		maxBody  = 256 << 10
		roomSize = 8 << 20 // 32 bodies
	)
	stash := challenge.StashConfig{MaxEntries: 1024, MaxBytes: roomSize} // 16 a network
	tests := []struct {
		name     string
		attacker func(i int) string
		// maxReads is the most bodies the attack may have read at once.
		maxReads    int
		bodyTimeout time.Duration
		// signerFirst: the signer is held while the stalled bodies are
		// still being read.
		signerFirst bool
	}{
		{"one network", func(i int) string { return fmt.Sprintf("203.0.113.%d/64501", i%250+1) }, stash.OwnerShare(), 10 * time.Second, true},
		{"a network each", func(i int) string { return fmt.Sprintf("198.%d.%d.1/0", 18+i/250, i%250) }, roomSize / maxBody, 2 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, setup{protect: []string{"POST /sign"}, stash: stash})
			h.shield.cfg.BodyTimeout, h.shield.cfg.MaxBody = tt.bodyTimeout, maxBody
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = h.shield.Serve(w, r, testClient(r.Header.Get("X-Test-Client")), h.backend)
			}))
			defer srv.Close()

			var before, during runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			conns := stalledHolds(t, srv, tries, maxBody, tt.attacker)
			// Every connection is reading its body or waiting for room
			// once the reads stop growing.
			for last := -1; ; time.Sleep(200 * time.Millisecond) {
				reads, _ := h.state.Reading.InUse()
				if reads == last && reads > 0 {
					break
				}
				last = reads
			}
			reads, bytes := h.state.Reading.InUse()
			runtime.GC()
			runtime.ReadMemStats(&during)
			held := max(int64(during.HeapAlloc)-int64(before.HeapAlloc), 0)

			// A signer of another network posts its whole signature.
			signer, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer signer.Close()
			if _, err := io.WriteString(signer, signatureHead("192.0.2.10/64496", len(signBody))+signBody); err != nil {
				t.Fatal(err)
			}
			_ = signer.SetReadDeadline(time.Now().Add(3 * tt.bodyTimeout))
			resp, err := http.ReadResponse(bufio.NewReader(signer), nil)
			if err != nil {
				t.Fatalf("the signer got no answer: %v", err)
			}
			_ = resp.Body.Close()
			stillReading, _ := h.state.Reading.InUse()

			// Every stalled body is answered once its time is up.
			answered := 0
			for _, c := range conns {
				_ = c.SetReadDeadline(time.Now().Add(3 * tt.bodyTimeout))
				if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
					answered++
					_ = resp.Body.Close()
				}
			}
			signerHeld := h.heldBy(netip.MustParseAddr("192.0.2.10"))
			t.Logf("%s: %d stalled %d-byte bodies: tried %d / read at once %d (%d KiB) / expected at most %d; heap held %.1f MiB (%.1f MiB unbounded); answered %d of %d; the signer: held %d, status %d, stalled bodies still read then %d",
				tt.name, tries, maxBody, tries, reads, bytes>>10, tt.maxReads, float64(held)/(1<<20), float64(tries*maxBody)/(1<<20), answered, tries, signerHeld, resp.StatusCode, stillReading)
			if reads > tt.maxReads {
				t.Errorf("%d bodies read at once, want at most %d", reads, tt.maxReads)
			}
			// The room, and what each connection costs without the shield
			// (net/http's buffers and state: about 15 KiB).
			if limit := int64(tt.maxReads*maxBody + tries*32<<10); held > limit {
				t.Errorf("stalled bodies hold %.1f MiB, want under %.1f", float64(held)/(1<<20), float64(limit)/(1<<20))
			}
			switch {
			case resp.StatusCode == StatusChallenge && signerHeld == 1:
				if tt.signerFirst && stillReading < reads {
					t.Errorf("the signer was held only once %d of %d stalled bodies had ended", reads-stillReading, reads)
				}
			case resp.StatusCode == http.StatusServiceUnavailable && signerHeld == 0 && !tt.signerFirst:
				// Asked to send again: the browser still has the form.
			default:
				t.Errorf("the signer got %d, its submission held %d times", resp.StatusCode, signerHeld)
			}
			if answered != tries {
				t.Errorf("%d of %d stalled bodies unanswered", tries-answered, tries)
			}
		})
	}
}

// testClient reads "ip/asn" (asn 0: unknown).
func testClient(s string) Identity {
	ip, asn, _ := strings.Cut(s, "/")
	var n uint32
	_, _ = fmt.Sscan(asn, &n)
	if n == 0 {
		return Identity{IP: netip.MustParseAddr(ip)}
	}
	return Identity{IP: netip.MustParseAddr(ip), ASN: n, Known: true}
}

// heldBy counts the submissions of ip the shield held.
func (h *harness) heldBy(ip netip.Addr) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, o := range h.outcomes {
		if o.Action == ActionHold && o.Client.IP == ip {
			n++
		}
	}
	return n
}

func TestReadBody(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		length int64
		limit  int
		want   string
		err    error // nil, errBodyTooLarge, or io.ErrUnexpectedEOF
	}{
		{"known length", "name=Ada", 8, 16, "name=Ada", nil},
		{"known length, at the limit", "name=Ada", 8, 8, "name=Ada", nil},
		{"known length over the limit", "name=Ada", 8, 7, "", errBodyTooLarge},
		{"more than its length says", "name=Ada&more", 8, 16, "", errBodyTooLarge},
		{"less than its length says", "name", 8, 16, "", io.ErrUnexpectedEOF},
		{"empty", "", 0, 16, "", nil},
		{"unknown length", "name=Ada", -1, 16, "name=Ada", nil},
		{"unknown length, at the limit", "name=Ada", -1, 8, "name=Ada", nil},
		{"unknown length over the limit", "name=Ada", -1, 7, "", errBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readBody(strings.NewReader(tt.body), tt.length, tt.limit)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if string(got) != tt.want {
				t.Fatalf("read %q, want %q", got, tt.want)
			}
		})
	}
}

// An HTTP/2 connection reads its streams' bodies whether the handler does
// or not, up to its flow-control window (1 MiB in net/http): a body that
// waits for room in the shield's reads is in the server's memory all the
// same. An attacker who has taken its network's share opens more
// connections, each posting a body without a length that waits for room:
// the server must not buffer a window of each for their body timeout.
func TestBodiesWaitingOverHTTP2AreNotBuffered(t *testing.T) {
	const (
		tries    = 64
		maxBody  = 256 << 10
		roomSize = 8 << 20 // 32 bodies, 16 a network
		window   = 1 << 20 // net/http's HTTP/2 receive window per connection
	)
	stash := challenge.StashConfig{MaxEntries: 1024, MaxBytes: roomSize}
	h := newHarness(t, setup{protect: []string{"POST /sign"}, stash: stash})
	// A body timeout far longer than the test waits: a body that waits for
	// room is told apart by never being answered in time, not by when.
	h.shield.cfg.BodyTimeout, h.shield.cfg.MaxBody = time.Minute, maxBody
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = h.shield.Serve(w, r, testClient(r.Header.Get("X-Test-Client")), h.backend)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	attacker := func(i int) string { return fmt.Sprintf("203.0.113.%d/64501", i%250+1) }

	var before, during runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// The network's share, stalled, and closed before the server, which
	// waits for its requests.
	share := stalledHolds(t, srv, stash.OwnerShare(), maxBody, attacker)
	defer func() {
		for _, c := range share {
			_ = c.Close()
		}
	}()
	for reads := 0; reads < stash.OwnerShare(); time.Sleep(20 * time.Millisecond) {
		reads, _ = h.state.Reading.InUse()
	}
	// Then a connection each, a body of a window waiting for room.
	window1 := make([]byte, window)
	stop := make(chan struct{})
	var statuses sync.Map
	var wg sync.WaitGroup
	for i := range tries {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Protocols: &p}
		defer tr.CloseIdleConnections()
		body := io.MultiReader(bytes.NewReader(window1), stalledReader(stop))
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/sign", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Test-Client", attacker(100+i))
		req.Header.Set("User-Agent", "Mozilla/5.0 (test)")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://petition.example")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Host = "petition.example"
		wg.Go(func() {
			resp, err := tr.RoundTrip(req)
			if err == nil {
				statuses.Store(i, resp.StatusCode)
				_ = resp.Body.Close()
			}
		})
	}
	time.Sleep(2 * time.Second) // the windows arrive
	runtime.GC()
	runtime.GC() // and what the server pools has gone
	runtime.ReadMemStats(&during)
	// Answered by then, the bodies are no longer the server's to hold.
	refused, answered := 0, 0
	for wait := time.Now().Add(20 * time.Second); answered < tries && time.Now().Before(wait); time.Sleep(100 * time.Millisecond) {
		refused, answered = 0, 0
		statuses.Range(func(_, v any) bool {
			answered++
			if v.(int) == http.StatusServiceUnavailable {
				refused++
			}
			return true
		})
	}
	close(stop)
	wg.Wait()
	held := max(int64(during.HeapAlloc)-int64(before.HeapAlloc), 0)
	// The network's share, what a stalled HTTP/1.1 connection costs
	// (32 KiB), and what an HTTP/2 one does, client and server (about 150
	// KiB here): half a window.
	limit := int64(stash.OwnerShare()*(maxBody+32<<10) + tries*window/2)
	t.Logf("%d stalled reads, then %d HTTP/2 connections of one network each posting a %d KiB window: heap held %.1f MiB, expected at most %.1f; answered 503 long before their body timeout: %d of %d",
		stash.OwnerShare(), tries, window>>10, float64(held)/(1<<20), float64(limit)/(1<<20), refused, tries)
	// The race detector makes the heap vary by tens of MiB between runs.
	if held > limit && !race.Enabled {
		t.Errorf("bodies waiting for room hold %.1f MiB, want under %.1f", float64(held)/(1<<20), float64(limit)/(1<<20))
	}
	if refused != tries {
		t.Errorf("%d of %d waiting bodies answered 503 before their body timeout", refused, tries)
	}
}

// stalledReader blocks until stop is closed, then fails.
type stalledReader chan struct{}

func (s stalledReader) Read([]byte) (int, error) {
	<-s
	return 0, io.ErrUnexpectedEOF
}

// The 218 servers of the incident sat in a handful of networks. A handful
// that each keep more than their share of bodies stalling, sending a new
// one as each is cut off, takes all the room: a signer of another network
// waits with them for a read to end, and is asked to send again when the
// flood's bodies take the room first. The stash pushes out the submissions
// of the network holding most; the reads must give way to a network
// reading less in the same way, and still hold no more than the room.
func TestAHandfulOfNetworksCannotTakeTheRoom(t *testing.T) {
	const (
		maxBody  = 64 << 10
		roomSize = 2 << 20 // 32 bodies, 16 a network
		timeout  = 4 * time.Second
		signers  = 8
	)
	stash := challenge.StashConfig{MaxEntries: 1024, MaxBytes: roomSize}
	for _, networks := range []int{2, 4} {
		t.Run(fmt.Sprintf("%d networks", networks), func(t *testing.T) {
			h := newHarness(t, setup{protect: []string{"POST /sign"}, stash: stash})
			h.shield.cfg.BodyTimeout, h.shield.cfg.MaxBody = timeout, maxBody
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = h.shield.Serve(w, r, testClient(r.Header.Get("X-Test-Client")), h.backend)
			}))
			defer srv.Close()
			stop := make(chan struct{})
			var flood sync.WaitGroup
			defer flood.Wait()
			defer close(stop)
			body := strings.Repeat("x", maxBody-1)
			for i := range networks * stash.OwnerShare() * 4 {
				flood.Go(func() {
					client := fmt.Sprintf("203.0.%d.%d/%d", 113+i%networks, i/networks%250+1, 64501+i%networks)
					for {
						c, err := net.Dial("tcp", srv.Listener.Addr().String())
						if err != nil {
							return
						}
						go func() { _, _ = io.WriteString(c, signatureHead(client, maxBody)+body) }()
						go func() { <-stop; _ = c.Close() }()
						_, _ = http.ReadResponse(bufio.NewReader(c), nil)
						_ = c.Close()
						select {
						case <-stop:
							return
						default:
						}
					}
				})
			}
			time.Sleep(timeout) // the room fills, and the first bodies are cut off

			var held, unavailable int
			var longest time.Duration
			var most int64
			var mu sync.Mutex
			var wg sync.WaitGroup
			for i := range signers {
				wg.Go(func() {
					signer, err := net.Dial("tcp", srv.Listener.Addr().String())
					if err != nil {
						t.Error(err)
						return
					}
					defer signer.Close()
					start := time.Now()
					_, _ = io.WriteString(signer, signatureHead(fmt.Sprintf("192.0.%d.10/%d", 2+i, 65001+i), len(signBody))+signBody)
					_ = signer.SetReadDeadline(time.Now().Add(3 * timeout))
					resp, err := http.ReadResponse(bufio.NewReader(signer), nil)
					if err != nil {
						t.Errorf("a signer got no answer: %v", err)
						return
					}
					_ = resp.Body.Close()
					_, bytes := h.state.Reading.InUse()
					mu.Lock()
					defer mu.Unlock()
					longest, most = max(longest, time.Since(start)), max(most, bytes)
					switch resp.StatusCode {
					case StatusChallenge:
						held++
					case http.StatusServiceUnavailable:
						unavailable++
					}
				})
				time.Sleep(timeout / signers)
			}
			wg.Wait()
			t.Logf("%d networks keep %d bodies stalling: signers of other networks: tried %d / held %d / expected %d; %d asked to send again; the longest waited %v; bytes read %d KiB of %d",
				networks, networks*stash.OwnerShare()*4, signers, held, signers, unavailable, longest.Round(time.Millisecond), most>>10, roomSize>>10)
			if held != signers {
				t.Errorf("%d of %d signers held", held, signers)
			}
			if most > roomSize {
				t.Errorf("%d KiB read at once, over the room's %d", most>>10, roomSize>>10)
			}
		})
	}
}

// enterAsync enters g from another goroutine and reports on the channel
// when it got in (its leave) or gave up.
func enterAsync(ctx context.Context, g *Reading, owner string, size int64) <-chan func() {
	entered := make(chan func(), 1)
	go func() {
		leave, err := g.Enter(ctx, owner, size, nil)
		if err != nil {
			leave = nil
		}
		entered <- leave
	}()
	return entered
}

// waitFor returns the leave of a read that entered, or fails.
func waitFor(t *testing.T, entered <-chan func(), what string) func() {
	t.Helper()
	select {
	case leave := <-entered:
		if leave == nil {
			t.Fatalf("%s gave up", what)
		}
		return leave
	case <-time.After(5 * time.Second):
		t.Fatalf("%s never entered", what)
	}
	return nil
}

// stillOut fails if the read entered.
func stillOut(t *testing.T, entered <-chan func(), what string) {
	t.Helper()
	select {
	case <-entered:
		t.Fatalf("%s entered", what)
	case <-time.After(50 * time.Millisecond):
	}
}

// Waiting reads enter in the order they came: a large body is not passed
// over by smaller ones for as long as they keep coming, and one that gives
// up at the front lets the next in.
func TestReadingLetsInFirstComeFirst(t *testing.T) {
	const kib = 1 << 10
	g := NewReading(challenge.StashConfig{MaxEntries: 4096, MaxBytes: 256 * kib})
	ctx := context.Background()
	var first []func()
	for range 3 {
		leave, err := g.Enter(ctx, "a", 64*kib, nil)
		if err != nil {
			t.Fatal(err)
		}
		first = append(first, leave)
	}
	large := enterAsync(ctx, g, "b", 128*kib)
	stillOut(t, large, "a 128 KiB body in 64 KiB of room")
	small := enterAsync(ctx, g, "c", kib)
	stillOut(t, small, "a 1 KiB body behind a larger one")
	first[0]()
	leaveLarge := waitFor(t, large, "the large body, once room came")
	stillOut(t, small, "the small body, the room full again")
	first[1]()
	waitFor(t, small, "the small body")()
	leaveLarge()
	first[2]()

	// One that gives up at the front lets the next in.
	g = NewReading(challenge.StashConfig{MaxEntries: 4096, MaxBytes: 128 * kib})
	hold, err := g.Enter(ctx, "a", 128*kib, nil)
	if err != nil {
		t.Fatal(err)
	}
	quitting, quit := context.WithCancel(ctx)
	front := enterAsync(quitting, g, "b", 128*kib)
	stillOut(t, front, "a body with no room")
	next := enterAsync(ctx, g, "c", kib)
	stillOut(t, next, "a body behind it")
	quit()
	if leave := <-front; leave != nil {
		t.Fatal("the front read entered after giving up")
	}
	stillOut(t, next, "a body without room yet")
	hold()
	waitFor(t, next, "the body behind the one that gave up")()
	wantNothingRead(t, g)
}

// A network's reads waiting for bytes count against its share: when room
// comes, no more than its share of them enter.
func TestReadingQueuedReadsCountAgainstTheShare(t *testing.T) {
	const kib = 1 << 10
	g := NewReading(challenge.StashConfig{MaxEntries: 512, MaxBytes: 64 * kib}) // 8 a network
	ctx := context.Background()
	full, err := g.Enter(ctx, "x", 64*kib, nil)
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan func(), 9)
	for range 9 {
		go func() {
			if leave, err := g.Enter(ctx, "a", kib, nil); err == nil {
				entered <- leave
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	full()
	var leaves []func()
	for i := range 8 {
		leaves = append(leaves, waitFor(t, entered, fmt.Sprintf("read %d of the network", i+1)))
	}
	stillOut(t, entered, "a ninth read of a network whose share is 8")
	if reads, _ := g.InUse(); reads != 8 {
		t.Fatalf("%d reads in, want the share, 8", reads)
	}
	leaves[0]()
	waitFor(t, entered, "the ninth, once one of the eight ended")()
	for _, l := range leaves[1:] {
		l()
	}
	wantNothingRead(t, g)
}

// Reads are cut off one by one from the network reading most, as many as
// the next read needs: no network is cut below another that reads more,
// nor below one more than the next's.
func TestReadingCutsTheNetworkReadingMost(t *testing.T) {
	const kib = 1 << 10
	type reading struct {
		owner string
		reads int
		size  int64 // KiB each
	}
	tests := []struct {
		name  string
		enter []reading // in a room of 128 KiB; x cannot be cut
		size  int64     // KiB, of the next read, from a network reading none
		keep  map[string][2]int
	}{
		{"down to the next network reading most", []reading{{"a", 20, 1}, {"f", 10, 1}, {"x", 1, 90}}, 32,
			map[string][2]int{"a": {3, 3}, "f": {3, 3}}},
		{"not below one more than the next's", []reading{{"a", 3, 1}, {"e", 2, 40}, {"x", 1, 45}}, 32,
			map[string][2]int{"a": {1, 2}, "e": {1, 1}}},
	}
	for _, tt := range tests {
		for _, now := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, now %v", tt.name, now), func(t *testing.T) {
				g := NewReading(challenge.StashConfig{MaxEntries: 4096, MaxBytes: 128 * kib})
				var mu sync.Mutex
				var leaves []func()
				reads := map[string]int{}
				for _, e := range tt.enter {
					for range e.reads {
						i := len(leaves)
						var cut func()
						if e.owner != "x" {
							cut = func() {
								reads[e.owner]-- // under g's lock
								go func() {
									mu.Lock()
									defer mu.Unlock()
									leaves[i]()
								}()
							}
						}
						leave, err := g.Enter(context.Background(), e.owner, e.size*kib, cut)
						if err != nil {
							t.Fatalf("entering %s: %v", e.owner, err)
						}
						mu.Lock()
						leaves = append(leaves, leave)
						mu.Unlock()
						reads[e.owner]++
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				enter := g.Enter
				if now {
					enter = g.EnterNow
				}
				leave, err := enter(ctx, "c", tt.size*kib, nil)
				if err != nil {
					t.Fatalf("the next read: %v", err)
				}
				leave()
				g.mu.Lock()
				got := maps.Clone(reads)
				g.mu.Unlock()
				for owner, keep := range tt.keep {
					if got[owner] < keep[0] || got[owner] > keep[1] {
						t.Errorf("%s: %d reads left, want %d to %d", owner, got[owner], keep[0], keep[1])
					}
				}
				if t.Failed() {
					t.Logf("reads left by network: %v", got)
				}
				mu.Lock()
				for _, l := range leaves {
					l()
				}
				mu.Unlock()
				wantNothingRead(t, g)
			})
		}
	}
}

// A read is cut off only when the cuts make room for the next: one that
// would still not fit is not cut off for nothing, over HTTP/2 (refused
// all the same) or HTTP/1.1 (waiting for a read that cannot be cut).
func TestReadingCutsOnlyToMakeRoom(t *testing.T) {
	const kib = 1 << 10
	for _, now := range []bool{false, true} {
		t.Run(fmt.Sprintf("now %v", now), func(t *testing.T) {
			g := NewReading(challenge.StashConfig{MaxEntries: 4096, MaxBytes: 128 * kib})
			x, err := g.Enter(context.Background(), "x", 120*kib, nil) // cannot be cut
			if err != nil {
				t.Fatal(err)
			}
			cuts := 0
			var leaves []func()
			for range 4 {
				leave, err := g.Enter(context.Background(), "a", kib, func() { cuts++ })
				if err != nil {
					t.Fatal(err)
				}
				leaves = append(leaves, leave)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			enter := g.Enter
			if now {
				enter = g.EnterNow
			}
			// 32 KiB more: the 3 reads of a that could be cut make 3.
			if _, err := enter(ctx, "c", 32*kib, nil); err == nil {
				t.Fatal("entered without room")
			}
			g.mu.Lock()
			got := cuts
			g.mu.Unlock()
			if got != 0 {
				t.Errorf("%d of 4 reads cut off for a read they could not make room for, want 0", got)
			}
			x()
			for _, l := range leaves {
				l()
			}
			wantNothingRead(t, g)
		})
	}
}

// An HTTP/2 read that waits for reads being cut off is refused when a
// network reading fewer takes that room: it does not wait on, its body
// buffered uncounted, for a read to end.
func TestReadingNowIsNotLeftWaiting(t *testing.T) {
	const kib = 1 << 10
	g := NewReading(challenge.StashConfig{MaxEntries: 4096, MaxBytes: 128 * kib})
	ctx := context.Background()
	cut := make(chan struct{}, 4)
	var leaves []func()
	for _, o := range []string{"a", "a", "a", "z"} {
		leave, err := g.Enter(ctx, o, 32*kib, func() { cut <- struct{}{} })
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, leave)
	}
	// z, reading 1, waits for a's oldest to be cut off.
	now := make(chan error, 1)
	start := time.Now()
	go func() {
		leave, err := g.EnterNow(ctx, "z", 32*kib, nil)
		if err == nil {
			leave()
		}
		now <- err
	}()
	<-cut
	// y, reading none, comes first; the cut read ends and y takes its room.
	y := enterAsync(ctx, g, "y", 32*kib)
	stillOut(t, y, "y before the cut read ended")
	leaves[0]()
	leaveY := waitFor(t, y, "y, reading fewer")
	select {
	case err := <-now:
		if !errors.Is(err, errNoRoom) {
			t.Fatalf("z's HTTP/2 read: %v, want no room", err)
		}
	case <-time.After(time.Second):
		leaves[1]() // room for z at last
		err := <-now
		t.Fatalf("z's HTTP/2 read left waiting with no room coming: %v after %v, want refused at once", err, time.Since(start).Round(time.Millisecond))
	}
	leaveY()
	for _, l := range leaves[1:] {
		l()
	}
	wantNothingRead(t, g)
}

// wantNothingRead fails unless g counts no read and no byte: every read
// has ended.
func wantNothingRead(t *testing.T, g *Reading) {
	t.Helper()
	if reads, bytes := g.InUse(); reads != 0 || bytes != 0 {
		t.Fatalf("after every read ended: %d reads, %d bytes", reads, bytes)
	}
}
