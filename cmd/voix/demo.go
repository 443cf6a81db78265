package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/voix-dev/voix/cmd/voix/internal/demo"
	"github.com/voix-dev/voix/cmd/voix/internal/dev"
	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/gateway"
	"github.com/voix-dev/voix/services/pulse"
	"github.com/voix-dev/voix/services/sentiment"
)

const demoUsage = `usage: voix demo [flags]

Seeds a living organisation into a running 'voix dev --demo-weeks N' through the public APIs
(gRPC and the signed chat gateway), then starts its demo clock and lives its N weeks while the
clock catches up with real time (about a minute): people answer the weekly pulse, the
diagnostic and the onboarding survey, comment in French and English, HR answers and moves
comments through the workflow. Start the suite first, on a new data dir (make demo does):

  ./bin/voix dev --demo-weeks 12 --data-dir data-demo
  ./bin/voix demo --data-dir data-demo

then open http://127.0.0.1:7180/ and paste the hr token of data-demo/tokens.json.

flags:
`

// defaultDemoDataDir is where make demo runs the suite; voix demo looks there first.
const defaultDemoDataDir = "data-demo"

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("voix demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, demoUsage)
		fs.PrintDefaults()
	}
	var cfg demo.Config
	fs.StringVar(&cfg.DataDir, "data-dir", "", "data dir of the running voix dev --demo-weeks (tokens.json, demo-clock.json); "+
		"default "+defaultDemoDataDir+" when it holds a demo clock, else data")
	fs.StringVar(&cfg.Org, "org", "acme", "organisation of voix dev's tokens (its --org)")
	fs.StringVar(&cfg.PulseAddr, "pulse-addr", pulse.DefaultListen, "pulse gRPC address")
	fs.StringVar(&cfg.FeedbackAddr, "feedback-addr", feedback.DefaultListen, "feedback gRPC address")
	fs.StringVar(&cfg.SentimentAddr, "sentiment-addr", sentiment.DefaultListen, "sentiment gRPC address")
	fs.StringVar(&cfg.GatewayAddr, "gateway-addr", gateway.DefaultListen, "gateway HTTP address")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the organisation and of what its people do")
	fs.IntVar(&cfg.People, "people", demo.DefaultPeople, "people in the organisation, 40..5000")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "data"
		if _, err := os.Stat(filepath.Join(defaultDemoDataDir, dev.DemoClockFile)); err == nil {
			cfg.DataDir = defaultDemoDataDir
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg.Out = stdout
	fmt.Fprintf(stdout, "voix demo: seeding %d people into %s (voix dev --data-dir %s)…\n", cfg.People, cfg.Org, cfg.DataDir)
	res, err := demo.Run(ctx, cfg)
	if err != nil {
		return err
	}
	res.Report(stdout)
	return nil
}
