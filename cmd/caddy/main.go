// Command caddy is the custom Caddy build that carries idphooks: the file
// xcaddy would generate for `xcaddy build --with github.com/idphooks/idphooks`.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// the standard Caddy modules
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// idphooks
	_ "github.com/idphooks/idphooks/caddymodule"
)

func main() {
	caddycmd.Main()
}
