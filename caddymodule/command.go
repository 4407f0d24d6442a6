package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/idphooks/idphooks/examples/fixtures"
	"github.com/idphooks/idphooks/hooktest"
	"github.com/idphooks/idphooks/interceptors/forms"
	"github.com/idphooks/idphooks/interceptors/oidc"
	"github.com/idphooks/idphooks/interceptors/saml"
	"github.com/idphooks/idphooks/types"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "idp-hooks",
		Usage: "init|test|replay …",
		Short: "Write, test and replay idphooks hooks",
		Long: `
Tools for idphooks hook authors.

  idp-hooks init <dir>
      writes the type declarations, an editor/tsc config, a starter hook
      and a sample event into <dir>.

  idp-hooks test <hook.js> --event <fixture.json>
      runs the hook on a sample event through the checks the server applies
      (protected claims, unlock_claims, applications, mode, on_error, limits,
      egress) and prints its calls, the resulting tokens or userinfo as a
      diff against the event's, its console output and its duration.
      Sample events for every lifecycle event are in examples/fixtures/.
      The exit status is non-zero when the hook fails.

  idp-hooks replay <new.js> --events <events.jsonl>
      runs a new version of a hook on events recorded by a server (the
      record option) and reports, event by event, where its outcome differs
      from the configured hook's. The exit status is 1 when any differs.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(initCommand(), testCommand(), replayCommand(), deliveriesCommand(), sendTestCommand())
		},
	})
}

// raisedEvents are the events the interceptors of this build raise. The
// list does not depend on an interceptor's config, so the CLI asks a nil
// one.
func raisedEvents() []string {
	return slices.Concat((*oidc.Interceptor)(nil).Raises(), (*saml.Interceptor)(nil).Raises(), (*forms.Interceptor)(nil).Raises())
}

func testCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "test <hook.js> --event <fixture.json>",
		Short: "Run a hook on a sample event",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			fixture, _ := c.Flags().GetString("event")
			if fixture == "" {
				return errors.New("--event <fixture.json> is required")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			c.SilenceUsage = true
			return hooktest.Run(ctx, args[0], fixture, c.OutOrStdout(), hooktest.Options{Raised: raisedEvents()})
		},
	}
	c.Flags().StringP("event", "e", "", "sample event (JSON fixture)")
	return c
}

func replayCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "replay <new.js> --events <events.jsonl>",
		Short: "Replay recorded events against a new version of a hook",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			file, _ := c.Flags().GetString("events")
			if file == "" {
				return errors.New("--events <events.jsonl> is required (the record option writes it)")
			}
			hook, _ := c.Flags().GetString("hook")
			against, _ := c.Flags().GetString("against")
			pairs, _ := c.Flags().GetStringArray("secret")
			secrets := map[string]string{}
			for _, p := range pairs {
				name, val, ok := strings.Cut(p, "=")
				if !ok || name == "" {
					return fmt.Errorf("--secret %q: want NAME=value (placeholders such as {env.CRM_TOKEN} work)", p)
				}
				secrets[name] = val
			}
			resolved, err := hooktest.ResolveSecrets(secrets)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			c.SilenceUsage = true
			sum, err := hooktest.Replay(ctx, args[0], file, hooktest.ReplayOptions{Hook: hook, Against: against, Secrets: resolved}, c.OutOrStdout())
			if err != nil {
				return err
			}
			if sum.Differ > 0 {
				return fmt.Errorf("%d of %d events differ", sum.Differ, sum.Events)
			}
			return nil
		},
	}
	c.Flags().String("events", "", "recorded events (JSON Lines, from the record option)")
	c.Flags().String("hook", "", "the configured hook the new one replaces, by file name (default: the new file's name)")
	c.Flags().String("against", "", "run this hook file beside the new one instead of comparing with the recorded outcome")
	c.Flags().StringArray("secret", nil, "NAME=value of a secret the hook reads (repeatable)")
	return c
}

func initCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "init <dir>",
		Short: "Write type declarations, an editor config, a starter hook and a sample event",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			dir := args[0]
			fixture := filepath.Join(dir, "before_token.json")
			if _, err := os.Stat(fixture); err == nil {
				return fmt.Errorf("%s exists; init never overwrites a file", fixture)
			}
			written, err := types.Init(dir)
			if err != nil {
				return err
			}
			b, err := fixtures.Files.ReadFile("before_token.json")
			if err != nil {
				return err
			}
			if err := os.WriteFile(fixture, b, 0o644); err != nil {
				return err
			}
			written = append(written, fixture)
			w := c.OutOrStdout()
			for _, f := range written {
				fmt.Fprintf(w, "wrote %s\n", f)
			}
			fmt.Fprintf(w, "\nnext:\n  caddy idp-hooks test %s --event %s\n  npx -p typescript tsc -p %s\n",
				filepath.Join(dir, "hook.js"), fixture, filepath.Join(dir, "jsconfig.json"))
			return nil
		},
	}
}
