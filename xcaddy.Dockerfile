# syntax=docker/dockerfile:1
#
# Caddy with idphooks: what `xcaddy build --with github.com/idphooks/idphooks`
# produces, built with plain `go build` from cmd/caddy (the main package
# xcaddy would generate).
#
#	docker build -f xcaddy.Dockerfile -t idphooks-caddy .
#	docker run -p 80:80 -p 443:443 -v caddy_data:/data idphooks-caddy
#
# The image runs the top-level Caddyfile (idphooks in front of Keycloak);
# mount your own at /etc/caddy/Caddyfile and your hooks under /etc/caddy.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-alpine AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
# Dependencies first, so source edits do not invalidate them.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false -ldflags='-s -w' -o /out/caddy ./cmd/caddy
# Fail the build if the module is missing or the example config no longer
# adapts (checked when building for the build machine's own platform).
RUN if [ "$(go env GOOS)/$(go env GOARCH)" = "$TARGETOS/$TARGETARCH" ]; then \
      /out/caddy list-modules | grep -qx 'http.handlers.idp_hooks' \
      && /out/caddy adapt --config /src/Caddyfile > /dev/null; \
    fi

# The official image brings what Caddy expects at run time: CA certificates,
# mailcap, /config and /data (XDG_CONFIG_HOME, XDG_DATA_HOME). Only its
# binary is replaced (it runs as root, so ports 80 and 443 bind without the
# file capability the original binary carried).
FROM caddy:2-alpine
COPY --from=build /out/caddy /usr/bin/caddy
COPY Caddyfile /etc/caddy/Caddyfile
# The hooks the Caddyfile names, by paths relative to the working directory.
COPY demo/claims.js /etc/caddy/demo/claims.js
WORKDIR /etc/caddy
EXPOSE 80 443 443/udp
VOLUME ["/data", "/config"]
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
