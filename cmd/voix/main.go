// Command voix is the one binary a person uses: `voix dev` runs the whole suite in one
// process; the other subcommands arrive with their issues.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/voix-dev/voix/cmd/voix/internal/dev"
	"github.com/voix-dev/voix/services/platform/config"
)

const usage = `usage: voix <command> [flags]

commands:
  dev        run NATS and every service in one process, data under ./data
  sentiment  sentiment administration: 'voix sentiment rebuild'
  token      create, list and revoke bearer tokens: 'voix token create --role hr --segment acme'
  audit      run every service as its own process through a simulated week, then attack
             its anonymity: byte scan, differencing, linkage (make audit)
  chaos      run NATS and every service as its own process under load, kill them at random,
             then check that nothing acknowledged was lost or counted twice (make chaos)
  e2e-cluster
             the crash test on a three-node JetStream cluster with R3 streams: kill a NATS
             node and a service under load, then check nothing was lost (make e2e-cluster)
  demo       fill a running 'voix dev --demo-weeks 12' with a living organisation (12 weeks in
             about a minute) for the dashboard at http://127.0.0.1:7180/
  watch      print the released sentiment aggregates of a subtree as JSON lines (WatchSentiment):
             the current state first, then every change
  bench      start the suite in this process (or --target a running one), drive 64 clients
             and measure ingest against the gRPC echo and fsync ceilings (make bench)
`

// errUsage is returned when the command line names no command: the usage went to stderr.
var errUsage = errors.New("usage")

func main() {
	os.Exit(exitCode(run(os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// exitCode is the process's exit status for run's error: 0 for none or for help asked with
// -h (the flag package printed it), 2 for a command line to fix, after saying why.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintln(stderr, "voix:", err)
	return 2
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "dev":
		return runDev(args[1:], stdout, stderr)
	case "sentiment":
		return runSentiment(args[1:], stdout, stderr)
	case "token":
		return runToken(args[1:], stdout, stderr)
	case "audit":
		return runAudit(args[1:], stdout, stderr)
	case "chaos":
		return runChaos(args[1:], stdout, stderr)
	case "e2e-cluster":
		return runE2ECluster(args[1:], stdout, stderr)
	case "demo":
		return runDemo(args[1:], stdout, stderr)
	case "watch":
		return runWatch(args[1:], stdout, stderr)
	case "bench":
		return runBench(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func runDev(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("voix dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg dev.Config
	fs.StringVar(&cfg.DataDir, "data-dir", "data", "where NATS, the stores and tokens.json live")
	fs.StringVar(&cfg.Host, "host", "127.0.0.1", "address every listener binds")
	fs.IntVar(&cfg.NATSPort, "nats-port", 4222, "NATS client port")
	fs.StringVar(&cfg.PulseListen, "pulse-listen", "", "pulse gRPC address (default <host>:7101)")
	fs.StringVar(&cfg.FeedbackListen, "feedback-listen", "", "feedback gRPC address (default <host>:7102)")
	fs.StringVar(&cfg.SentimentListen, "sentiment-listen", "", "sentiment gRPC address (default <host>:7103)")
	fs.StringVar(&cfg.GatewayListen, "gateway-listen", "", "gateway HTTP address (default <host>:7180)")
	fs.StringVar(&cfg.Org, "org", "acme", "organisation the dev tokens are limited to")
	fs.IntVar(&cfg.MinGroupSize, "min-group-size", 5, "k: no aggregate for fewer distinct people")
	fs.IntVar(&cfg.DemoWeeks, "demo-weeks", 0, dev.DemoWeeksUsage)
	notifyAllow := fs.String("notify-allow", "", "comma-separated IPs, CIDR ranges and host names that feedback's notification targets may reach although they are loopback, link-local, private or metadata addresses (a webhook receiver on this machine: 127.0.0.1)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := config.ApplyEnv(fs, os.Getenv); err != nil {
		return err
	}
	for _, a := range strings.Split(*notifyAllow, ",") {
		if a = strings.TrimSpace(a); a != "" {
			cfg.NotifyAllow = append(cfg.NotifyAllow, a)
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", *logLevel)
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := dev.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, s.Banner())
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping…")
	return s.Close()
}
