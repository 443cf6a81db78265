package bench

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// echoMethod is the bare gRPC ceiling: a unary call that returns its request, with no
// interceptor, no validation and no disk.
const echoMethod = "/voix.bench.Echo/Echo"

type echoService interface{}

var echoDesc = grpc.ServiceDesc{
	ServiceName: "voix.bench.Echo",
	HandlerType: (*echoService)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.BytesValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return in, nil
		},
	}},
}

// serveCeiling serves a ceiling's service (desc, implemented by impl) on a free loopback port,
// with no interceptor.
func serveCeiling(desc *grpc.ServiceDesc, impl any) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	s := grpc.NewServer()
	s.RegisterService(desc, impl)
	go s.Serve(ln)
	return ln.Addr().String(), s.Stop, nil
}

// fsyncRate writes 4 KiB and syncs it, again and again for d, in dir (the data dir's disk),
// and returns the syncs per second.
func fsyncRate(dir string, d time.Duration) (float64, error) {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	n, start := 0, time.Now()
	for time.Since(start) < d {
		buf[0] = byte(n)
		if _, err := f.WriteAt(buf, 0); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// rssMB is this process's resident set (VmRSS), in MB; 0 where /proc is missing.
func rssMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// dirBytes is the size of the files under dir.
func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// recorder keeps the latency of every call, by RPC.
type recorder struct {
	mu   sync.Mutex
	lat  map[string][]time.Duration
	errs map[string]int
	last map[string]string
}

func newRecorder() *recorder {
	return &recorder{lat: map[string][]time.Duration{}, errs: map[string]int{}, last: map[string]string{}}
}

func (r *recorder) add(rpc string, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errs[rpc]++
		r.last[rpc] = err.Error()
		return
	}
	r.lat[rpc] = append(r.lat[rpc], d)
}

// RPCStats is what one RPC did in a phase.
type RPCStats struct {
	Calls  int     `json:"calls"`
	Errors int     `json:"errors"`
	RPS    float64 `json:"rps"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	// LastError is the last error seen, to tell what failed.
	LastError string `json:"last_error,omitempty"`
}

// stats summarises the calls of each RPC over elapsed.
func (r *recorder) stats(elapsed time.Duration) map[string]RPCStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]RPCStats{}
	names := map[string]bool{}
	for k := range r.lat {
		names[k] = true
	}
	for k := range r.errs {
		names[k] = true
	}
	for k := range names {
		l := slices.Clone(r.lat[k])
		slices.Sort(l)
		out[k] = RPCStats{
			Calls: len(l), Errors: r.errs[k], RPS: float64(len(l)) / elapsed.Seconds(),
			P50MS: pct(l, 50), P90MS: pct(l, 90), P99MS: pct(l, 99), LastError: r.last[k],
		}
	}
	return out
}

// pct is the p-th percentile (nearest rank) of sorted durations, in milliseconds.
func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	i = min(max(i, 0), len(sorted)-1)
	return float64(sorted[i].Microseconds()) / 1000
}

func pctF(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
