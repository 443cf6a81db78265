// Package gateway is voix's HTTP edge for chat bots: a Slack-style slash-command endpoint that
// carries the anonymous feedback loop (submit, follow the thread, answer) and pulse surveys
// (list what is pending, answer), and the directory that maps a chat user to a segment without
// keeping the user's id. It also serves the HR dashboard (web.go): server-rendered pages that
// call the services' read APIs with the logged-in reader's own token, and /healthz, /readyz.
//
// Nothing reaches the services unless the request is signed with the app's signing secret,
// fresh (5 minutes), at most 64 KiB and a well-formed form (Slack's ssl_check ping is answered
// with an empty 200 and goes nowhere). The person typing is passed to the feedback service as
// an opaque submitter_ref, which that service never stores either.
//
// What protects anonymity here:
//   - A follow-up code never becomes comment text: subcommands are read tolerantly (text.go),
//     a malformed one gets help, and a comment holding anything shaped like a code is refused.
//   - The directory set by HR is the authority on a person's segment; a person the directory
//     does not know picks among the teams registered in the feedback service (teams.go).
//   - Directory entries are scoped by organisation, and a workspace belongs to exactly one
//     (workspace.go): one organisation's HR cannot move another's people.
//   - Replies escape &, < and > (text.go), so no comment, answer or survey text can notify a
//     channel or forge a link.
//   - Logs name no chat user, hold no comment text and no follow-up code.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/host"
)

// DefaultListen is the gateway's HTTP address in docs/design.md.
const DefaultListen = "127.0.0.1:7180"

// MaxBodyBytes is the largest request body accepted; Slack's forms are far smaller.
const MaxBodyBytes = 64 << 10

// Config configures the gateway. Zero values take the documented defaults.
type Config struct {
	// Listen is the HTTP address. Default DefaultListen; "127.0.0.1:0" picks a port.
	Listen string
	// DataDir holds the directory in DataDir/gateway/directory.json, and by default the shared
	// anonymity secret and token hashes. Required.
	DataDir string
	// SigningSecret is the chat app's signing secret. Required.
	SigningSecret []byte
	// FeedbackAddr is the feedback service's gRPC address. Required.
	FeedbackAddr string
	// PulseAddr is the pulse service's gRPC address. Optional: without it /pulse says surveys
	// are not available.
	PulseAddr string
	// SentimentAddr is the sentiment service's gRPC address, which the dashboard reads
	// aggregates, trends and alerts from. Optional: without it those pages say so.
	SentimentAddr string
	// MinGroupSize is k as the services apply it, named on the dashboard where it explains a
	// hidden number. It changes nothing that is shown: the services hide. Default
	// anonymity.DefaultMinGroupSize.
	MinGroupSize int
	// DashboardKey keys the dashboard's CSRF tokens (an HMAC of the session cookie). Default: a
	// random key per start, so pages opened before a restart must be reloaded; set it (32
	// bytes) when several gateways serve one dashboard.
	DashboardKey []byte
	// Token is a submitter bearer token the gateway presents to the services. Required.
	Token string
	// DirectoryFile, if set, is a CSV or JSON file of chat users and segments (ReadEntries)
	// loaded at start, on top of the persisted directory, as HR's entries.
	DirectoryFile string
	// Workspaces maps a chat workspace id (Slack's team_id) to the organisation (the first
	// element of a segment, e.g. "acme") its people belong to. Set, it is exhaustive: commands
	// from a workspace it does not list are answered that the workspace is not connected, and
	// directory entries for it are refused. Empty, every workspace belongs to the organisation
	// of Token's prefix, which the token file must then know. See workspace.go.
	Workspaces map[string]string
	// TokensFile defaults to the host's file under DataDir. Tokens authorise the directory
	// endpoint.
	TokensFile string
	// Secret is the deployment's shared anonymity secret, which keys the directory's hashes
	// (its File defaults to the host's file under DataDir, which must exist unless
	// Secret.Create).
	Secret anonymity.SecretSource
	// Log receives structured logs. Default: discarded.
	Log *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// ServiceTLS, when set, is how the gateway dials the services: over TLS, trusting its
	// RootCAs and presenting its Certificates to services that demand client certificates.
	// Default: plain gRPC.
	ServiceTLS *tls.Config
	// TokenReload is how often the token file is looked at for changes (revoked tokens).
	// Default auth.DefaultReloadInterval.
	TokenReload time.Duration
}

func (c *Config) defaults() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	switch {
	case c.DataDir == "":
		return errors.New("gateway: DataDir is required")
	case len(c.SigningSecret) == 0:
		return errors.New("gateway: SigningSecret is required: unsigned requests are refused")
	case c.FeedbackAddr == "":
		return errors.New("gateway: FeedbackAddr is required (e.g. 127.0.0.1:7102)")
	case c.Token == "":
		return errors.New("gateway: Token (a submitter bearer token) is required")
	}
	if c.TokensFile == "" {
		c.TokensFile = host.DefaultTokensFile(c.DataDir)
	}
	if c.Secret.File == "" {
		c.Secret.File = host.DefaultSecretFile(c.DataDir)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MinGroupSize == 0 {
		c.MinGroupSize = anonymity.DefaultMinGroupSize
	}
	return nil
}

// Service is a running gateway.
type Service struct {
	cfg       Config
	dir       *Directory
	tokens    *auth.Tokens
	orgs      orgScope
	conns     []*grpc.ClientConn
	stopWatch context.CancelFunc
	watching  chan struct{}
	feedback  feedbackv1.FeedbackServiceClient
	pulse     pulsev1.PulseServiceClient
	srv       *http.Server
	ln        net.Listener
	done      chan struct{}
	// The dashboard (web.go): clients that present the user's token, templates, CSRF key, and
	// a channel closed when the server shuts down, which ends event streams.
	web      webClients
	pages    pages
	csrfKey  []byte
	shutdown chan struct{}
}

// Start loads the directory, connects to the feedback service and serves HTTP.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	secret, err := cfg.Secret.Load()
	if err != nil {
		return nil, err
	}
	tokens, err := auth.LoadTokens(cfg.TokensFile)
	if err != nil {
		return nil, err
	}
	orgs, err := newOrgScope(cfg, tokens)
	if err != nil {
		return nil, err
	}
	dir, err := openDirectory(secret, filepath.Join(cfg.DataDir, "gateway", "directory.json"))
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, dir: dir, tokens: tokens, orgs: orgs, done: make(chan struct{}), shutdown: make(chan struct{}), watching: make(chan struct{})}
	if s.pages, err = parsePages(); err != nil {
		return nil, fmt.Errorf("gateway: dashboard templates: %w", err)
	}
	s.csrfKey = cfg.DashboardKey
	if len(s.csrfKey) == 0 {
		if s.csrfKey, err = newCSRFKey(); err != nil {
			return nil, err
		}
	}
	if cfg.DirectoryFile != "" {
		if err := s.loadDirectoryFile(cfg.DirectoryFile); err != nil {
			return nil, err
		}
	}
	creds := insecure.NewCredentials()
	if cfg.ServiceTLS != nil {
		creds = credentials.NewTLS(cfg.ServiceTLS)
	}
	dial := func(addr string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
		conn, err := grpc.NewClient(addr, append(opts, grpc.WithTransportCredentials(creds))...)
		if err == nil {
			s.conns = append(s.conns, conn)
		}
		return conn, err
	}
	asGateway := grpc.WithPerRPCCredentials(bearer(cfg.Token))
	conn, err := dial(cfg.FeedbackAddr, asGateway)
	if err != nil {
		return nil, fmt.Errorf("gateway: feedback client: %w", err)
	}
	s.feedback = feedbackv1.NewFeedbackServiceClient(conn)
	if cfg.PulseAddr != "" {
		conn, err := dial(cfg.PulseAddr, asGateway)
		if err != nil {
			s.closeConns()
			return nil, fmt.Errorf("gateway: pulse client: %w", err)
		}
		s.pulse = pulsev1.NewPulseServiceClient(conn)
	}
	// The dashboard's connections carry no token: each call presents the logged-in user's.
	if err := s.dialWeb(dial); err != nil {
		s.closeConns()
		return nil, err
	}
	if s.ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen); err != nil {
		s.closeConns()
		return nil, fmt.Errorf("gateway: listen: %w", err)
	}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	var watchCtx context.Context
	watchCtx, s.stopWatch = context.WithCancel(context.Background())
	go func() {
		defer close(s.watching)
		tokens.Watch(watchCtx, cfg.TokenReload, cfg.Log)
	}()
	var once sync.Once
	s.srv.RegisterOnShutdown(func() { once.Do(func() { close(s.shutdown) }) })
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Log.Error("gateway: serve", "err", err)
		}
	}()
	return s, nil
}

// loadDirectoryFile loads the operator's file as HR's entries, with the organisation checks of
// PUT /admin/directory (the file is the operator's, so any segment is allowed).
func (s *Service) loadDirectoryFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("gateway: directory file: %w", err)
	}
	defer f.Close()
	es, err := ReadEntries(f)
	if err != nil {
		return fmt.Errorf("gateway: %s: %w", path, err)
	}
	if err := s.checkEntries(es, nil); err != nil {
		return fmt.Errorf("gateway: %s: %w", path, err)
	}
	if err := s.dir.SetHR(es); err != nil {
		return fmt.Errorf("gateway: %s: %w", path, err)
	}
	return nil
}

// Addr is the HTTP address the gateway listens on.
func (s *Service) Addr() string { return s.ln.Addr().String() }

// Close stops serving (letting requests in flight finish, up to five seconds) and closes the
// connection to the services.
func (s *Service) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	s.stopWatch()
	<-s.watching
	return errors.Join(err, s.closeConns())
}

func (s *Service) closeConns() error {
	var errs []error
	for _, c := range s.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Handler is the gateway's HTTP API: the chat endpoints, and the HR dashboard (web.go) with
// /healthz and /readyz.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slack/commands", s.handleCommand)
	mux.HandleFunc("PUT /admin/directory", s.handleDirectory)
	s.routeWeb(mux)
	return mux
}

// readBody reads at most MaxBodyBytes; a larger body is an error and is not read further.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

// bearer presents a token on every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false: the services listen on loopback in `voix dev`; put TLS in
// front of them in a deployment.
func (bearer) RequireTransportSecurity() bool { return false }
