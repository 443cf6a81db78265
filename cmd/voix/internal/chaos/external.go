package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/voix-dev/voix/cmd/voix/internal/proc"
	"github.com/voix-dev/voix/services/platform/anonymity"
)

// NATSUser is the NATS user the services of a run connect as: a caller that runs its own NATS
// servers (RunExternal) declares it, with External.Password, in their configuration.
const NATSUser = natsUser

// External is NATS run by the caller of RunExternal rather than by the harness (voix
// e2e-cluster: a three-node JetStream cluster).
type External struct {
	// URLs are the client URLs of every server; each service is given all of them.
	URLs []string
	// Password is NATSUser's password.
	Password string
	// ServiceFlags are added to every service's flags (e.g. --stream-replicas 3).
	ServiceFlags []string
}

// Handle lets RunExternal's disrupt function kill and restart the services while the load
// runs.
type Handle struct {
	c     *cluster
	mu    sync.Mutex
	kills map[string]int
}

// Kill kills the service name (pulse, feedback or sentiment) with SIGKILL.
func (h *Handle) Kill(name string) error {
	n, err := h.node(name)
	if err != nil {
		return err
	}
	n.down.Store(true)
	n.Kill()
	h.mu.Lock()
	h.kills[name]++
	h.mu.Unlock()
	h.c.logf("killed %s", name)
	return nil
}

// Restart starts the service name again with its flags, data dir and port, and waits until it
// serves (tried again for up to 3 minutes, as the kill loop does).
func (h *Handle) Restart(ctx context.Context, name string) error {
	n, err := h.node(name)
	if err != nil {
		return err
	}
	h.c.bringUp(ctx, n)
	if n.down.Load() {
		return fmt.Errorf("chaos: %s did not come back (see %s)", name, n.Log)
	}
	return nil
}

// Logf writes a progress line to the run's log.
func (h *Handle) Logf(format string, args ...any) { h.c.logf(format, args...) }

func (h *Handle) node(name string) (*node, error) {
	for _, n := range []*node{h.c.pulse, h.c.feedback, h.c.sentiment} {
		if n.Name == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("chaos: no service %q", name)
}

// RunExternal is Run against NATS servers the caller runs: the harness starts pulse, feedback
// and sentiment connected to ext.URLs, drives the same load for cfg.Duration while disrupt
// runs (the kill loop does not: disrupt kills and restarts what it wants, NATS servers
// included), waits for disrupt to return and every service to be up, then settles and
// verifies as Run does. The services are stopped when it returns; the NATS servers are left
// to the caller. stop is closed when the load's time is up.
func RunExternal(ctx context.Context, cfg Config, ext External, disrupt func(ctx context.Context, h *Handle, stop <-chan struct{}) error) (Result, error) {
	if cfg.BinDir == "" || cfg.Dir == "" || len(ext.URLs) == 0 {
		return Result{}, errors.New("chaos: BinDir, Dir and the NATS URLs are required")
	}
	cfg.defaults()
	var err error
	if cfg.Dir, err = filepath.Abs(cfg.Dir); err != nil {
		return Result{}, err
	}
	c, err := newCluster(cfg)
	if err != nil {
		return Result{}, err
	}
	// The services reach the caller's servers; the harness's own NATS node never starts (its
	// Stop is then a no-op).
	c.natsURL, c.natsPass = strings.Join(ext.URLs, ","), ext.Password
	_ = os.Remove(filepath.Join(cfg.Dir, "nats.conf"))
	c.nats = &node{Proc: &proc.Proc{Name: "nats"}}
	c.nodes = []*node{c.pulse, c.feedback, c.sentiment}
	for _, n := range c.nodes {
		for i := range n.Args {
			if n.Args[i] == "--nats-url" && i+1 < len(n.Args) {
				n.Args[i+1] = c.natsURL
			}
		}
		n.Args = append(n.Args, ext.ServiceFlags...)
		n.Env = []string{"VOIX_NATS_PASSWORD=" + c.natsPass}
	}
	logf(cfg.Log, "seed %d, %v of load from %d employees against %s, work dir %s", cfg.Seed, cfg.Duration, cfg.Workers, c.natsURL, cfg.Dir)
	defer c.stop()
	if err := c.startServices(ctx); err != nil {
		return Result{}, err
	}
	ld, err := newLoad(ctx, c)
	if err != nil {
		return Result{}, err
	}
	defer ld.close()

	h := &Handle{c: c, kills: map[string]int{}}
	stop := make(chan struct{})
	time.AfterFunc(cfg.Duration, func() { close(stop) })
	var disruptErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		disruptErr = disrupt(ctx, h, stop)
	}()
	loadErr := ld.run(ctx, stop, cfg.Workers, cfg.Seed)
	wg.Wait()
	var res Result
	res.Kills = h.kills
	if err := errors.Join(loadErr, disruptErr); err != nil {
		return res, err
	}
	if err := c.allUp(); err != nil {
		return res, err
	}
	ld.tally(&res)
	logf(cfg.Log, "load over: %d acknowledged, %d retries; settling", res.Acked, res.Retries)
	start := time.Now()
	settleErr := c.settle(ctx, ld, cfg.StallTimeout)
	res.Settle = time.Since(start)
	if settleErr != nil {
		logf(cfg.Log, "%v", settleErr)
	}
	if err := verify(ctx, c, ld, &res); err != nil {
		return res, err
	}
	return res, settleErr
}

// startServices is start without NATS: feedback first (it makes the secret), then pulse and
// sentiment.
func (c *cluster) startServices(ctx context.Context) error {
	if err := c.feedback.Start(ctx, "--create-secret"); err != nil {
		return err
	}
	s, err := anonymity.SecretSource{File: c.secretFile}.Load()
	if err != nil {
		return err
	}
	c.sentiment.Env = append(c.sentiment.Env, anonymity.SecretEnv+"="+anonymity.EncodeSecret(s))
	for _, n := range []*node{c.pulse, c.sentiment} {
		if err := n.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}
