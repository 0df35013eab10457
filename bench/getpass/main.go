// Command getpass solves a rempart challenge natively and prints the pass
// cookie, for load runs that measure the shield's pass-through path:
//
//	wrk -H "Cookie: $(go run ./bench/getpass http://localhost:8080/)" http://localhost:8080/
//
// The pass is bound to the User-Agent getpass sends (wrk's default is none:
// pass -ua to match the load tool's).
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/rempart/rempart/internal/shieldtest"
)

func main() {
	ua := flag.String("ua", "", "User-Agent to bind the pass to (empty: send none, as wrk does)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: getpass [-ua agent] URL")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	cookie, err := getPass(flag.Arg(0), *ua)
	if err != nil {
		fmt.Fprintln(os.Stderr, "getpass:", err)
		os.Exit(1)
	}
	fmt.Println(cookie)
}

func getPass(target, ua string) (string, error) {
	base, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("parsing URL: %w", err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("User-Agent", ua)
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetching the challenge: %w", err)
	}
	page, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("reading the challenge: %w", err)
	}
	proof, err := shieldtest.SolvePage(page)
	if err != nil {
		return "", err
	}
	verify := base.ResolveReference(&url.URL{Path: proof.Action})
	req, _ = http.NewRequest(http.MethodPost, verify.String(), strings.NewReader(proof.Form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", ua)
	resp, err = client.Do(req)
	if err != nil {
		return "", fmt.Errorf("posting the proof: %w", err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "rempart_pass" {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", fmt.Errorf("proof refused: status %d", resp.StatusCode)
}
