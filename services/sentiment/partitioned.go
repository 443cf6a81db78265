package sentiment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/partition"
	"github.com/voix-dev/voix/services/platform/rpcerr"
)

// PartitionGroup is the name of the sentiment replicas' group: their leases are in the
// key-value bucket partition.BucketName(PartitionGroup).
const PartitionGroup = "sentiment"

// errPartitioned refuses what one replica cannot do for the organisations it does not own.
var errPartitioned = errors.New("rebuild: not on a replica of a partitioned service (--partitions above 1): each replica rebuilds the partitions it gains from the streams")

func init() { rules = append(rules, rpcerr.Rule{Err: errPartitioned, Code: codes.FailedPrecondition}) }

// partitioned reports whether the service runs as one of several replicas, each applying the
// organisations of the partitions it owns (Config.Partitions above 1).
func (s *Service) partitioned() bool { return s.cfg.Partitions > 1 }

// startPartitions joins the sentiment replicas' group, in the background until NATS answers:
// instead of the durable consumers, each partition this replica gains is read from its
// checkpoint in the store, with the live handlers (package partition).
func (s *Service) startPartitions(srcs []partition.Source) {
	h := s.host
	h.Go(func(ctx context.Context) {
		for {
			g, err := partition.Start(ctx, partition.Config{
				JS: h.Bus.JetStream(), Group: PartitionGroup, Replica: s.cfg.Replica, Address: s.advertised(),
				Partitions: s.cfg.Partitions, Replicas: s.cfg.NATS.Replicas, LeaseTTL: s.cfg.LeaseTTL,
				DB: h.DB, Sources: srcs, Batch: consumerGroup, Log: h.Log, Clock: s.cfg.Now,
				Inherit: s.inheritReleases, LogKeep: s.logKeep(), // partitioned_log.go
			})
			if err == nil {
				s.parts.Store(g)
				h.Log.Info("joined the sentiment replicas", "replica", s.cfg.Replica, "partitions", s.cfg.Partitions)
				<-ctx.Done()
				g.Stop()
				return
			}
			h.Log.Warn("sentiment replicas not joined; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	})
}

// maxWindow is the longest window released (a month).
const maxWindow = 31 * 24 * time.Hour

// logKeep is partition.Config.LogKeep: a record of the partition log is replayed on the events
// of the windows it released, which the streams keep NATS.Retention; a record made longer ago
// than that plus the longest window released only windows whose every event is gone, which no
// replica could rebuild to replay it on. Events kept forever (0): every record is kept.
func (s *Service) logKeep() time.Duration {
	if s.cfg.NATS.Retention <= 0 {
		return 0
	}
	return s.cfg.NATS.Retention + maxWindow
}

// mayRelease reports whether this replica may release the aggregates of org's window w (a
// ContributorTag.Window): always unpartitioned; partitioned, only while it owns org's
// partition and only for windows it did not inherit from another replica mid-way, whose
// releases it does not know (partition.Group.Releasable).
func (s *Service) mayRelease(org, w string) bool {
	if !s.partitioned() {
		return true
	}
	g := s.parts.Load()
	if g == nil {
		return false
	}
	win, err := anonymity.ParseContributorWindow(w)
	if err != nil {
		return false
	}
	return g.Releasable(org, win.Start)
}

// Owned lists the partitions this replica owns now; nil unpartitioned or before it joined.
func (s *Service) Owned() []int {
	if g := s.parts.Load(); g != nil {
		return g.Owned()
	}
	return nil
}

// checkMode refuses to run unpartitioned on a store that a partitioned replica built: it holds
// only the organisations that replica owned, and windows it must not release.
func (s *Service) checkMode() error {
	if s.partitioned() {
		return nil
	}
	n, err := partition.StoreCount(s.host.DB)
	if err != nil {
		return err
	}
	if n > 1 {
		return fmt.Errorf("sentiment: the store was built by a replica with --partitions %d: it holds only the organisations that replica owned; start with --partitions %d, or on an empty store", n, n)
	}
	return nil
}

// OwnerLog is this replica's owner log (partition.ReadLog): when it applied which events of
// which partition.
func (s *Service) OwnerLog() ([]partition.Term, error) { return partition.ReadLog(s.host.DB) }

func (c *Config) partitionDefaults() error {
	if c.Partitions < 0 {
		return fmt.Errorf("sentiment: Partitions must be at least 1, not %d", c.Partitions)
	}
	if c.Partitions > 1 && c.Replica == "" {
		return errors.New("sentiment: Replica (a name unique among the replicas) is required with Partitions above 1")
	}
	if c.Partitions > 1 {
		if _, err := partition.Advertised(c.Listen, c.Advertise); err != nil {
			return fmt.Errorf("sentiment: Advertise: %w", err)
		}
	}
	return nil
}

// advertised is the address this replica registers in its leases: Config.Advertise, else the
// address it serves on (the port bound when Listen's is 0).
func (s *Service) advertised() string {
	if s.cfg.Advertise != "" {
		return s.cfg.Advertise
	}
	return s.host.Addr()
}
