package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/voix-dev/voix/cmd/voix/internal/dev"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/config"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/sentiment"
)

const watchUsage = `usage: voix watch [flags]

Prints the released sentiment aggregates of a segment and everything below it, one
SentimentUpdated per line as JSON (protojson), on stdout:

  - by default through WatchSentiment (gRPC) with the hr token of tokens.json (or --token): first
    the current released state of the subtree (this week's and last week's aggregates), then every
    release as it is published. When the connection drops, it resumes where it stopped, without
    gaps or repeats; at exit it prints the --resume token that continues after the last line.
  - with --nats, as an HR portal receives them: a core NATS subscription as the portal user of
    tokens.json, which reads its own organisation only; live releases and alerts (SentimentAlert,
    with "alertId"), no initial state.

Ctrl-C stops. Notes go to stderr.

flags:
`

func runWatch(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return watchCmd(ctx, args, stdout, stderr)
}

// watchOptions are the flags of voix watch.
type watchOptions struct {
	dataDir, prefix, addr, token, resume, natsURL string
	nats                                          bool
}

// watchCmd is voix watch until ctx is done.
func watchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("voix watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, watchUsage)
		fs.PrintDefaults()
	}
	var o watchOptions
	fs.StringVar(&o.dataDir, "data-dir", "data", "voix dev's data dir: its tokens.json holds the hr token and the portal user")
	fs.StringVar(&o.prefix, "segment", "acme", "segment prefix to watch: the organisation (voix dev's --org) or a subtree of it")
	fs.StringVar(&o.addr, "sentiment-addr", sentiment.DefaultListen, "sentiment gRPC address")
	fs.StringVar(&o.token, "token", "", "bearer token of a manager, hr or admin (default: the hr token of <data-dir>/tokens.json)")
	fs.StringVar(&o.resume, "resume", "", "resume token printed by an earlier voix watch of the same --segment: continue after it, without the initial state")
	fs.BoolVar(&o.nats, "nats", false, "watch as the NATS portal user instead (live releases and alerts, no initial state)")
	fs.StringVar(&o.natsURL, "nats-url", "nats://127.0.0.1:4222", "NATS server of voix dev (with --nats)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := config.ApplyEnv(fs, os.Getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	seg, err := segment.Parse(o.prefix)
	if err != nil {
		return fmt.Errorf("--segment: %w", err)
	}
	if o.nats && o.resume != "" {
		return errors.New("--resume: NATS core subscriptions cannot resume; drop --nats")
	}
	if o.nats || o.token == "" {
		tokens, ok, err := readTokens(ctx, o.dataDir, stderr)
		if !ok {
			return err
		}
		if o.nats {
			return watchNATS(ctx, o, seg, tokens, stdout, stderr)
		}
		o.token = tokens.HR
	}
	return watchGRPC(ctx, o, seg, stdout, stderr)
}

// readTokens reads tokens.json, waiting for a voix dev that is starting; false at Ctrl-C.
func readTokens(ctx context.Context, dataDir string, stderr io.Writer) (dev.Tokens, bool, error) {
	tokensFile := filepath.Join(dataDir, "tokens.json")
	var tokens dev.Tokens
	for said := false; ; said = true {
		b, err := os.ReadFile(tokensFile)
		if err == nil {
			if err := json.Unmarshal(b, &tokens); err != nil || tokens.HR == "" || tokens.NATSPortalUser == "" {
				return tokens, false, fmt.Errorf("%s: not the tokens.json of voix dev (%v)", tokensFile, err)
			}
			return tokens, true, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return tokens, false, err
		}
		if !said {
			fmt.Fprintf(stderr, "voix watch: waiting for %s (is voix dev running with --data-dir %s?)\n", tokensFile, dataDir)
		}
		if !pause(ctx) {
			return tokens, false, nil
		}
	}
}

// watchGRPC prints WatchSentiment's updates, resuming after each disconnect with the last
// token received.
func watchGRPC(ctx context.Context, o watchOptions, seg segment.Path, stdout, stderr io.Writer) error {
	cc, err := grpc.NewClient(o.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("--sentiment-addr: %w", err)
	}
	defer cc.Close()
	client := sentimentv1.NewSentimentServiceClient(cc)
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+o.token)
	token := o.resume
	defer func() {
		if token != "" && token != o.resume { // a token this run received
			fmt.Fprintf(stderr, "voix watch: stopped; continue after the last line with: voix watch --segment %s --resume %s\n", seg, token)
		}
	}()
	wait := 500 * time.Millisecond
	for said := false; ; {
		err := watchOnce(ctx, client, seg, &token, stdout, stderr, &said)
		if ctx.Err() != nil {
			return nil
		}
		switch status.Code(err) {
		case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
			if !said {
				fmt.Fprintf(stderr, "voix watch: sentiment at %s is unavailable (%v); retrying\n", o.addr, status.Convert(err).Message())
				said = true
			}
		case codes.FailedPrecondition:
			return fmt.Errorf("--resume: %s", status.Convert(err).Message())
		default:
			if err == nil {
				err = errors.New("the server ended the watch")
			}
			return fmt.Errorf("WatchSentiment %s: %w", seg, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// watchOnce runs one WatchSentiment call from *token until it fails, printing each update and
// keeping *token at the last one printed.
func watchOnce(ctx context.Context, client sentimentv1.SentimentServiceClient, seg segment.Path, token *string,
	stdout, stderr io.Writer, said *bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.WatchSentiment(ctx, &sentimentv1.WatchSentimentRequest{SegmentPrefix: seg.String(), ResumeToken: *token})
	if err != nil {
		return err
	}
	initial := 0
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if *said {
			fmt.Fprintf(stderr, "voix watch: connected again\n")
			*said = false
		}
		if resp.Update != nil {
			line, err := protojson.Marshal(resp.Update)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
				return status.Error(codes.Aborted, err.Error())
			}
			if resp.Initial {
				initial++
			}
		}
		if resp.ResumeToken != "" {
			*token = resp.ResumeToken
		}
		if resp.CaughtUp {
			if initial > 0 || *token == "" {
				fmt.Fprintf(stderr, "voix watch: %s: %d aggregates in the current state above; live from here (Ctrl-C stops)\n", seg, initial)
			} else {
				fmt.Fprintf(stderr, "voix watch: %s: caught up; live from here (Ctrl-C stops)\n", seg)
			}
		}
	}
}

// watchNATS prints what the portal user receives on NATS.
func watchNATS(ctx context.Context, o watchOptions, seg segment.Path, tokens dev.Tokens, stdout, stderr io.Writer) error {
	// A subscription the portal user may not make is refused asynchronously.
	refused := make(chan error, 1)
	var nc *nats.Conn
	for said := false; ; said = true {
		var err error
		nc, err = nats.Connect(o.natsURL, nats.UserInfo(tokens.NATSPortalUser, tokens.NATSPortalPassword),
			nats.Name("voix watch"), nats.MaxReconnects(-1),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				select {
				case refused <- err:
				default:
				}
			}))
		if err == nil {
			break
		}
		if !errors.Is(err, nats.ErrNoServers) {
			return fmt.Errorf("NATS %s as %s: %w", o.natsURL, tokens.NATSPortalUser, err)
		}
		if !said {
			fmt.Fprintf(stderr, "voix watch: waiting for NATS at %s (is voix dev running?)\n", o.natsURL)
		}
		if !pause(ctx) {
			return nil
		}
	}
	defer nc.Close()
	msgs := make(chan *nats.Msg, 1024)
	subjects := append(events.SentimentUpdated.Filters(seg), events.SentimentAlert.Filters(seg)...)
	for _, subj := range subjects {
		if _, err := nc.ChanSubscribe(subj, msgs); err != nil {
			return fmt.Errorf("subscribe %s: %w", subj, err)
		}
	}
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("NATS: %w", err)
	}
	fmt.Fprintf(stderr, "voix watch: %s as %s (Ctrl-C stops)\n", strings.Join(subjects, " "), tokens.NATSPortalUser)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-refused:
			return fmt.Errorf("NATS refused the portal user (its organisation is the only one it may read): %w", err)
		case m := <-msgs:
			var ev proto.Message = &eventsv1.SentimentUpdated{}
			if p := events.SentimentAlert.Prefix; m.Subject == p || strings.HasPrefix(m.Subject, p+".") {
				ev = &eventsv1.SentimentAlert{}
			}
			if err := proto.Unmarshal(m.Data, ev); err != nil {
				fmt.Fprintf(stderr, "voix watch: undecodable event on %s: %v\n", m.Subject, err)
				continue
			}
			line, err := protojson.Marshal(ev)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
				return err
			}
		}
	}
}

// pause waits half a second, or returns false at Ctrl-C.
func pause(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(500 * time.Millisecond):
		return true
	}
}
