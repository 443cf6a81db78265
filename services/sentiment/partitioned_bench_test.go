package sentiment_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/sentiment"
)

// BenchmarkPartitionedReplicas measures what a second partitioned sentiment replica adds: 1 or
// 2 replicas are started on one embedded JetStream and left to share the 4 partitions evenly,
// then N survey responses of 16 organisations (as the pulse service publishes them: random
// ids, sealed contributor tags) are published into PULSE, and the clock runs until the owner
// logs of the replicas account for every event. It reports events/s over that span and the
// process CPU per event (the embedded NATS server's and the publishing included). Both
// replicas share this machine's cores, so the figure says what a replica costs here, not what
// one on a machine of its own adds. The replicas hold their leases for 10 s, the default: with
// the 2 s of the tests, a lease lost under this load moves a partition mid-run.
//
//	go test -run '^$' -bench '^BenchmarkPartitionedReplicas$' -benchtime 1x -timeout 30m
//
// VOIX_BENCH_EVENTS changes N (default 50,000).
func BenchmarkPartitionedReplicas(b *testing.B) {
	total := 50_000
	if v, err := strconv.Atoi(os.Getenv("VOIX_BENCH_EVENTS")); err == nil && v > 0 {
		total = v
	}
	var segs []segment.Path
	for o := range 16 {
		for t := range 10 {
			segs = append(segs, segment.MustParse(fmt.Sprintf("org%02d/team%d", o, t)))
		}
	}
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			for b.Loop() {
				env := servicetest.New(b)
				f := producer(b, env)
				nc := natstest.Connect(b, env.NATS)
				var reps []*sentiment.Service
				for i := range n {
					dir := env.DataDir
					if i > 0 {
						dir = copyDeployment(b, env.DataDir)
					}
					// The default lease TTL: a loaded run must not move partitions (a move
					// rebuilds the partition at its new owner, which applies its events again).
					reps = append(reps, startReplicaTTL(b, env, fmt.Sprintf("r%d", i+1), dir, 10*time.Second))
				}
				waitFor(b, "the replicas share the partitions evenly", func() bool {
					for _, r := range reps {
						if len(r.Owned()) != testPartitions/n {
							return false
						}
					}
					return true
				})
				applied := func() uint64 {
					var sum uint64
					for _, r := range reps {
						sum += appliedBy(b, r)
					}
					return sum
				}
				ctx := context.Background()
				started, cpu0 := time.Now(), sentiment.BenchCPUTime()
				batch := make([]bus.Event, 0, 1000)
				for i := range total {
					person := i % 4000
					batch = append(batch, sentiment.BenchPulseEvent(b, f.secret, i, person, segs[person%len(segs)], now))
					if len(batch) == cap(batch) || i == total-1 {
						if _, err := nc.PublishBatch(ctx, batch); err != nil {
							b.Fatal(err)
						}
						batch = batch[:0]
					}
				}
				for applied() < uint64(total) {
					if time.Since(started) > 15*time.Minute {
						b.Fatalf("%d of %d events applied after 15 minutes", applied(), total)
					}
					time.Sleep(20 * time.Millisecond) // polling the owner logs, not a proof
				}
				elapsed, cpu := time.Since(started), sentiment.BenchCPUTime()-cpu0
				if got := applied(); got != uint64(total) {
					var terms []string
					for _, r := range reps {
						log, err := r.OwnerLog()
						if err != nil {
							b.Fatal(err)
						}
						for _, tm := range log {
							terms = append(terms, fmt.Sprintf("%s p%d applied %d", tm.Replica, tm.Partition, tm.Applied))
						}
					}
					b.Fatalf("the owner logs account for %d applications of %d events (a partition moved?): %v", got, total, terms)
				}
				b.ReportMetric(float64(total)/elapsed.Seconds(), "events/s")
				b.ReportMetric(float64(cpu.Microseconds())/float64(total), "cpu-us/event")
			}
		})
	}
}
