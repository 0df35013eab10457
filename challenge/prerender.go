package challenge

import (
	"bytes"
	"hash/crc32"
	"io"
	"strconv"
)

// A challenge page differs from one request to the next only in a few
// values (the puzzle, the token, where to go back); running the template
// for all of it on every challenge is most of the cost of answering a
// flood. So each variant of the page (language, and whether it shows a
// problem, carries a submission and offers a no-JavaScript wait) is
// rendered once, with a sentinel in each per-request value, and cut around
// them; a request writes the pieces and its values, escaped as
// html/template escapes them there (every slot is a quoted attribute or a
// text node, where html/template uses the same escaper).

// slot is a per-request value of the challenge page.
type slot uint8

const (
	slotSeed slot = iota
	slotDifficulty
	slotToken
	slotVerifyPath
	slotReturn
	slotSubmission
	slotProblem
	slotNoScriptURL
	slotNoScriptText
	slotCount
)

// slotSentinels are letters only, which no escaper changes and no
// template text holds.
var slotSentinels = [slotCount]string{
	"qzqSEEDqzq", "qzqBITSqzq", "qzqTOKENqzq", "qzqVERIFYqzq", "qzqRETURNqzq",
	"qzqSUBMISSIONqzq", "qzqPROBLEMqzq", "qzqNOSCRIPTURLqzq", "qzqNOSCRIPTTEXTqzq",
}

// pageVariant names one pre-rendered challenge page.
type pageVariant struct {
	lang                          string
	t                             *Messages
	problem, submission, noScript bool
}

// prerenderedPage is a challenge page cut around its slots: parts[i]
// comes before slots[i], and the last part ends the page. deflated[i] is
// parts[i] compressed on its own and flushed (see gzip.go), so that a
// compressed page costs copies and a CRC, never a compressor.
type prerenderedPage struct {
	parts    [][]byte
	deflated [][]byte
	slots    []slot
	size     int // the bytes of every part together
}

// prerendered returns the pre-rendered variant of c's page, rendering it
// on first use, or nil when it cannot be (then the template runs).
func (p *Pages) prerendered(c ChallengePage) *prerenderedPage {
	v := pageVariant{lang: c.Lang, t: c.T, problem: c.Problem != "", submission: c.Submission != "", noScript: c.NoScript != nil}
	if pre, ok := p.variants.Load(v); ok {
		return pre.(*prerenderedPage)
	}
	pre := p.prerender(v)
	if pre != nil {
		p.variants.Store(v, pre)
	}
	return pre
}

// prerender renders variant v with sentinels and cuts it around them. It
// returns nil unless every slot the variant shows appears exactly once.
func (p *Pages) prerender(v pageVariant) *prerenderedPage {
	c := ChallengePage{Lang: v.lang, T: v.t, VerifyPath: slotSentinels[slotVerifyPath], Return: slotSentinels[slotReturn]}
	if v.problem {
		c.Problem = slotSentinels[slotProblem]
	}
	if v.submission {
		c.Submission = slotSentinels[slotSubmission]
	}
	data := challengeData{
		ChallengePage: c, Assets: p.paths,
		Seed: slotSentinels[slotSeed], Token: slotSentinels[slotToken], Difficulty: slotSentinels[slotDifficulty],
	}
	if v.noScript {
		data.NoScript = &NoScriptWait{URL: slotSentinels[slotNoScriptURL]}
		data.NoScriptText = slotSentinels[slotNoScriptText]
	}
	var buf bytes.Buffer
	if err := p.challenge.Execute(&buf, data); err != nil {
		return nil
	}
	page := buf.Bytes()
	pre := &prerenderedPage{}
	for len(page) > 0 {
		at, which := -1, slot(0)
		for s, sentinel := range slotSentinels {
			if i := bytes.Index(page, []byte(sentinel)); i >= 0 && (at < 0 || i < at) {
				at, which = i, slot(s)
			}
		}
		if at < 0 {
			break
		}
		pre.parts = append(pre.parts, bytes.Clone(page[:at]))
		pre.slots = append(pre.slots, which)
		page = page[at+len(slotSentinels[which]):]
	}
	pre.parts = append(pre.parts, bytes.Clone(page))
	var seen [slotCount]int
	for _, s := range pre.slots {
		seen[s]++
	}
	want := [slotCount]int{slotSeed: 1, slotDifficulty: 1, slotToken: 1, slotVerifyPath: 1, slotReturn: 1}
	if v.problem {
		want[slotProblem] = 1
	}
	if v.submission {
		want[slotSubmission] = 1
	}
	if v.noScript {
		want[slotNoScriptURL], want[slotNoScriptText] = 1, 1
	}
	if seen != want {
		return nil
	}
	for _, part := range pre.parts {
		d, err := deflatePart(part)
		if err != nil {
			return nil
		}
		pre.deflated = append(pre.deflated, d)
		pre.size += len(part)
	}
	return pre
}

// write writes the page for c.
func (pre *prerenderedPage) write(w io.Writer, c *ChallengePage) error {
	_, err := w.Write(pre.appendPlain(make([]byte, 0, pre.size+maxSlotsSize(c)), c))
	return err
}

// maxSlotsSize is room for c's per-request values, escaped: enough that
// appending the page to a buffer of pre.size plus this seldom grows it.
func maxSlotsSize(c *ChallengePage) int {
	n := 2*macSize + 8 + len(c.Challenge.Token) + len(c.VerifyPath) + len(c.Return) + len(c.Submission) + len(c.Problem)
	if c.NoScript != nil {
		n += len(c.NoScript.URL) + len(c.T.NoScriptWait) + 8
	}
	return n + n/4
}

// appendPlain appends the page for c to dst.
func (pre *prerenderedPage) appendPlain(dst []byte, c *ChallengePage) []byte {
	for i, s := range pre.slots {
		dst = append(dst, pre.parts[i]...)
		dst = appendSlot(dst, s, c)
	}
	return append(dst, pre.parts[len(pre.parts)-1]...)
}

// appendGzip appends the page for c to dst as a gzip stream: each part
// compressed beforehand, each per-request value in a stored block.
func (pre *prerenderedPage) appendGzip(dst []byte, c *ChallengePage) []byte {
	dst = append(dst, gzipHeader[:]...)
	var sum uint32
	size := pre.size
	for i, s := range pre.slots {
		dst = append(dst, pre.deflated[i]...)
		sum = crc32.Update(sum, crc32.IEEETable, pre.parts[i])
		// The value goes in place, after room for its block's header.
		at := len(dst)
		dst = appendSlot(append(dst, 0, 0, 0, 0, 0), s, c)
		value := dst[at+storedHeader:]
		sum = crc32.Update(sum, crc32.IEEETable, value)
		size += len(value)
		if len(value) <= maxStored {
			putStoredHeader(dst[at:], len(value))
		} else {
			dst = appendStored(dst[:at], bytes.Clone(value))
		}
	}
	last := len(pre.parts) - 1
	dst = append(dst, pre.deflated[last]...)
	sum = crc32.Update(sum, crc32.IEEETable, pre.parts[last])
	return appendGzipEnd(dst, sum, size)
}

// appendSlot appends slot s's value for c, escaped.
func appendSlot(buf []byte, s slot, c *ChallengePage) []byte {
	switch s {
	case slotSeed:
		const hexDigits = "0123456789abcdef"
		for _, b := range c.Challenge.Seed {
			buf = append(buf, hexDigits[b>>4], hexDigits[b&15])
		}
	case slotDifficulty:
		buf = strconv.AppendInt(buf, int64(c.Challenge.Difficulty), 10)
	case slotToken:
		buf = appendEscaped(buf, c.Challenge.Token)
	case slotVerifyPath:
		buf = appendEscaped(buf, c.VerifyPath)
	case slotReturn:
		buf = appendEscaped(buf, c.Return)
	case slotSubmission:
		buf = appendEscaped(buf, c.Submission)
	case slotProblem:
		buf = appendEscaped(buf, c.Problem)
	case slotNoScriptURL:
		buf = appendEscaped(buf, c.NoScript.URL)
	case slotNoScriptText:
		buf = appendEscaped(buf, noScriptText(c.T, c.NoScript.Seconds))
	}
	return buf
}

// appendEscaped appends s escaped as html/template escapes a value in a
// text node or a quoted attribute (its htmlEscaper and attrEscaper share
// one table, of ASCII characters only, so bytes can be replaced one by
// one whatever the rest of the string holds).
func appendEscaped(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case 0:
			buf = append(buf, "\uFFFD"...)
		case '"':
			buf = append(buf, "&#34;"...)
		case '&':
			buf = append(buf, "&amp;"...)
		case '\'':
			buf = append(buf, "&#39;"...)
		case '+':
			buf = append(buf, "&#43;"...)
		case '<':
			buf = append(buf, "&lt;"...)
		case '>':
			buf = append(buf, "&gt;"...)
		default:
			buf = append(buf, c)
		}
	}
	return buf
}
