// Command feedback runs the anonymous feedback service alone, against an external NATS.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/config"
	"github.com/voix-dev/voix/services/platform/marks"
)

var command = config.Command{
	Name: "feedback",
	Summary: "Runs the anonymous feedback service alone, against an external NATS: comments, their\n" +
		"workflow and threads. It serves from its store while NATS is away; events wait in its outbox.",
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
	c.Register(fs, feedback.DefaultListen)
	threshold := fs.Int("comment-threshold", anonymity.DefaultCommentThreshold, "headcount a segment needs before comments are shown under it; fix it before the first comment")
	daily := fs.Int("daily-limit", feedback.DefaultDailyLimit, "comments one person may submit per UTC day")
	ack := fs.Duration("ack-deadline", feedback.DefaultAckDeadline, "time a comment may stay NEW before it is overdue")
	resolve := fs.Duration("resolve-deadline", feedback.DefaultResolveDeadline, "time a comment may stay open before it is overdue")
	replica := fs.String("replica", "", "this replica's name, unique among the replicas, when several feedback replicas take comments: the idempotency records are then shared through the NATS key-value bucket "+feedback.MarksBucket+" (empty: one replica)")
	claimTTL := fs.Duration("claim-ttl", marks.DefaultClaimTTL, "with --replica: how long a replica that died while storing a comment holds its claim on the comment's idempotency key (at least 2s)")
	allow := fs.String("notify-allow", "", "comma-separated IPs, CIDR ranges and host names that notification targets may reach although they are loopback, link-local, private or metadata addresses")
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
	svc, err := feedback.Start(ctx, feedback.Config{
		Listen:     c.Listen,
		DataDir:    c.DataDir,
		NATS:       c.Bus(),
		TokensFile: c.TokensFile,
		Secret:     c.Secret(getenv),
		Log:        c.Logger(stderr),
		Now:        c.Now(),
		MaxStreams: c.GRPCMaxStreams(),
		Ops:        ops,

		CommentThreshold: *threshold,
		MinGroupSize:     c.MinGroupSize,
		DailyLimit:       *daily,
		AckDeadline:      *ack,
		ResolveDeadline:  *resolve,
		Notify:           feedback.NotifyConfig{Allow: strings.Split(*allow, ",")},
		Replica:          feedback.ReplicaConfig{Name: *replica, ClaimTTL: *claimTTL},
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	return svc.Close()
}
