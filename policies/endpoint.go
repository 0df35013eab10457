package policies

import (
	"fmt"
	"path"
	"strings"
)

// Endpoint names requests by method and path, such as POST /sign.
type Endpoint struct {
	// Method is an HTTP method in upper case, or "*" for any method.
	Method string `json:"method"`
	// Path is an exact path such as "/sign", or a glob in the syntax of
	// Go's path.Match such as "/petitions/*/sign".
	Path string `json:"path"`
}

// Validate reports what is wrong with e, if anything.
func (e Endpoint) Validate() error {
	if e.Method == "" || (e.Method != "*" && strings.ToUpper(e.Method) != e.Method) {
		return fmt.Errorf("method %q: want an upper-case HTTP method such as POST, or *", e.Method)
	}
	if !strings.HasPrefix(e.Path, "/") {
		return fmt.Errorf("path %q: want an absolute path such as /sign", e.Path)
	}
	if _, err := path.Match(e.Path, "/"); err != nil {
		return fmt.Errorf("path %q: bad glob: %w", e.Path, err)
	}
	return nil
}

// Matches reports whether a request with this method and path is e.
func (e Endpoint) Matches(method, reqPath string) bool {
	if e.Method != "*" && e.Method != method {
		return false
	}
	if e.Path == reqPath {
		return true
	}
	ok, _ := path.Match(e.Path, reqPath)
	return ok
}

func (e Endpoint) String() string { return e.Method + " " + e.Path }

// Endpoints is a list of endpoints; a request is in it when it matches any.
type Endpoints []Endpoint

// Matches reports whether any endpoint matches the request.
func (es Endpoints) Matches(method, reqPath string) bool {
	for _, e := range es {
		if e.Matches(method, reqPath) {
			return true
		}
	}
	return false
}
