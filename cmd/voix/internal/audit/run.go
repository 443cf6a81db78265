package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/voix-dev/voix/cmd/voix/internal/proc"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/embednats"
)

// Roles of the run's tokens.
const (
	org           = "acme"
	managerPrefix = "acme/eng"
	workspace     = "T0AUDITWS"
	natsUser      = "services"
	// k and the comment threshold, as the services default them.
	minGroupSize     = anonymity.DefaultMinGroupSize
	commentThreshold = anonymity.DefaultCommentThreshold
)

// run is one audit in progress.
type run struct {
	cfg Config
	res Result
	w   *world
	u   *units
	l   *ledger

	nats     *server.Server
	natsPass string
	nc       *nats.Conn
	js       jetstream.JetStream

	tokens        map[auth.Role]string
	signingSecret string
	secretFile    string
	secretKey     string // the same secret, as VOIX_SECRET takes it

	feedback, pulse, sentiment, gateway *proc.Proc
	conns                               []*grpc.ClientConn
	fb                                  feedbackv1.FeedbackServiceClient
	pl                                  pulsev1.PulseServiceClient
	st                                  sentimentv1.SentimentServiceClient

	days     []int
	today    int
	offset   time.Duration // the services' clock offset today
	surveyID string
	// expected counts of events the sentiment service must have applied.
	comments, responses int
	// surveyItems counts the survey comments the feedback service made items of; heldSurvey
	// are those the pulse service still holds (released once their day has ended).
	surveyItems int
	heldSurvey  []*item
	// what the attack collects.
	obs        []observation
	placements []placement
	shownSegs  map[string]bool
	// pulse ground truth: wave -> person -> answered question ids.
	answered map[uint32]map[int][]string
	// pulse text answers: the unique text -> author.
	textAuthor map[string]int
	// linkage subjects: the items of each subject person.
	subjects []int
}

func newRun(ctx context.Context, cfg Config) (*run, error) {
	r := &run{cfg: cfg, shownSegs: map[string]bool{}, answered: map[uint32]map[int][]string{}, textAuthor: map[string]int{}}
	// Wave 1 is open on days 0 and 1, wave 2 on days 7 and 8; each is readable once closed.
	r.days = []int{0, 1, 2, 3, 4, 7, 8, 9}
	if cfg.Short {
		r.days = []int{0, 1, 7, 9}
	}
	// Day 0 is far enough back that the last day is yesterday, at 10:00 UTC.
	now := time.Now().UTC()
	base := time.Date(now.Year(), now.Month(), now.Day(), 10, 0, 0, 0, time.UTC).AddDate(0, 0, -r.days[len(r.days)-1]-1)
	r.w = newWorld(cfg.Seed, base)
	r.u = newUnits()
	r.l = newLedger(r.w, r.u)
	for _, d := range []string{"shared", "logs", "nats", "feedback", "pulse", "sentiment", "gateway"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	if err := r.setupTokens(); err != nil {
		return nil, err
	}
	if err := r.startNATS(); err != nil {
		return nil, err
	}
	if err := r.defineProcs(); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// setupTokens mints the run's bearer tokens and writes their hashes where every service reads
// them (one file, as an operator would distribute it).
func (r *run) setupTokens() error {
	r.tokens = map[auth.Role]string{}
	var file auth.TokenFile
	for _, t := range []struct {
		role   auth.Role
		prefix string
	}{{auth.RoleSubmitter, org}, {auth.RoleHR, org}, {auth.RoleManager, managerPrefix}, {auth.RoleAdmin, ""}} {
		tok, err := auth.NewToken()
		if err != nil {
			return err
		}
		r.tokens[t.role] = tok
		file.Tokens = append(file.Tokens, auth.TokenRecord{Name: "audit-" + string(t.role), Role: t.role, Prefix: t.prefix, SHA256: auth.HashToken(tok)})
	}
	var err error
	if r.signingSecret, err = auth.NewToken(); err != nil {
		return err
	}
	if r.natsPass, err = auth.NewToken(); err != nil {
		return err
	}
	return auth.WriteTokens(filepath.Join(r.cfg.Dir, "shared", "token-hashes.json"), file)
}

// startNATS runs the NATS server in this process, JetStream on file under the run's dir.
func (r *run) startNATS() error {
	s, err := embednats.Start(embednats.Config{
		Port: -1, StoreDir: filepath.Join(r.cfg.Dir, "nats"), SyncAlways: true,
		Users: []embednats.User{{Name: natsUser, Password: r.natsPass}},
	})
	if err != nil {
		return err
	}
	r.nats = s
	if r.nc, err = nats.Connect(s.ClientURL(), nats.UserInfo(natsUser, r.natsPass)); err != nil {
		return err
	}
	r.js, err = jetstream.New(r.nc)
	return err
}

func (r *run) natsStop() {
	if r.nc != nil {
		r.nc.Close()
		r.nc = nil
	}
	if r.nats != nil {
		r.nats.Shutdown()
		r.nats.WaitForShutdown()
		r.nats = nil
	}
}

// defineProcs lays out the four processes, each with its own data dir. Feedback makes the
// deployment's secret on its first start (--create-secret); pulse and the gateway read the
// file, sentiment gets it from VOIX_SECRET: the ways an operator distributes it.
func (r *run) defineProcs() error {
	addrs := make([]string, 4)
	for i := range addrs {
		a, err := proc.FreeAddr()
		if err != nil {
			return err
		}
		addrs[i] = a
	}
	r.secretFile = filepath.Join(r.cfg.Dir, "shared", "secret.key")
	tokens := filepath.Join(r.cfg.Dir, "shared", "token-hashes.json")
	natsEnv := []string{"VOIX_NATS_PASSWORD=" + r.natsPass}
	svc := func(name, addr string, extra ...string) *proc.Proc {
		return &proc.Proc{
			Name: name, Bin: proc.BinPath(r.cfg.BinDir, name), Addr: addr, GRPC: true,
			Log: filepath.Join(r.cfg.Dir, "logs", name+".log"), Env: natsEnv,
			Args: append([]string{
				"--listen", addr, "--data-dir", filepath.Join(r.cfg.Dir, name),
				"--nats-url", r.nats.ClientURL(), "--nats-user", natsUser,
				"--tokens-file", tokens, "--log-level", "debug",
			}, extra...),
		}
	}
	r.feedback = svc("feedback", addrs[0], "--secret-file", r.secretFile)
	r.pulse = svc("pulse", addrs[1], "--secret-file", r.secretFile)
	r.sentiment = svc("sentiment", addrs[2])
	r.gateway = &proc.Proc{
		Name: "gateway", Bin: proc.BinPath(r.cfg.BinDir, "gateway"), Addr: addrs[3],
		Log: filepath.Join(r.cfg.Dir, "logs", "gateway.log"),
		Env: []string{"VOIX_SLACK_SIGNING_SECRET=" + r.signingSecret, "VOIX_GATEWAY_TOKEN=" + r.tokens[auth.RoleSubmitter]},
		Args: []string{
			"--listen", addrs[3], "--data-dir", filepath.Join(r.cfg.Dir, "gateway"),
			"--feedback-addr", addrs[0], "--pulse-addr", addrs[1],
			"--tokens-file", tokens, "--secret-file", r.secretFile,
			"--workspace", workspace + "=" + org,
		},
	}
	for _, p := range []*proc.Proc{r.feedback, r.pulse, r.sentiment} {
		cc, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		r.conns = append(r.conns, cc)
	}
	r.fb = feedbackv1.NewFeedbackServiceClient(r.conns[0])
	r.pl = pulsev1.NewPulseServiceClient(r.conns[1])
	r.st = sentimentv1.NewSentimentServiceClient(r.conns[2])
	return nil
}

// startAll starts the processes for day d: each clock shifted so that it reads day d now.
func (r *run) startAll(ctx context.Context, d int) error {
	r.offset = time.Until(r.w.day(d)).Round(time.Second)
	off := fmt.Sprintf("--clock-offset=%s", r.offset)
	first := r.secretKey == ""
	if first {
		// The first service of a new deployment makes the secret; the others then share it.
		if err := r.feedback.Start(ctx, off, "--create-secret"); err != nil {
			return err
		}
		s, err := anonymity.SecretSource{File: r.secretFile}.Load()
		if err != nil {
			return err
		}
		r.secretKey = anonymity.EncodeSecret(s)
		r.sentiment.Env = append(r.sentiment.Env, anonymity.SecretEnv+"="+r.secretKey)
	} else if err := r.feedback.Start(ctx, off); err != nil {
		return err
	}
	for _, p := range []*proc.Proc{r.sentiment, r.pulse, r.gateway} {
		if err := p.Start(ctx, off); err != nil {
			return err
		}
	}
	return nil
}

// stopAll stops the processes, the gateway first.
func (r *run) stopAll() error {
	var errs []error
	for _, p := range []*proc.Proc{r.gateway, r.pulse, r.feedback, r.sentiment} {
		if p != nil {
			errs = append(errs, p.Stop())
		}
	}
	return errors.Join(errs...)
}

func (r *run) close() {
	_ = r.stopAll()
	for _, c := range r.conns {
		c.Close()
	}
	r.natsStop()
}

// as is ctx carrying role's bearer token.
func (r *run) as(ctx context.Context, role auth.Role) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+r.tokens[role])
}

// play replays the days: each day the services start with their clocks on that day, people
// act, the harness reads what HR and a manager can read, and the services stop.
func (r *run) play(ctx context.Context) error {
	for _, d := range r.days {
		r.today = d
		r.logf("day %d (%s): starting the services", d, r.w.day(d).Format(time.DateOnly))
		if err := r.startAll(ctx, d); err != nil {
			return err
		}
		if d == r.days[0] {
			if err := r.setup(ctx); err != nil {
				return err
			}
		}
		if err := r.act(ctx, d); err != nil {
			return fmt.Errorf("day %d: %w", d, err)
		}
		if err := r.read(ctx); err != nil {
			return fmt.Errorf("day %d: reads: %w", d, err)
		}
		if d != r.days[len(r.days)-1] {
			if err := r.stopAll(); err != nil {
				return err
			}
		}
	}
	return nil
}
