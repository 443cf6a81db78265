// Command feedback runs the anonymous feedback service alone, against an external NATS.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/config"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "feedback:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("feedback", flag.ContinueOnError)
	var c config.Service
	c.Register(fs, feedback.DefaultListen)
	threshold := fs.Int("comment-threshold", anonymity.DefaultCommentThreshold, "headcount a segment needs before comments are shown under it; fix it before the first comment")
	daily := fs.Int("daily-limit", feedback.DefaultDailyLimit, "comments one person may submit per UTC day")
	ack := fs.Duration("ack-deadline", feedback.DefaultAckDeadline, "time a comment may stay NEW before it is overdue")
	resolve := fs.Duration("resolve-deadline", feedback.DefaultResolveDeadline, "time a comment may stay open before it is overdue")
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
	svc, err := feedback.Start(ctx, feedback.Config{
		Listen:     c.Listen,
		DataDir:    c.DataDir,
		NATS:       c.Bus(),
		TokensFile: c.TokensFile,
		Secret:     c.Secret(os.Getenv),
		Log:        c.Logger(os.Stderr),
		Now:        c.Now(),

		CommentThreshold: *threshold,
		MinGroupSize:     c.MinGroupSize,
		DailyLimit:       *daily,
		AckDeadline:      *ack,
		ResolveDeadline:  *resolve,
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	return svc.Close()
}
