package redisstore

import (
	"bytes"
	"testing"
	"time"

	"github.com/rempart/rempart/challenge"
	"github.com/rempart/rempart/internal/fuzzguard"
)

// FuzzDecodeSubmission feeds arbitrary data, as a corrupted or hostile
// Redis could return, to the held-submission decoder: an error or a
// submission that encodes back to the same bytes, never a panic.
func FuzzDecodeSubmission(f *testing.F) {
	f.Add(encodeSubmission(challenge.Submission{Method: "POST", Path: "/sign?a=1", ContentType: "application/x-www-form-urlencoded",
		Body: []byte("name=Ada"), Expires: time.Unix(1796100000, 5)}))
	f.Add([]byte{})
	f.Add([]byte{0x02, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzguard.WithinInput(t, fuzzguard.DefaultLimit, data, func() {
			sub, err := decodeSubmission(data)
			if err != nil {
				return
			}
			if again := encodeSubmission(sub); !bytes.Equal(again, data) {
				// Varints have one shortest spelling; others decode too.
				if redecoded, err := decodeSubmission(again); err != nil || !equalSubmissions(redecoded, sub) {
					t.Fatalf("decoded %+v does not survive a round trip", sub)
				}
			}
		})
	})
}

func equalSubmissions(a, b challenge.Submission) bool {
	return a.Method == b.Method && a.Path == b.Path && a.ContentType == b.ContentType &&
		bytes.Equal(a.Body, b.Body) && a.Expires.Equal(b.Expires)
}
