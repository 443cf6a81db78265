// Command pulse runs the pulse survey service alone, against an external NATS.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // survey time zones must load on hosts without /usr/share/zoneinfo

	"github.com/voix-dev/voix/services/platform/config"
	"github.com/voix-dev/voix/services/pulse"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pulse:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("pulse", flag.ContinueOnError)
	var c config.Service
	c.Register(fs, pulse.DefaultListen)
	scheduleEvery := fs.Duration("schedule-every", time.Second, "how often the scheduler opens and closes waves")
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
	svc, err := pulse.Start(ctx, pulse.Config{
		Listen:     c.Listen,
		DataDir:    c.DataDir,
		NATS:       c.Bus(),
		TokensFile: c.TokensFile,
		Secret:     c.Secret(os.Getenv),
		Log:        c.Logger(os.Stderr),
		Now:        c.Now(),

		ScheduleEvery: *scheduleEvery,
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	return svc.Close()
}
