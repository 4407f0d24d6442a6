package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// The delivery commands wrap the admin endpoint of a running Caddy:
//
//	caddy idp-hooks deliveries                              receivers' health
//	caddy idp-hooks deliveries --receiver <r> [--state dead]
//	caddy idp-hooks deliveries replay --id <id> | --receiver <r> | --since <time> | --all
//	caddy idp-hooks deliveries enable --receiver <r>
//	caddy idp-hooks send-test --receiver <r>
//
// (`caddy idp-hooks replay` replays recorded events against a hook; the
// delivery replay is `deliveries replay`.)

const defaultAdmin = "localhost:2019"

// admin calls the admin endpoint at addr and prints its JSON answer.
func admin(c *cobra.Command, method, path string, body any) error {
	addr, _ := c.Flags().GetString("address")
	if addr == "" {
		addr = defaultAdmin
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.Context(), method, strings.TrimSuffix(addr, "/")+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("the admin endpoint at %s: %w (is Caddy running? --address sets where)", addr, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	c.SilenceUsage = true
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("admin endpoint: %s: %s", resp.Status, strings.TrimSpace(string(out)))
	}
	_, err = c.OutOrStdout().Write(out)
	return err
}

func deliveriesCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "deliveries [--receiver <r> [--state pending|dead]]",
		Short: "Show webhook and async hook receivers' health, or one receiver's queued or dead messages",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r, _ := c.Flags().GetString("receiver")
			if r == "" {
				return admin(c, http.MethodGet, "/idp-hooks/receivers", nil)
			}
			state, _ := c.Flags().GetString("state")
			q := url.Values{"receiver": {r}, "state": {state}}
			if cur, _ := c.Flags().GetString("cursor"); cur != "" {
				q.Set("cursor", cur)
			}
			return admin(c, http.MethodGet, "/idp-hooks/deliveries?"+q.Encode(), nil)
		},
	}
	c.Flags().String("address", defaultAdmin, "Caddy's admin endpoint")
	c.Flags().String("receiver", "", "a receiver (a webhook's URL, hook:<path>@<IdP> for an async hook)")
	c.Flags().String("state", "pending", "pending or dead")
	c.Flags().String("cursor", "", "the next page, from the previous answer's next")
	replay := &cobra.Command{
		Use:   "replay --id <id> | --receiver <r> | --since <RFC 3339 time> | --all",
		Short: "Deliver dead letters again (same webhook-id)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			id, _ := c.Flags().GetString("id")
			r, _ := c.Flags().GetString("receiver")
			since, _ := c.Flags().GetString("since")
			all, _ := c.Flags().GetBool("all")
			body := map[string]any{}
			if id != "" {
				body["id"] = id
			}
			if r != "" {
				body["receiver"] = r
			}
			if since != "" {
				t, err := time.Parse(time.RFC3339, since)
				if err != nil {
					return fmt.Errorf("--since: %w (want RFC 3339, like 2026-12-01T00:00:00Z)", err)
				}
				body["since"] = t
			}
			if all {
				body["all"] = true
			}
			if len(body) == 0 {
				return fmt.Errorf("say what to replay: --id, --receiver, --since or --all")
			}
			return admin(c, http.MethodPost, "/idp-hooks/replay", body)
		},
	}
	replay.Flags().String("address", defaultAdmin, "Caddy's admin endpoint")
	replay.Flags().String("id", "", "one message")
	replay.Flags().String("receiver", "", "all of a receiver's dead letters")
	replay.Flags().String("since", "", "those dead since this time")
	replay.Flags().Bool("all", false, "every dead letter")
	enable := &cobra.Command{
		Use:   "enable --receiver <r>",
		Short: "Attempt a disabled (410 Gone) or paused receiver's messages again, on every instance",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r, _ := c.Flags().GetString("receiver")
			if r == "" {
				return fmt.Errorf("--receiver is required (caddy idp-hooks deliveries lists them)")
			}
			return admin(c, http.MethodPost, "/idp-hooks/enable", map[string]string{"receiver": r})
		},
	}
	enable.Flags().String("address", defaultAdmin, "Caddy's admin endpoint")
	enable.Flags().String("receiver", "", "a receiver (a webhook's URL, hook:<path>@<IdP> for an async hook)")
	c.AddCommand(replay, enable)
	return c
}

func sendTestCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "send-test --receiver <r>",
		Short: "Queue a test event (type idphooks.test) for a receiver",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r, _ := c.Flags().GetString("receiver")
			if r == "" {
				return fmt.Errorf("--receiver is required (caddy idp-hooks deliveries lists them)")
			}
			return admin(c, http.MethodPost, "/idp-hooks/send-test", map[string]string{"receiver": r})
		},
	}
	c.Flags().String("address", defaultAdmin, "Caddy's admin endpoint")
	c.Flags().String("receiver", "", "a receiver (a webhook's URL)")
	return c
}
