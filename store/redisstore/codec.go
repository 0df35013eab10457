package redisstore

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/rempart/rempart/challenge"
)

// encodeSubmission lays a submission out as: expiry (unix nanoseconds,
// varint), then method, path and content type (each a uvarint length and
// the bytes), then the body.
func encodeSubmission(sub challenge.Submission) []byte {
	out := make([]byte, 0, 3*binary.MaxVarintLen64+len(sub.Method)+len(sub.Path)+len(sub.ContentType)+len(sub.Body)+binary.MaxVarintLen64)
	out = binary.AppendVarint(out, sub.Expires.UnixNano())
	for _, s := range []string{sub.Method, sub.Path, sub.ContentType} {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	return append(out, sub.Body...)
}

var errCorrupt = errors.New("corrupt held submission")

// decodeSubmission reverses encodeSubmission. Data that Redis returns is
// checked like any input: a bad length is an error, never a panic.
func decodeSubmission(data []byte) (challenge.Submission, error) {
	var sub challenge.Submission
	ns, n := binary.Varint(data)
	if n <= 0 {
		return sub, errCorrupt
	}
	data = data[n:]
	sub.Expires = time.Unix(0, ns)
	var fields [3]string
	for i := range fields {
		l, n := binary.Uvarint(data)
		if n <= 0 || l > uint64(len(data)-n) {
			return challenge.Submission{}, errCorrupt
		}
		fields[i] = string(data[n : n+int(l)])
		data = data[n+int(l):]
	}
	sub.Method, sub.Path, sub.ContentType = fields[0], fields[1], fields[2]
	sub.Body = append([]byte(nil), data...)
	return sub, nil
}
