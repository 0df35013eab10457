// Command rempart is Caddy with its standard modules, the rempart shield,
// and a demo petition for trying the shield out:
//
//	go run ./cmd/rempart run --config Caddyfile.example
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/rempart/rempart"
	_ "github.com/rempart/rempart/internal/demo"
)

func main() {
	caddycmd.Main()
}
