// Command pulse runs the pulse survey service alone, against an external NATS.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // survey time zones must load on hosts without /usr/share/zoneinfo

	"github.com/voix-dev/voix/services/platform/config"
	"github.com/voix-dev/voix/services/platform/marks"
	"github.com/voix-dev/voix/services/pulse"
)

var command = config.Command{
	Name: "pulse",
	Summary: "Runs the pulse survey service alone, against an external NATS: surveys, waves, answers,\n" +
		"results, and the segment registry. It serves from its store while NATS is away.",
	Env: []config.Env{config.SecretEnv},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(command.ExitCode(err, os.Stderr))
}

// run runs the service until ctx is done, then stops it. Flags come from args, then from
// getenv (VOIX_*); logs go to stderr, the help to stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(command.Name, flag.ContinueOnError)
	var c config.Service
	c.Register(fs, pulse.DefaultListen)
	scheduleEvery := fs.Duration("schedule-every", time.Second, "how often the scheduler opens and closes waves")
	replica := fs.String("replica", "", "this replica's name, unique among the replicas, when several pulse replicas take responses: the one-response-per-wave markers are then shared through the NATS key-value bucket "+pulse.MarksBucket+" (empty: one replica)")
	claimTTL := fs.Duration("claim-ttl", marks.DefaultClaimTTL, "with --replica: how long a replica that died while storing a response holds its claim on the person's marker (at least 2s)")
	if err := command.Parse(fs, args, getenv, stdout); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return config.UsageError(err)
	}
	ops, err := c.Ops()
	if err != nil {
		return config.UsageError(err)
	}
	if *claimTTL < marks.MinClaimTTL {
		return config.UsageError(fmt.Errorf("--claim-ttl: is %v; must be at least %v", *claimTTL, marks.MinClaimTTL))
	}
	if *scheduleEvery <= 0 {
		return config.UsageError(fmt.Errorf("--schedule-every: is %v; must be positive", *scheduleEvery))
	}
	svc, err := pulse.Start(ctx, pulse.Config{
		Listen:       c.Listen,
		DataDir:      c.DataDir,
		NATS:         c.Bus(),
		TokensFile:   c.TokensFile,
		Secret:       c.Secret(getenv),
		Log:          c.Logger(stderr),
		Now:          c.Now(),
		MinGroupSize: c.MinGroupSize,
		MaxStreams:   c.GRPCMaxStreams(),
		Ops:          ops,

		ScheduleEvery: *scheduleEvery,
		Replica:       pulse.ReplicaConfig{Name: *replica, ClaimTTL: *claimTTL},
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	return svc.Close()
}
