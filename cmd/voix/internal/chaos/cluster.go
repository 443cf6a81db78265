package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/voix-dev/voix/cmd/voix/internal/proc"
	"github.com/voix-dev/voix/services/platform/auth"
)

const (
	org      = "acme"
	natsUser = "services"
	// natsPasswordEnv is where nats-server's config reads the services user's password.
	natsPasswordEnv = "VOIX_NATS_SERVICES_PASSWORD"
)

// natsConfig is the nats-server configuration of a run: one server on loopback, JetStream on
// file with every write fsynced before its ack (as deploy/nats), and the services user.
const natsConfig = `# Written by voix chaos.
server_name: voix-chaos
listen: %s
jetstream {
  store_dir: %q
  sync_interval: always
}
accounts {
  VOIX: {
    jetstream: enabled
    users: [ { user: %s, password: $%s } ]
  }
}
`

// cluster is the four processes of a run and what they share.
type cluster struct {
	cfg      Config
	natsURL  string
	natsPass string
	tokens   map[auth.Role]string
	// nodes are nats, pulse, feedback and sentiment, in that order.
	nodes                            []*node
	nats, pulse, feedback, sentiment *node
	secretFile                       string
}

// node is one process; down is set from its kill until it serves again. Only the chaos loop
// kills a node that is up, and only its restarter touches it while it is down.
type node struct {
	*proc.Proc
	down atomic.Bool
}

func newCluster(cfg Config) (*cluster, error) {
	for _, d := range []string{"shared", "logs", "nats", "pulse", "feedback", "sentiment"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	c := &cluster{cfg: cfg, tokens: map[auth.Role]string{}, secretFile: filepath.Join(cfg.Dir, "shared", "secret.key")}
	var file auth.TokenFile
	for _, role := range []auth.Role{auth.RoleSubmitter, auth.RoleHR} {
		tok, err := auth.NewToken()
		if err != nil {
			return nil, err
		}
		c.tokens[role] = tok
		file.Tokens = append(file.Tokens, auth.TokenRecord{Name: "chaos-" + string(role), Role: role, Prefix: org, SHA256: auth.HashToken(tok)})
	}
	tokens := filepath.Join(cfg.Dir, "shared", "token-hashes.json")
	if err := auth.WriteTokens(tokens, file); err != nil {
		return nil, err
	}
	var err error
	if c.natsPass, err = auth.NewToken(); err != nil {
		return nil, err
	}

	// Every port is chosen once: a process comes back on its own.
	addrs := make([]string, 4)
	for i := range addrs {
		if addrs[i], err = proc.FreeAddr(); err != nil {
			return nil, err
		}
	}
	conf := filepath.Join(cfg.Dir, "nats.conf")
	text := fmt.Sprintf(natsConfig, addrs[0], filepath.Join(cfg.Dir, "nats"), natsUser, natsPasswordEnv)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, err
	}
	c.natsURL = "nats://" + addrs[0]
	c.nats = &node{Proc: &proc.Proc{
		Name: "nats", Bin: cfg.NATSServer, Args: []string{"-c", conf}, Addr: addrs[0],
		Env: []string{natsPasswordEnv + "=" + c.natsPass}, Log: filepath.Join(cfg.Dir, "logs", "nats.log"),
	}}
	svc := func(name, addr string, extra ...string) *node {
		return &node{Proc: &proc.Proc{
			Name: name, Bin: proc.BinPath(cfg.BinDir, name), Addr: addr, GRPC: true,
			Log: filepath.Join(cfg.Dir, "logs", name+".log"), Env: []string{"VOIX_NATS_PASSWORD=" + c.natsPass},
			Args: append([]string{
				"--listen", addr, "--data-dir", filepath.Join(cfg.Dir, name),
				"--nats-url", c.natsURL, "--nats-user", natsUser, "--tokens-file", tokens,
			}, extra...),
		}}
	}
	// Feedback makes the secret on its first start; pulse reads the file, sentiment gets it
	// in VOIX_SECRET.
	c.pulse = svc("pulse", addrs[1], "--secret-file", c.secretFile)
	c.feedback = svc("feedback", addrs[2], "--secret-file", c.secretFile)
	c.sentiment = svc("sentiment", addrs[3])
	c.nodes = []*node{c.nats, c.pulse, c.feedback, c.sentiment}
	return c, nil
}

// start starts every process for the first time.
func (c *cluster) start(ctx context.Context) error {
	if err := c.nats.Start(ctx); err != nil {
		return err
	}
	return c.startServices(ctx)
}

// chaos kills a random running process every 1 to 4 seconds, each brought back after a pause
// of 0.1 to 2 seconds, until stop; then it waits until every process is back. With
// longOutage, the sentiment service is first kept down for longer than the duplicate window.
func (c *cluster) chaos(ctx context.Context, stop <-chan struct{}, rng *rand.Rand, long bool) map[string]int {
	kills := map[string]int{}
	var wg sync.WaitGroup
	kill := func(n *node, pause time.Duration) {
		n.down.Store(true)
		n.Kill()
		kills[n.Name]++
		c.logf("killed %s; back in %v", n.Name, pause.Round(time.Millisecond))
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-time.After(pause):
			case <-stop:
			}
			c.bringUp(ctx, n)
		}()
	}
	first := true
	for {
		select {
		case <-time.After(between(rng, time.Second, 4*time.Second)):
		case <-stop:
			wg.Wait()
			return kills
		case <-ctx.Done():
			wg.Wait()
			return kills
		}
		if first && long {
			first = false
			kill(c.sentiment, longOutage)
			continue
		}
		var up []*node
		for _, n := range c.nodes {
			if !n.down.Load() {
				up = append(up, n)
			}
		}
		if len(up) > 0 {
			kill(up[rng.IntN(len(up))], between(rng, 100*time.Millisecond, 2*time.Second))
		}
	}
}

// bringUp starts n again with its flags, data dir and port, until it serves. A service
// refuses to start while NATS is down: it is tried again, for up to giveUp.
func (c *cluster) bringUp(ctx context.Context, n *node) {
	for start := time.Now(); ctx.Err() == nil && time.Since(start) < giveUp; {
		err := n.Start(ctx)
		if err == nil {
			n.down.Store(false)
			c.logf("%s is back", n.Name)
			return
		}
		n.Kill() // it may still run without serving
		c.logf("%s did not come back (%v); trying again", n.Name, err)
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// allUp reports an error if a process is not running.
func (c *cluster) allUp() error {
	for _, n := range c.nodes {
		if n.down.Load() || !n.Running() {
			return fmt.Errorf("chaos: %s is not running (see %s)", n.Name, n.Log)
		}
	}
	return nil
}

// stop stops the services (SIGTERM), then NATS.
func (c *cluster) stop() error {
	var errs []error
	for _, n := range []*node{c.pulse, c.feedback, c.sentiment, c.nats} {
		errs = append(errs, n.Stop())
	}
	return errors.Join(errs...)
}

func (c *cluster) logf(format string, args ...any) { logf(c.cfg.Log, format, args...) }

// between is a random duration in [lo, hi).
func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}
