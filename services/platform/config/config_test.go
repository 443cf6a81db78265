package config_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/config"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/tlsconf/tlstest"
)

func newFlags(t *testing.T, args []string, env map[string]string) (*config.Service, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c config.Service
	c.Register(fs, "127.0.0.1:7101")
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return &c, config.ApplyEnv(fs, func(k string) string { return env[k] })
}

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{"nats-url": "VOIX_NATS_URL", "listen": "VOIX_LISTEN", "log.level": "VOIX_LOG_LEVEL", "min-group-size": "VOIX_MIN_GROUP_SIZE"} {
		if got := config.EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestApplyEnv(t *testing.T) {
	env := map[string]string{
		"VOIX_NATS_URL":       "nats://nats.internal:4222",
		"VOIX_LISTEN":         "0.0.0.0:9000",
		"VOIX_MIN_GROUP_SIZE": "7",
		"VOIX_DATA_DIR":       "",               // empty counts as unset
		"NATS_URL":            "nats://wrong:1", // only VOIX_ variables count
	}
	c, err := newFlags(t, []string{"--listen", "127.0.0.1:7999"}, env)
	if err != nil {
		t.Fatalf("ApplyEnv: %v", err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"flag beats env", c.Listen, "127.0.0.1:7999"},
		{"env fills an unset flag", c.NATSURL, "nats://nats.internal:4222"},
		{"empty env keeps the default", c.DataDir, config.DefaultDataDir},
		{"no env keeps the default", c.LogLevel, config.DefaultLogLevel},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if c.MinGroupSize != 7 {
		t.Errorf("int from env: MinGroupSize = %d, want 7", c.MinGroupSize)
	}
}

func TestApplyEnvFlagEqualToDefaultStillWins(t *testing.T) {
	// Given on the command line with the default value: still "set", so env must not override.
	c, err := newFlags(t, []string{"--min-group-size=5"}, map[string]string{"VOIX_MIN_GROUP_SIZE": "9"})
	if err != nil {
		t.Fatalf("ApplyEnv: %v", err)
	}
	if c.MinGroupSize != 5 {
		t.Fatalf("MinGroupSize = %d, want the command line's 5", c.MinGroupSize)
	}
}

func TestApplyEnvBadValue(t *testing.T) {
	_, err := newFlags(t, nil, map[string]string{"VOIX_MIN_GROUP_SIZE": "many", "VOIX_NATS_PASSWORD": "s3cret"})
	if err == nil {
		t.Fatal("ApplyEnv accepted VOIX_MIN_GROUP_SIZE=many")
	}
	for _, want := range []string{"VOIX_MIN_GROUP_SIZE", "--min-group-size"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "many") {
		t.Fatalf("error %q echoes the value", err)
	}
	// A bad value on the command line is not the environment's business.
	if _, err := newFlags(t, []string{"--min-group-size", "3"}, map[string]string{"VOIX_MIN_GROUP_SIZE": "many"}); err != nil {
		t.Fatalf("ApplyEnv reported an env var the command line overrode: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	c, err := newFlags(t, nil, nil)
	if err != nil {
		t.Fatalf("ApplyEnv: %v", err)
	}
	want := config.Service{Listen: "127.0.0.1:7101", DataDir: "./data", NATSURL: "nats://127.0.0.1:4222", LogLevel: "info", LogFormat: "text",
		MinGroupSize: anonymity.DefaultMinGroupSize, EventRetention: bus.DefaultRetention, StreamReplicas: 1, MaxStreams: host.DefaultMaxStreams,
		MaxStreamsPerToken: config.DefaultMaxStreamsPerToken}
	if *c != want {
		t.Fatalf("defaults = %+v, want %+v", *c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

func valid() config.Service {
	return config.Service{Listen: "127.0.0.1:7101", DataDir: "./data", NATSURL: "nats://127.0.0.1:4222", LogLevel: "info", LogFormat: "text",
		MinGroupSize: 5, StreamReplicas: 1, MaxStreams: 1000}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*config.Service)
		want   string // "" means valid
	}{
		{"listen any interface", func(c *config.Service) { c.Listen = ":7101" }, ""},
		{"listen port 0", func(c *config.Service) { c.Listen = "127.0.0.1:0" }, ""},
		{"listen ipv6", func(c *config.Service) { c.Listen = "[::1]:7101" }, ""},
		{"listen no port", func(c *config.Service) { c.Listen = "127.0.0.1" }, "--listen"},
		{"listen named port", func(c *config.Service) { c.Listen = "127.0.0.1:grpc" }, "--listen"},
		{"listen port too big", func(c *config.Service) { c.Listen = "127.0.0.1:70000" }, "--listen"},
		{"listen empty", func(c *config.Service) { c.Listen = "" }, "--listen"},
		{"data-dir empty", func(c *config.Service) { c.DataDir = " " }, "--data-dir"},
		{"nats tls", func(c *config.Service) { c.NATSURL = "tls://nats.internal:4222" }, ""},
		{"nats cluster list", func(c *config.Service) { c.NATSURL = "nats://a:4222, nats://b:4222" }, ""},
		{"nats http", func(c *config.Service) { c.NATSURL = "http://127.0.0.1:4222" }, "--nats-url"},
		{"nats bare host", func(c *config.Service) { c.NATSURL = "127.0.0.1:4222" }, "--nats-url"},
		{"nats one bad in list", func(c *config.Service) { c.NATSURL = "nats://a:4222,b:4222" }, "--nats-url"},
		{"nats empty", func(c *config.Service) { c.NATSURL = "" }, "--nats-url"},
		{"password without user", func(c *config.Service) { c.NATSPassword = "x" }, "--nats-user"},
		{"user and password", func(c *config.Service) { c.NATSUser, c.NATSPassword = "svc", "x" }, ""},
		{"min group 2", func(c *config.Service) { c.MinGroupSize = 2 }, ""},
		{"min group 1", func(c *config.Service) { c.MinGroupSize = 1 }, "--min-group-size"},
		{"min group negative", func(c *config.Service) { c.MinGroupSize = -3 }, "--min-group-size"},
		{"log level upper case", func(c *config.Service) { c.LogLevel = "DEBUG" }, ""},
		{"log level unknown", func(c *config.Service) { c.LogLevel = "verbose" }, "--log-level"},
		{"log level offset", func(c *config.Service) { c.LogLevel = "info+2" }, "--log-level"},
		{"log format json", func(c *config.Service) { c.LogFormat = "json" }, ""},
		{"log format unknown", func(c *config.Service) { c.LogFormat = "logfmt" }, "--log-format"},
		{"stream replicas 3", func(c *config.Service) { c.StreamReplicas = 3 }, ""},
		{"stream replicas 5", func(c *config.Service) { c.StreamReplicas = 5 }, ""},
		{"stream replicas 0", func(c *config.Service) { c.StreamReplicas = 0 }, "--stream-replicas"},
		{"stream replicas 6", func(c *config.Service) { c.StreamReplicas = 6 }, "--stream-replicas"},
		{"max streams 1", func(c *config.Service) { c.MaxStreams = 1 }, ""},
		{"max streams 0", func(c *config.Service) { c.MaxStreams = 0 }, "--max-streams"},
		{"max streams beyond uint32", func(c *config.Service) { c.MaxStreams = 1 << 32 }, "--max-streams"},
		{"max streams per token 0", func(c *config.Service) { c.MaxStreamsPerToken = 0 }, ""},
		{"max streams per token negative", func(c *config.Service) { c.MaxStreamsPerToken = -1 }, "--max-streams-per-token"},
		{"tls cert and key", func(c *config.Service) { c.TLSCert, c.TLSKey = "c.pem", "k.pem" }, ""},
		{"tls mutual", func(c *config.Service) { c.TLSCert, c.TLSKey, c.TLSClientCA = "c.pem", "k.pem", "ca.pem" }, ""},
		{"tls cert without key", func(c *config.Service) { c.TLSCert = "c.pem" }, "--tls-key"},
		{"tls client ca without cert", func(c *config.Service) { c.TLSClientCA = "ca.pem" }, "--tls-client-ca"},
		{"nats tls cert without key", func(c *config.Service) { c.NATSTLSCert = "c.pem" }, "--nats-tls-key"},
		{"nats creds and user", func(c *config.Service) { c.NATSCreds, c.NATSUser = "svc.creds", "svc" }, "--nats-creds"},
		{"nats creds", func(c *config.Service) { c.NATSCreds = "svc.creds" }, ""},
		{"metrics listen", func(c *config.Service) { c.MetricsListen = "127.0.0.1:9101" }, ""},
		{"metrics listen no port", func(c *config.Service) { c.MetricsListen = "127.0.0.1" }, "--metrics-listen"},
		{"otlp endpoint", func(c *config.Service) { c.OTLPEndpoint, c.OTLPInsecure = "127.0.0.1:4317", true }, ""},
		{"otlp endpoint url", func(c *config.Service) { c.OTLPEndpoint = "http://collector:4317" }, "--otlp-endpoint"},
		{"otlp insecure alone", func(c *config.Service) { c.OTLPInsecure = true }, "--otlp-insecure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate(%+v) = %v, want an error naming %s", c, err, tc.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := config.Service{}
	err := c.Validate()
	for _, flag := range []string{"--listen", "--data-dir", "--nats-url", "--min-group-size", "--log-level", "--stream-replicas", "--max-streams"} {
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Fatalf("Validate(zero) = %v, want it to name %s", err, flag)
		}
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	c := valid()
	c.LogLevel = "warn"
	log := c.Logger(&buf)
	log.Info("hidden")
	log.Warn("shown")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, "shown") {
		t.Fatalf("warn logger wrote %q", out)
	}
}

func TestLoggerJSON(t *testing.T) {
	var buf bytes.Buffer
	c := valid()
	c.LogFormat = "json"
	c.Logger(&buf).Info("started", "addr", "127.0.0.1:7101")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("json logger wrote %q: %v", buf.String(), err)
	}
	if line["msg"] != "started" || line["addr"] != "127.0.0.1:7101" || line["level"] != "INFO" {
		t.Fatalf("json line = %v", line)
	}
	buf.Reset()
	c.LogFormat = "text"
	c.Logger(&buf).Info("started", "addr", "x")
	if out := buf.String(); !strings.Contains(out, "msg=started addr=x") {
		t.Fatalf("text logger wrote %q", out)
	}
}

func TestBus(t *testing.T) {
	c := valid()
	c.NATSUser, c.NATSPassword, c.EventRetention, c.StreamReplicas = "svc", "pw", 48*time.Hour, 3
	got := c.Bus()
	if got.URL != c.NATSURL || got.User != "svc" || got.Password != "pw" || got.Retention != 48*time.Hour || got.Replicas != 3 {
		t.Fatalf("Bus() = %+v", got)
	}
	c.NATSCreds, c.NATSTLSCA, c.NATSTLSCert, c.NATSTLSKey = "s.creds", "ca.pem", "c.pem", "k.pem"
	got = c.Bus()
	if got.CredsFile != "s.creds" || got.TLSCA != "ca.pem" || got.TLSCert != "c.pem" || got.TLSKey != "k.pem" {
		t.Fatalf("Bus() = %+v, want the NATS creds and TLS files", got)
	}
}

// TestOps: the TLS flags load into a server configuration that demands client certificates
// when --tls-client-ca is set; a file that is no certificate is an error naming the flags.
func TestOps(t *testing.T) {
	pki := tlstest.New(t)
	c := valid()
	c.MetricsListen, c.MaxStreamsPerToken, c.OTLPEndpoint = "127.0.0.1:0", 7, "127.0.0.1:4317"
	ops, err := c.Ops()
	if err != nil || ops.TLS != nil || ops.MetricsListen != "127.0.0.1:0" || ops.MaxStreamsPerToken != 7 || ops.OTLPEndpoint != "127.0.0.1:4317" {
		t.Fatalf("Ops() without TLS = %+v, %v", ops, err)
	}
	c.TLSCert, c.TLSKey = pki.ServerCert, pki.ServerKey
	if ops, err = c.Ops(); err != nil || ops.TLS == nil || len(ops.TLS.Certificates) != 1 || ops.TLS.ClientAuth != tls.NoClientCert {
		t.Fatalf("Ops() with a certificate = %+v, %v; want TLS without client certificates", ops, err)
	}
	c.TLSClientCA = pki.CA
	if ops, err = c.Ops(); err != nil || ops.TLS.ClientAuth != tls.RequireAndVerifyClientCert || ops.TLS.ClientCAs == nil {
		t.Fatalf("Ops() with a client CA = %+v, %v; want client certificates required", ops, err)
	}
	c.TLSClientCA = pki.ServerKey // a key, not a certificate
	if _, err = c.Ops(); err == nil || !strings.Contains(err.Error(), "--tls-client-ca") || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("Ops() with a key as client CA = %v, want an error naming --tls-client-ca", err)
	}
}

// TestRegisterBase: the gateway is no service on NATS. It gets the base flags, and Validate
// does not ask it for NATS settings or k.
func TestRegisterBase(t *testing.T) {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	var c config.Service
	c.RegisterBase(fs, "127.0.0.1:7180")
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	want := []string{"clock-offset", "create-secret", "data-dir", "listen", "log-format", "log-level", "secret-file", "tokens-file"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("RegisterBase flags = %v, want %v", names, want)
	}
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("base defaults do not validate: %v", err)
	}
	c.LogFormat = "xml"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Fatalf("Validate = %v, want --log-format", err)
	}
}
