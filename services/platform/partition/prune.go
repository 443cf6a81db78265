package partition

import (
	"context"
	"time"

	"github.com/voix-dev/voix/services/platform/consumer"
)

// pruneLoop deletes the applied ids of each source with KeepApplied that are older than its
// horizon (consumer.StreamHorizon: the rule of the durable consumers), once at start and then
// every consumer.PruneEvery, until Stop. The ids are those of every partition the store ever
// held, owned now or not: a replica that lost a partition keeps none it no longer needs.
func (g *Group) pruneLoop(ctx context.Context) {
	defer close(g.pruned)
	t := time.NewTicker(consumer.PruneEvery)
	defer t.Stop()
	for {
		g.prune(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// prune makes one pass over the sources, then over the logs of the partitions held.
func (g *Group) prune(ctx context.Context) {
	defer g.pruneLogs(ctx)
	for _, src := range g.cfg.Sources {
		if src.KeepApplied <= 0 {
			continue
		}
		op, cancel := context.WithTimeout(ctx, 2*time.Second)
		keep := consumer.StreamHorizon(op, g.cfg.JS, src.Stream, src.KeepApplied)
		cancel()
		if ctx.Err() != nil {
			return // stopping: the horizon may not have been read, and keep alone may be short
		}
		// The applied ids are dated by the real day (consumer.UnsafeRecord), not Config.Clock.
		n, err := consumer.Prune(g.cfg.DB, src.Name, time.Now().Add(-keep))
		if err != nil {
			g.cfg.Log.Warn("partition: prune applied ids", "source", src.Name, "err", err)
		} else if n > 0 {
			g.cfg.Log.Debug("partition: pruned applied ids", "source", src.Name, "ids", n)
		}
	}
}
