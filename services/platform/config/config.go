// Package config owns how a voix command is configured: flags first, then VOIX_* environment
// variables for every flag not given on the command line (twelve-factor deployments set the
// environment, people at a terminal type flags), and the flags every service shares.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/tlsconf"
)

// EnvName is the environment variable that sets flag name: "nats-url" → "VOIX_NATS_URL".
func EnvName(flagName string) string {
	return "VOIX_" + strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(flagName))
}

// ApplyEnv runs after fs.Parse: every flag not set on the command line takes the value of its
// EnvName variable, when that is set and not empty (an empty variable counts as unset, since
// getenv cannot tell them apart). The command line wins, so one run can override the
// environment. A bad value is an error naming the variable and the flag, never the value,
// which may be a password.
func ApplyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		env := EnvName(f.Name)
		v := getenv(env)
		if v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("environment %s: invalid value for --%s: %w", env, f.Name, err))
		}
	})
	return errors.Join(errs...)
}

// Service holds the flags every service command shares.
type Service struct {
	Listen       string
	DataDir      string
	NATSURL      string
	NATSUser     string
	NATSPassword string
	// TokensFile is empty unless set: the service host then uses its default under DataDir
	// (host.DefaultTokensFile), so that the default lives in one place.
	TokensFile string
	// SecretFile is empty unless set: the host then uses <DataDir>/secret.key.
	SecretFile   string
	CreateSecret bool
	// EventRetention is how long the streams keep events (bus.Config.Retention).
	EventRetention time.Duration
	// StreamReplicas is how many copies of each stream a NATS cluster keeps
	// (bus.Config.Replicas); a stream an operator gave more keeps them.
	StreamReplicas int
	// MaxStreams caps the concurrent gRPC calls of one client connection (host.Config).
	MaxStreams uint
	// ClockOffset shifts the service's clock (Now). For audits and demos that replay days
	// of activity; a deployment leaves it 0.
	ClockOffset time.Duration
	LogLevel    string
	// LogFormat is "text" (key=value) or "json", one object per line.
	LogFormat    string
	MinGroupSize int

	// TLSCert and TLSKey make the gRPC server speak TLS; TLSClientCA makes it demand client
	// certificates signed by those CAs (mutual TLS). Empty: plain gRPC.
	TLSCert, TLSKey, TLSClientCA string
	// NATSCreds is a NATS credentials file; NATSTLSCA, NATSTLSCert and NATSTLSKey are the
	// TLS files of the NATS connection (bus.Config).
	NATSCreds, NATSTLSCA, NATSTLSCert, NATSTLSKey string
	// MetricsListen is the admin address for /metrics and /debug/pprof/; empty: off.
	MetricsListen string
	// MaxStreamsPerToken caps the streams one token holds open on a server (host.Ops).
	MaxStreamsPerToken int
	// OTLPEndpoint is the OTLP/gRPC collector for traces; empty: off. OTLPInsecure: no TLS.
	OTLPEndpoint string
	OTLPInsecure bool

	// baseOnly is set by RegisterBase: the command is no service on NATS (the gateway), and
	// Validate checks the base flags only.
	baseOnly bool
}

// Defaults for the shared flags. k's default is anonymity.DefaultMinGroupSize, the grpc
// limits' are host's, the retention's bus's: each default lives in one place.
const (
	DefaultDataDir        = "./data"
	DefaultNATSURL        = "nats://127.0.0.1:4222"
	DefaultLogLevel       = "info"
	DefaultLogFormat      = "text"
	DefaultStreamReplicas = 1
	// DefaultMaxStreamsPerToken is how many WatchSentiment-like streams one token may hold
	// open on one server: a dashboard needs a few, not thousands.
	DefaultMaxStreamsPerToken = 100
	// MaxStreamReplicas is JetStream's limit.
	MaxStreamReplicas = 5
)

// Register defines the flags every service on NATS shares on fs, with defaultListen as
// --listen's default: RegisterBase's, and --nats-url, --nats-user, --nats-password,
// --event-retention, --stream-replicas, --min-group-size and --max-streams.
func (c *Service) Register(fs *flag.FlagSet, defaultListen string) {
	c.registerBase(fs, defaultListen, "gRPC")
	fs.StringVar(&c.NATSURL, "nats-url", DefaultNATSURL, "NATS server URL(s), nats:// or tls://, comma-separated; a server that cannot be reached is retried in the background")
	fs.StringVar(&c.NATSUser, "nats-user", "", "NATS user")
	fs.StringVar(&c.NATSPassword, "nats-password", "", "NATS password (prefer VOIX_NATS_PASSWORD: flags show in ps)")
	fs.DurationVar(&c.EventRetention, "event-retention", bus.DefaultRetention,
		"how long the streams keep events (0: forever); whoever reads the streams and holds the secret can attribute the events kept")
	fs.IntVar(&c.StreamReplicas, "stream-replicas", DefaultStreamReplicas,
		fmt.Sprintf("copies of each stream on a NATS cluster, 1..%d (3 on a three-node cluster); a stream that has more keeps them", MaxStreamReplicas))
	fs.IntVar(&c.MinGroupSize, "min-group-size", anonymity.DefaultMinGroupSize,
		"k: no result or aggregate is shown for fewer distinct people (at least 2)")
	fs.UintVar(&c.MaxStreams, "max-streams", host.DefaultMaxStreams,
		fmt.Sprintf("concurrent gRPC calls per client connection (a request is at most %d MiB)", host.DefaultMaxRecvMsgSize>>20))
	fs.IntVar(&c.MaxStreamsPerToken, "max-streams-per-token", DefaultMaxStreamsPerToken,
		"streaming calls (WatchSentiment) the tokens of one name may hold open at once on this server; one more is ResourceExhausted (0: no cap)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate of the gRPC server; with --tls-key, gRPC is served over TLS only (empty: plain gRPC)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&c.TLSClientCA, "tls-client-ca", "", "PEM CA certificates; set, every gRPC client must present a certificate they signed (mutual TLS)")
	fs.StringVar(&c.NATSCreds, "nats-creds", "", "NATS credentials file (user JWT and nkey seed), instead of --nats-user/--nats-password")
	fs.StringVar(&c.NATSTLSCA, "nats-tls-ca", "", "PEM CA certificates that sign the NATS server's certificate; set, the NATS connection requires TLS")
	fs.StringVar(&c.NATSTLSCert, "nats-tls-cert", "", "PEM client certificate for a NATS server that verifies clients")
	fs.StringVar(&c.NATSTLSKey, "nats-tls-key", "", "PEM private key of --nats-tls-cert")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", "", "OpenTelemetry collector (OTLP/gRPC, host:port) that receives a span per gRPC call (empty: no tracing)")
	fs.BoolVar(&c.OTLPInsecure, "otlp-insecure", false, "send spans to --otlp-endpoint without TLS (a collector on loopback or a sidecar)")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "", "admin HTTP address serving /metrics (Prometheus) and /debug/pprof/, e.g. 127.0.0.1:9101; keep it private (empty: off)")
}

// RegisterBase defines on fs the flags of a command that is no service on NATS (the chat
// gateway): --listen (an HTTP address, default defaultListen), --data-dir, --tokens-file,
// --secret-file, --create-secret, --clock-offset, --log-level and --log-format. Validate then
// checks these only.
func (c *Service) RegisterBase(fs *flag.FlagSet, defaultListen string) {
	c.baseOnly = true
	c.registerBase(fs, defaultListen, "HTTP")
}

func (c *Service) registerBase(fs *flag.FlagSet, defaultListen, protocol string) {
	fs.StringVar(&c.Listen, "listen", defaultListen, protocol+" listen address, host:port")
	fs.StringVar(&c.DataDir, "data-dir", DefaultDataDir, "directory of the service's store and shared files")
	fs.StringVar(&c.TokensFile, "tokens-file", "", "token hashes file (default <data-dir>/auth/token-hashes.json)")
	c.RegisterSecret(fs)
	c.RegisterClock(fs)
	fs.StringVar(&c.LogLevel, "log-level", DefaultLogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", DefaultLogFormat, "text (key=value) or json (one object per line)")
}

// RegisterSecret defines --secret-file and --create-secret on fs. Register and RegisterBase
// call it.
func (c *Service) RegisterSecret(fs *flag.FlagSet) {
	fs.StringVar(&c.SecretFile, "secret-file", "", "anonymity secret shared by every service of the deployment (default <data-dir>/secret.key); "+
		anonymity.SecretEnv+" may hold the key itself instead")
	fs.BoolVar(&c.CreateSecret, "create-secret", false, "create the secret file when it is missing: only for the first service of a new deployment, then copy the file to the others")
}

// RegisterClock defines --clock-offset on fs.
func (c *Service) RegisterClock(fs *flag.FlagSet) {
	fs.DurationVar(&c.ClockOffset, "clock-offset", 0, "shift the service clock by this much (e.g. -48h): for audits and demos that replay days of activity, never in production")
}

// Secret is where the service finds the deployment's secret: the key in the environment
// variable anonymity.SecretEnv when getenv has it, else the file.
func (c *Service) Secret(getenv func(string) string) anonymity.SecretSource {
	return anonymity.SecretSource{Key: getenv(anonymity.SecretEnv), File: c.SecretFile, Create: c.CreateSecret}
}

// Now is the service's clock: time.Now shifted by ClockOffset.
func (c *Service) Now() func() time.Time {
	if c.ClockOffset == 0 {
		return time.Now
	}
	off := c.ClockOffset
	return func() time.Time { return time.Now().Add(off) }
}

// Bus is how the service reaches NATS.
func (c *Service) Bus() bus.Config {
	return bus.Config{URL: c.NATSURL, User: c.NATSUser, Password: c.NATSPassword, Retention: c.EventRetention, Replicas: c.StreamReplicas,
		CredsFile: c.NATSCreds, TLSCA: c.NATSTLSCA, TLSCert: c.NATSTLSCert, TLSKey: c.NATSTLSKey}
}

// Ops loads the TLS files and returns the operator's settings for host.Config.Ops. Call
// Validate first; an error names the flag whose file is wrong.
func (c *Service) Ops() (host.Ops, error) {
	o := host.Ops{MetricsListen: c.MetricsListen, MaxStreamsPerToken: c.MaxStreamsPerToken,
		OTLPEndpoint: c.OTLPEndpoint, OTLPInsecure: c.OTLPInsecure}
	if c.TLSCert != "" {
		t, err := tlsconf.Server(c.TLSCert, c.TLSKey, c.TLSClientCA)
		if err != nil {
			return host.Ops{}, fmt.Errorf("--tls-cert/--tls-key/--tls-client-ca: %w", err)
		}
		o.TLS = t
	}
	return o, nil
}

// GRPCMaxStreams is MaxStreams as host.Config.MaxStreams takes it (Validate bounds it).
func (c *Service) GRPCMaxStreams() uint32 {
	return uint32(min(c.MaxStreams, math.MaxUint32))
}

// Validate checks every field and reports all problems at once, each naming its flag.
//
// min-group-size must be at least 2: with k = 1 a result describes one person, so anyone who
// knows who is in a segment reads that person's answer. 2 is the floor that keeps any
// anonymity at all; the default 5 is the usual practice.
func (c *Service) Validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	if err := checkHostPort(c.Listen); err != nil {
		bad("listen", "%v", err)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("data-dir", "must not be empty")
	}
	if _, ok := parseLevel(c.LogLevel); !ok {
		bad("log-level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	if f := strings.ToLower(c.LogFormat); f != "" && f != "text" && f != "json" {
		bad("log-format", "%q is not text or json", c.LogFormat)
	}
	if c.baseOnly {
		return errors.Join(errs...)
	}
	if err := checkNATSURL(c.NATSURL); err != nil {
		bad("nats-url", "%v", err)
	}
	if c.NATSPassword != "" && c.NATSUser == "" {
		bad("nats-user", "must be set when --nats-password is")
	}
	if c.EventRetention != 0 && c.EventRetention < bus.DuplicateWindow {
		bad("event-retention", "is %v; must be 0 (forever) or at least the duplicate window, %v", c.EventRetention, bus.DuplicateWindow)
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > MaxStreamReplicas {
		bad("stream-replicas", "is %d; must be 1..%d", c.StreamReplicas, MaxStreamReplicas)
	}
	if c.MinGroupSize < 2 {
		bad("min-group-size", "is %d; must be at least 2, or results would describe single people", c.MinGroupSize)
	}
	if c.MaxStreams < 1 || c.MaxStreams > math.MaxUint32 {
		bad("max-streams", "is %d; must be 1..%d", c.MaxStreams, uint32(math.MaxUint32))
	}
	if c.MaxStreamsPerToken < 0 {
		bad("max-streams-per-token", "is %d; must be 0 (no cap) or more", c.MaxStreamsPerToken)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls-key", "--tls-cert and --tls-key go together")
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		bad("tls-client-ca", "needs --tls-cert and --tls-key: client certificates are checked over TLS only")
	}
	if (c.NATSTLSCert == "") != (c.NATSTLSKey == "") {
		bad("nats-tls-key", "--nats-tls-cert and --nats-tls-key go together")
	}
	if c.NATSCreds != "" && c.NATSUser != "" {
		bad("nats-creds", "give either --nats-creds or --nats-user/--nats-password, not both")
	}
	if c.MetricsListen != "" {
		if err := checkHostPort(c.MetricsListen); err != nil {
			bad("metrics-listen", "%v", err)
		}
	}
	if c.OTLPEndpoint != "" {
		if err := checkHostPort(c.OTLPEndpoint); err != nil {
			bad("otlp-endpoint", "%v", err)
		}
	}
	if c.OTLPInsecure && c.OTLPEndpoint == "" {
		bad("otlp-insecure", "needs --otlp-endpoint")
	}
	return errors.Join(errs...)
}

func checkHostPort(addr string) error {
	if addr == "" {
		return errors.New("must not be empty; want host:port, e.g. 127.0.0.1:7101")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:7101)", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port must be a number 0..65535", addr)
	}
	return nil
}

func checkNATSURL(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("must not be empty; want e.g. nats://127.0.0.1:4222")
	}
	for _, one := range strings.Split(s, ",") {
		one = strings.TrimSpace(one)
		u, err := url.Parse(one)
		if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
			return fmt.Errorf("%q is not a nats:// or tls:// URL with a host (e.g. nats://127.0.0.1:4222)", one)
		}
	}
	return nil
}

func parseLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}

// Logger returns a logger on w at LogLevel, in LogFormat (info and text when they are not
// valid: call Validate first).
func (c *Service) Logger(w io.Writer) *slog.Logger {
	level, ok := parseLevel(c.LogLevel)
	if !ok {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(c.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
