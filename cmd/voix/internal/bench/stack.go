package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/voix-dev/voix/cmd/voix/internal/dev"
)

// stack is the suite under test: started here (in-process) or already running (--target).
type stack struct {
	pulse, feedback, sentiment, natsURL string
	tokens                              dev.Tokens
	dataDir                             string
	inProcess                           bool
	suite                               *dev.Suite
	tmp                                 string // removed on close
}

// startStack starts the whole suite in this process on free ports and a new data dir, or reads
// the tokens of a running `voix dev` whose data dir is cfg.DataDir.
func startStack(ctx context.Context, cfg Config) (*stack, error) {
	if cfg.Target != "" {
		st := &stack{dataDir: cfg.DataDir}
		if st.dataDir == "" {
			st.dataDir = "data"
		}
		b, err := os.ReadFile(filepath.Join(st.dataDir, "tokens.json"))
		if err != nil {
			return nil, fmt.Errorf("--target needs the suite's tokens: %w (set --data-dir)", err)
		}
		if err := json.Unmarshal(b, &st.tokens); err != nil {
			return nil, fmt.Errorf("tokens.json: %w", err)
		}
		port := func(p int) string { return net.JoinHostPort(cfg.Target, strconv.Itoa(p)) }
		st.pulse, st.feedback, st.sentiment = port(7101), port(7102), port(7103)
		st.natsURL = "nats://" + port(4222)
		return st, nil
	}
	st := &stack{inProcess: true, dataDir: cfg.DataDir}
	if st.dataDir == "" {
		d, err := os.MkdirTemp("", "voix-bench-")
		if err != nil {
			return nil, err
		}
		st.dataDir, st.tmp = d, d
	}
	free := "127.0.0.1:0"
	s, err := dev.Start(ctx, dev.Config{
		DataDir: st.dataDir, NATSPort: -1, Org: cfg.Org,
		PulseListen: free, FeedbackListen: free, SentimentListen: free, GatewayListen: free,
	})
	if err != nil {
		st.close()
		return nil, err
	}
	st.suite = s
	st.tokens = s.Tokens
	st.pulse, st.feedback, st.sentiment, st.natsURL = s.Pulse.Addr(), s.Feedback.Addr(), s.Sentiment.Addr(), s.NATSURL()
	return st, nil
}

func (st *stack) close() error {
	var err error
	if st.suite != nil {
		err = st.suite.Close()
	}
	if st.tmp != "" {
		os.RemoveAll(st.tmp)
	}
	return err
}

// conns opens n client connections to addr: the load spreads its clients over them, the same
// way for the services and for the echo server.
func conns(addr string, n int) ([]*grpc.ClientConn, error) {
	var cs []*grpc.ClientConn
	for range n {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			closeAll(cs)
			return nil, err
		}
		cs = append(cs, cc)
	}
	return cs, nil
}

func closeAll(cs []*grpc.ClientConn) {
	for _, c := range cs {
		c.Close()
	}
}

// callTimeout bounds one call of the load.
const callTimeout = 30 * time.Second
