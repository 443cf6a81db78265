package pulse_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// BenchmarkGetResultsReplicas reads BenchmarkGetResults' closed wave of 10,000 respondents
// with headcounts, held by one service (replicas=1) or split evenly between two replicas
// (replicas=2: every read asks the other replica for its raw tallies and comments), with the
// results cache off and on.
func BenchmarkGetResultsReplicas(b *testing.B) {
	const n = 10_000
	for _, replicas := range []int{1, 2} {
		for _, cache := range []bool{false, true} {
			b.Run(fmt.Sprintf("replicas=%d/cache=%v", replicas, cache), func(b *testing.B) {
				f := &fixture{env: servicetest.New(b), clock: newClock(t0)}
				var rs []*replica
				dirs := []string{b.TempDir(), b.TempDir()}
				for i := range replicas {
					name := ""
					if replicas > 1 {
						name = fmt.Sprint("r", i+1)
					}
					rs = append(rs, startReplica(b, f, dirs[i], name, 0))
				}
				on(f, rs[0]).upsertSegment(b, "acme/eng", n)
				for s := range 50 {
					on(f, rs[0]).upsertSegment(b, fmt.Sprintf("acme/eng/s%02d", s), n/50)
				}
				sv := on(f, rs[0]).createSurvey(b, validSurvey())
				if replicas > 1 {
					applied(b, rs[1], configRevision(b, f, sv.Id))
				}
				rng := rand.New(rand.NewPCG(12, 4))
				for i, r := range rs {
					r.svc.Close()
					writeBenchResponses(b, filepath.Join(dirs[i], "pulse", "pulse.db"), sv.Id, n/replicas, n*i/replicas, rng)
				}
				for i := range rs {
					name := ""
					if replicas > 1 {
						name = fmt.Sprint("r", i+1)
					}
					rs[i] = startReplica(b, f, dirs[i], name, 0)
					rs[i].svc.ResultsCache(cache)
				}
				f.clock.Set(afterWave1)
				ctx := f.as(auth.RoleAdmin)
				req := &pulsev1.GetResultsRequest{SurveyId: sv.Id}
				rf := on(f, rs[0])
				if r := rf.results(b, ctx, req); r.Total.Respondents != n {
					b.Fatalf("respondents %d, want %d", r.Total.Respondents, n)
				}
				benchResults(b, rf, ctx, req)
			})
		}
	}
}

// writeBenchResponses writes count responses of resultsFixture's kind, numbered from first,
// into the store at path.
func writeBenchResponses(b *testing.B, path, surveyID string, count, first int, rng *rand.Rand) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		for i := first; i < first+count; i++ {
			if err := store.UnsafePutResponse(tx, benchResponse(rng, surveyID, i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatalf("write responses: %v", err)
	}
}
