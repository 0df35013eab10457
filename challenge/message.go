package challenge

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
)

// A message page (a refusal: 429, deny, 403, 404, 410...) has no
// per-request value: the same language, text and link give the same bytes.
// Under a flood the same few pages are sent again and again, so each is
// rendered and compressed once and kept.

// maxCachedMessages bounds the message pages kept. Their texts come from
// the catalog, the policy's deny messages and a wait in minutes, so a
// real deployment needs a few hundred at most; past the bound a page is
// rendered for each request, uncompressed, as before.
const maxCachedMessages = 2048

// Rendered is a page rendered once, plain and gzip-compressed, with the
// Content-Length of each, so that sending it formats nothing.
type Rendered struct {
	Plain, Gzip       []byte // Gzip is nil when the page was not compressed
	PlainLen, GzipLen string
}

// messageCache holds the rendered message pages, by their MessagePage.
type messageCache struct {
	mu    sync.RWMutex
	pages map[MessagePage]*Rendered
}

// Message returns the message page m, rendered and compressed on first use
// and kept (up to maxCachedMessages pages).
func (p *Pages) Message(m MessagePage) (*Rendered, error) {
	c := &p.messages
	c.mu.RLock()
	r, ok := c.pages[m]
	c.mu.RUnlock()
	if ok {
		return r, nil
	}
	var buf bytes.Buffer
	if err := p.RenderMessage(&buf, m); err != nil {
		return nil, err
	}
	r = &Rendered{Plain: buf.Bytes(), PlainLen: strconv.Itoa(buf.Len())}
	c.mu.Lock()
	defer c.mu.Unlock()
	if kept, ok := c.pages[m]; ok {
		return kept, nil
	}
	if len(c.pages) >= maxCachedMessages {
		return r, nil
	}
	gz, err := gzipBytes(r.Plain)
	if err != nil {
		return nil, fmt.Errorf("compressing message page: %w", err)
	}
	r.Gzip, r.GzipLen = gz, strconv.Itoa(len(gz))
	if c.pages == nil {
		c.pages = make(map[MessagePage]*Rendered)
	}
	c.pages[m] = r
	return r, nil
}
