// Command sentiment runs the sentiment aggregation service alone, against an external NATS.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/voix-dev/voix/services/platform/config"
	"github.com/voix-dev/voix/services/sentiment"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sentiment:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("sentiment", flag.ContinueOnError)
	var c config.Service
	c.Register(fs, sentiment.DefaultListen)
	lang := fs.String("language", "en", "organisation language for texts too short to tell: en or fr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := config.ApplyEnv(fs, os.Getenv); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	svc, err := sentiment.Start(ctx, sentiment.Config{
		Listen:       c.Listen,
		DataDir:      c.DataDir,
		NATS:         c.Bus(),
		TokensFile:   c.TokensFile,
		Secret:       c.Secret(os.Getenv),
		MinGroupSize: c.MinGroupSize,
		Language:     *lang,
		Log:          c.Logger(os.Stderr),
		Now:          c.Now(),
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	return svc.Close()
}
