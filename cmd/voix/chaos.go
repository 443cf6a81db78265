package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/voix-dev/voix/cmd/voix/internal/chaos"
)

// errChaosFailed is returned when the crash test lost or duplicated something: the findings
// and the summary line say what.
var errChaosFailed = errors.New("the crash test lost or duplicated acknowledged items (see above)")

func runChaos(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("voix chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin-dir", "bin", "directory holding the pulse, feedback and sentiment binaries (make build)")
	natsServer := fs.String("nats-server", "", "nats-server binary (default: built from the nats-server module cmd/voix requires, into the work directory)")
	dir := fs.String("dir", "", "work directory (default: a new temporary directory, removed after a clean run)")
	duration := fs.Duration("duration", 60*time.Second, "how long the load and the kills last; CHAOS_DURATION sets it too")
	workers := fs.Int("workers", 32, "simulated employees acting at once")
	seed := fs.Uint64("seed", 0, "seed of the actions, victims and pauses (0: random)")
	long := fs.Bool("long-outage", false, "also keep the sentiment service down for longer than JetStream's duplicate window (2 minutes): the run takes over 2 minutes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "duration" })
	if env := os.Getenv("CHAOS_DURATION"); env != "" && !given {
		d, err := time.ParseDuration(env)
		if err != nil {
			return fmt.Errorf("CHAOS_DURATION: %q is not a duration such as 20s", env)
		}
		*duration = d
	}
	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "voix-chaos-"); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := chaos.Run(ctx, chaos.Config{
		BinDir: *bin, NATSServer: *natsServer, Dir: work, Duration: *duration,
		Workers: *workers, Seed: *seed, LongOutage: *long, Log: stderr,
	})
	res.Report(stdout)
	if err != nil {
		return fmt.Errorf("chaos (files kept in %s): %w", work, err)
	}
	if !res.OK() {
		fmt.Fprintln(stderr, "voix chaos: files kept in", work)
		return errChaosFailed
	}
	if *dir == "" {
		return os.RemoveAll(work)
	}
	return nil
}
