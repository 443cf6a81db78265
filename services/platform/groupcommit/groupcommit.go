// Package groupcommit commits concurrent bbolt writes together: one transaction and one
// fsync for all the writes that arrived while the previous commit was on its way to disk, in
// the manner of etcd's batched backend. A caller is released only after the commit that holds
// its write returned, so what it acknowledges is on disk.
//
// Why not bolt's own DB.Batch: Batch closes a batch when MaxBatchSize calls are in or when its
// timer fires, whether or not the previous commit is done, so under load several small batches
// queue behind the writer lock, each paying its own fsyncs (measured here: about 4 writes per
// commit with 64 concurrent callers). The committer instead takes everything that is waiting
// the moment the disk is free: batches grow with the load and no one waits for a timer.
//
// A write that fails fails alone. bbolt has no savepoints, so when a function returns an error
// (or panics) the transaction is rolled back, that caller gets its error, and the others are
// run again in a new transaction. Functions must therefore be safe to run more than once and
// have no effect outside tx, exactly as with DB.Batch.
package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/trace"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// ErrClosed is returned by Update once Close was called, and to callers still waiting then.
var ErrClosed = errors.New("groupcommit: committer closed")

// DefaultMaxBatch bounds the writes of one transaction: enough for any number of concurrent
// gRPC calls on one connection, small enough that one transaction stays short.
const DefaultMaxBatch = 1024

// Committer runs the writes of many goroutines in shared transactions.
type Committer struct {
	db    *bolt.DB
	max   int
	queue chan *call

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	done   chan struct{}
}

type call struct {
	fn  func(*bolt.Tx) error
	err chan error
}

// calls recycles calls and their channels: Update takes one and puts it back once it has
// received its answer, after which the committer no longer touches it.
var calls = sync.Pool{New: func() any { return &call{err: make(chan error, 1)} }}

// New starts a committer on db. maxBatch <= 0 means DefaultMaxBatch.
func New(db *bolt.DB, maxBatch int) *Committer {
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	c := &Committer{db: db, max: maxBatch, queue: make(chan *call, maxBatch), done: make(chan struct{})}
	go c.loop()
	return c
}

// Update runs fn in a write transaction shared with other callers and returns once that
// transaction is committed (nil) or fn's own error. fn may run more than once (see the
// package comment); the last run is the one committed.
func (c *Committer) Update(fn func(*bolt.Tx) error) error {
	cl := calls.Get().(*call)
	cl.fn = fn
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		cl.fn = nil
		calls.Put(cl)
		return ErrClosed
	}
	c.queue <- cl
	c.mu.RUnlock()
	err := <-cl.err // the one answer: the channel is empty again
	cl.fn = nil
	calls.Put(cl)
	return err
}

// Close stops taking writes, lets the committer finish the writes already queued, and
// returns when it has stopped. Closing again does nothing.
func (c *Committer) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.queue)
	}
	c.mu.Unlock()
	<-c.done
	return nil
}

func (c *Committer) loop() {
	defer close(c.done)
	batch := make([]*call, 0, c.max)
	for {
		var first *call
		select {
		case first = <-c.queue:
			// Writes queued during the last commit: commit them now. A yield here would put
			// the committer at the back of the run queue for a whole time slice on a busy
			// machine (measured: ~12 ms per commit under load, a quarter of the cycle).
		default:
			var ok bool
			if first, ok = <-c.queue; !ok {
				return
			}
			// Woken from idle by one write: let the writes arriving with it join (one
			// yield, no timer, so a lone write is not delayed).
			runtime.Gosched()
		}
		if first == nil {
			return // closed
		}
		batch = append(batch[:0], first)
	gather:
		for len(batch) < c.max {
			select {
			case cl, ok := <-c.queue:
				if !ok {
					break gather
				}
				batch = append(batch, cl)
			default:
				break gather
			}
		}
		c.commit(batch)
	}
}

// commit runs batch in one transaction. A call whose function fails is answered with its
// error and removed, and the rest run again, until a transaction commits or nothing is left.
func (c *Committer) commit(batch []*call) {
	if trace.IsEnabled() { // a runtime/trace (voix bench --trace) shows each commit and its size
		ctx, before := context.Background(), c.db.Stats().TxStats
		r := trace.StartRegion(ctx, "groupcommit.commit")
		defer func() {
			r.End()
			after := c.db.Stats().TxStats
			trace.Logf(ctx, "groupcommit", "%s %d %d %d", filepath.Base(c.db.Path()), len(batch),
				after.GetWrite()-before.GetWrite(), after.GetPageAlloc()-before.GetPageAlloc())
		}()
	}
	for len(batch) > 0 {
		failed := -1
		var failure error
		err := c.db.Update(func(tx *bolt.Tx) error {
			for i, cl := range batch {
				if err := run(cl.fn, tx); err != nil {
					failed, failure = i, err
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			// Committed (err nil), or the commit itself failed (a closed db, a full disk):
			// then nothing of the batch is written and every caller hears why.
			for _, cl := range batch {
				cl.err <- err
			}
			return
		}
		batch[failed].err <- failure
		batch = append(batch[:failed], batch[failed+1:]...)
	}
}

// run calls fn, turning a panic into that caller's error.
func run(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("groupcommit: write panicked: %v", r)
		}
	}()
	return fn(tx)
}
