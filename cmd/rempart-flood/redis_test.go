package main

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
)

func TestParseScriptsRun(t *testing.T) {
	info := "# Commandstats\r\ncmdstat_get:calls=9,usec=3,usec_per_call=0.33\r\n" +
		"cmdstat_evalsha:calls=12340,usec=99,usec_per_call=0.01,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_eval:calls=5,usec=1\r\ncmdstat_info:calls=2,usec=1\r\n"
	bulk := func(body string) string { return "$" + strconv.Itoa(len(body)) + "\r\n" + body + "\r\n" }
	for _, tc := range []struct {
		name, reply string
		want        int64
		ok          bool
	}{
		{"EVALSHA and EVAL, not GET", bulk(info), 12345, true},
		{"no script run yet", bulk("# Commandstats\r\ncmdstat_info:calls=1,usec=1\r\n"), 0, true},
		{"a broken count", bulk("cmdstat_evalsha:calls=x,usec=1\r\n"), 0, false},
		{"a negative count", bulk("cmdstat_eval:calls=-3\r\n"), 0, false},
		{"counts past int64", bulk("cmdstat_evalsha:calls=9223372036854775807\r\ncmdstat_eval:calls=1\r\n"), 0, false},
		{"an error", "-ERR unknown command\r\n", 0, false},
		{"a short body", "$100\r\n# Commandstats\r\n", 0, false},
		{"a negative size", "$-1\r\n", 0, false},
		{"a huge size", "$99999999999\r\n", 0, false},
		{"nothing", "", 0, false},
	} {
		got, err := parseScriptsRun(bufio.NewReader(strings.NewReader(tc.reply)))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: %d, %v; want %d, ok %v", tc.name, got, err, tc.want, tc.ok)
		}
	}
}

// FuzzParseScriptsRun: whatever Redis (or something else on its port)
// answers, the parser returns a count or an error, reading at most 1 MiB.
func FuzzParseScriptsRun(f *testing.F) {
	f.Add("$29\r\ncmdstat_evalsha:calls=42,u=1\r\n")
	f.Add("-ERR\r\n")
	f.Add("$1048577\r\n")
	f.Fuzz(func(t *testing.T, reply string) {
		n, err := parseScriptsRun(bufio.NewReader(strings.NewReader(reply)))
		if err == nil && n < 0 {
			t.Fatalf("%d scripts", n)
		}
	})
}
