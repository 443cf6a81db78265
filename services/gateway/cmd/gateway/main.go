// Command gateway runs the chat gateway alone, in front of a running feedback service.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/voix-dev/voix/services/gateway"
	"github.com/voix-dev/voix/services/platform/config"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	listen := fs.String("listen", gateway.DefaultListen, "HTTP address")
	dataDir := fs.String("data-dir", config.DefaultDataDir, "data directory (directory file, shared secret, token hashes)")
	feedbackAddr := fs.String("feedback-addr", "127.0.0.1:7102", "feedback service gRPC address")
	pulseAddr := fs.String("pulse-addr", "127.0.0.1:7101", "pulse service gRPC address (empty: no /pulse)")
	directory := fs.String("directory-file", "", "CSV or JSON file of chat users and segments to load at start")
	tokensFile := fs.String("tokens-file", "", "token hashes file (default <data-dir>/auth/token-hashes.json)")
	var shared config.Service
	shared.RegisterSecret(fs)
	shared.RegisterClock(fs)
	workspaces := map[string]string{}
	fs.Func("workspace", "chat workspace id and its organisation, e.g. T123=acme; repeatable, or comma-separated "+
		"(env VOIX_WORKSPACES). Without it, every workspace belongs to the organisation of the gateway's token",
		func(v string) error { return gateway.ParseWorkspaces(v, workspaces) })
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "workspace" })
	if err := config.ApplyEnv(fs, os.Getenv); err != nil {
		return err
	}
	if v := os.Getenv("VOIX_WORKSPACES"); v != "" && !given {
		if err := gateway.ParseWorkspaces(v, workspaces); err != nil {
			return fmt.Errorf("environment VOIX_WORKSPACES: %w", err)
		}
	}
	// Secrets come from the environment only, never from flags that show in process lists.
	secret, token := os.Getenv("VOIX_SLACK_SIGNING_SECRET"), os.Getenv("VOIX_GATEWAY_TOKEN")
	if secret == "" || token == "" {
		return errors.New("set VOIX_SLACK_SIGNING_SECRET and VOIX_GATEWAY_TOKEN (a submitter token)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	svc, err := gateway.Start(ctx, gateway.Config{
		Listen: *listen, DataDir: *dataDir, SigningSecret: []byte(secret), FeedbackAddr: *feedbackAddr,
		PulseAddr: *pulseAddr, Workspaces: workspaces,
		Token: token, DirectoryFile: *directory, Log: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		TokensFile: *tokensFile, Secret: shared.Secret(os.Getenv), Now: shared.Now(),
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "gateway: listening on", svc.Addr())
	<-ctx.Done()
	return svc.Close()
}
