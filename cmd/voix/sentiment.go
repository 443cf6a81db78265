package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/sentiment"
)

const sentimentUsage = `usage: voix sentiment rebuild [flags]

rebuild  recompute every sentiment rollup by replaying the FEEDBACK and PULSE streams from
         their first message (admin token; the consumers keep running), with its progress
         on stderr
`

func runSentiment(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rebuild" {
		fmt.Fprint(stderr, sentimentUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("voix sentiment rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", sentiment.DefaultListen, "sentiment service gRPC address")
	token := fs.String("token", "", "admin bearer token (default: the admin token of --tokens-json)")
	tokensJSON := fs.String("tokens-json", "data/tokens.json", "tokens.json written by voix dev")
	timeout := fs.Duration("timeout", 30*time.Minute, "how long to wait for the rebuild")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *token == "" {
		b, err := os.ReadFile(*tokensJSON)
		if err != nil {
			return fmt.Errorf("--token not given and %w", err)
		}
		var t struct {
			Admin string `json:"admin"`
		}
		if err := json.Unmarshal(b, &t); err != nil || t.Admin == "" {
			return fmt.Errorf("%s: no admin token in it (%v): pass --token", *tokensJSON, err)
		}
		*token = t.Admin
	}
	cc, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("--addr %s: %w", *addr, err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+*token)
	client := sentimentv1.NewSentimentServiceClient(cc)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); showRebuildProgress(ctx, client, stderr, stop) }()
	resp, err := client.RebuildRollups(ctx, &sentimentv1.RebuildRollupsRequest{})
	close(stop)
	<-done
	if err != nil {
		return errors.Join(errors.New("rebuild failed"), err)
	}
	fmt.Fprintf(stdout, "rebuilt the sentiment rollups from %d events\n", resp.EventsReplayed)
	if !resp.ReleasesKept {
		fmt.Fprintln(stderr, "warning: the store had no complete release log, so the releases were decided anew: values already shown may have been withdrawn; later rebuilds keep them")
	}
	return nil
}

// showRebuildProgress draws the running rebuild's progress on w once a second, until stop.
func showRebuildProgress(ctx context.Context, client sentimentv1.SentimentServiceClient, w io.Writer, stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	drawn := false
	for {
		select {
		case <-stop:
			if drawn {
				fmt.Fprintln(w)
			}
			return
		case <-t.C:
		}
		st, err := client.GetRebuildStatus(ctx, &sentimentv1.GetRebuildStatusRequest{})
		if err != nil || !st.Running || st.EventsTotal == 0 {
			continue
		}
		const width = 30
		done := min(width, int(width*st.EventsReplayed/st.EventsTotal))
		fmt.Fprintf(w, "\rrebuild [%s%s] %d/%d events", strings.Repeat("#", done), strings.Repeat(".", width-done), st.EventsReplayed, st.EventsTotal)
		drawn = true
	}
}
