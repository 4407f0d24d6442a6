package oidc

import (
	"os"
	"strconv"
	"strings"
)

func writeFile(path, src string) error { return os.WriteFile(path, []byte(src), 0o600) }

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func itoa(n int) string { return strconv.Itoa(n) }
