package caddymodule

import (
	"context"
	"errors"
	"os"
	"os/signal"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/idphooks/idphooks/hooktest"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "idp-hooks",
		Usage: "test <hook.js> --event <fixture.json>",
		Short: "Work with idphooks hooks",
		Long: `
Tools for idphooks hook authors.

  idp-hooks test <hook.js> --event <fixture.json>

runs the hook on a sample event, outside of any server, and prints what it
changed (the api calls it made), its console output and its duration. Sample
events for every lifecycle event are in examples/fixtures/. The exit status
is non-zero when the hook fails.`,
		CobraFunc: func(cmd *cobra.Command) {
			test := &cobra.Command{
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
					return hooktest.Run(ctx, args[0], fixture, c.OutOrStdout())
				},
			}
			test.Flags().StringP("event", "e", "", "sample event (JSON fixture)")
			cmd.AddCommand(test)
		},
	})
}
