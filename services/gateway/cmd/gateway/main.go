// Command gateway runs the chat gateway alone, in front of a running feedback service.
package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/voix-dev/voix/services/gateway"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/config"
	"github.com/voix-dev/voix/services/platform/tlsconf"
)

// Variables read from the environment only: secrets never come from flags, which show in
// process lists.
const (
	envSigningSecret = "VOIX_SLACK_SIGNING_SECRET"
	envToken         = "VOIX_GATEWAY_TOKEN"
	envWorkspaces    = "VOIX_WORKSPACES"
	envDashboardKey  = "VOIX_DASHBOARD_KEY"
)

var command = config.Command{
	Name: "gateway",
	Summary: "Runs the chat gateway alone (HTTP: Slack-style slash commands, the directory, the dashboard),\n" +
		"in front of a running feedback service and, optionally, a pulse service.",
	Env: []config.Env{
		{Name: envSigningSecret, Usage: "the chat app's signing secret; required"},
		{Name: envToken, Usage: "a submitter bearer token the gateway presents to the services; required"},
		{Name: envWorkspaces, Usage: "as --workspace, comma-separated (T123=acme,T456=globex); ignored when --workspace is given"},
		{Name: envDashboardKey, Usage: "base64 of at least 32 bytes keying the dashboard's CSRF tokens; set the same on every gateway behind one address (default: random per start)"},
		config.SecretEnv,
	},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(command.ExitCode(err, os.Stderr))
}

// run runs the gateway until ctx is done, then stops it. Flags come from args, then from
// getenv (VOIX_*); logs go to stderr, the help to stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(command.Name, flag.ContinueOnError)
	var c config.Service
	c.RegisterBase(fs, gateway.DefaultListen)
	feedbackAddr := fs.String("feedback-addr", "127.0.0.1:7102", "feedback service gRPC address")
	pulseAddr := fs.String("pulse-addr", "127.0.0.1:7101", "pulse service gRPC address (empty: no /pulse)")
	directory := fs.String("directory-file", "", "CSV or JSON file of chat users and segments to load at start")
	sentimentAddr := fs.String("sentiment-addr", "127.0.0.1:7103", "sentiment service gRPC address, read by the HR dashboard (empty: no heatmap, trends or alerts)")
	minGroup := fs.Int("min-group-size", anonymity.DefaultMinGroupSize, "k as the services apply it, named where the dashboard explains a hidden number")
	svcCA := fs.String("service-tls-ca", "", "PEM CA certificates that sign the services' gRPC certificates; set, the gateway dials the services over TLS (empty: plain gRPC)")
	svcCert := fs.String("service-tls-cert", "", "PEM client certificate the gateway presents to services run with --tls-client-ca (mutual TLS)")
	svcKey := fs.String("service-tls-key", "", "PEM private key of --service-tls-cert")
	svcName := fs.String("service-tls-server-name", "", "name the services' certificates must carry, when not the host of their address")
	workspaces := map[string]string{}
	fs.Func("workspace", "chat workspace id and its organisation, e.g. T123=acme; repeatable, or comma-separated "+
		"(or "+envWorkspaces+"). Without it, every workspace belongs to the organisation of the gateway's token",
		func(v string) error { return gateway.ParseWorkspaces(v, workspaces) })
	if err := command.Parse(fs, args, getenv, stdout); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return config.UsageError(err)
	}
	if len(workspaces) == 0 {
		if v := getenv(envWorkspaces); v != "" {
			if err := gateway.ParseWorkspaces(v, workspaces); err != nil {
				return config.UsageError(fmt.Errorf("environment %s: %w", envWorkspaces, err))
			}
		}
	}
	var serviceTLS *tls.Config
	if *svcCA != "" || *svcCert != "" || *svcKey != "" {
		var err error
		if serviceTLS, err = tlsconf.Client(*svcCA, *svcCert, *svcKey, *svcName); err != nil {
			return config.UsageError(fmt.Errorf("--service-tls-ca/--service-tls-cert/--service-tls-key: %w", err))
		}
	}
	secret, token := getenv(envSigningSecret), getenv(envToken)
	if secret == "" || token == "" {
		return config.UsageError(errors.New("set " + envSigningSecret + " and " + envToken + " (a submitter token)"))
	}
	var dashKey []byte
	if v := getenv(envDashboardKey); v != "" {
		k, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(k) < 32 {
			return config.UsageError(errors.New(envDashboardKey + ": want base64 of at least 32 bytes"))
		}
		dashKey = k
	}
	log := c.Logger(stderr).With("service", command.Name)
	svc, err := gateway.Start(ctx, gateway.Config{
		Listen: c.Listen, DataDir: c.DataDir, SigningSecret: []byte(secret), FeedbackAddr: *feedbackAddr,
		PulseAddr: *pulseAddr, SentimentAddr: *sentimentAddr, MinGroupSize: *minGroup, DashboardKey: dashKey, Workspaces: workspaces,
		Token: token, DirectoryFile: *directory, Log: log,
		TokensFile: c.TokensFile, Secret: c.Secret(getenv), Now: c.Now(), ServiceTLS: serviceTLS,
	})
	if err != nil {
		return err
	}
	log.Info("gateway listening", "addr", svc.Addr())
	<-ctx.Done()
	return svc.Close()
}
