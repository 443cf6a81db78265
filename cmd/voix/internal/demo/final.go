package demo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
)

// The week the demo clock catches up in is the one the dashboard opens on, and it is still
// running: the sentiment service shows a department's numbers mid-week only while none of its
// teams holds people that no release of that team includes yet (a team shows its people by
// five or more at a time; a department that took in a team's last few would let the team's
// next release split them off). So in that week nothing counts but the last weekly wave
// (plan moves the rest just before it), and its people answer team by team in groups of
// five, each group once the one before is released; the few left over in a team answer
// "later in the week", that is, not in the demo. Every team is then fully released, and so
// are the departments and the organisation above them.

// finalGroup is how many people of a team answer at once: k, the default minimum group size.
const finalGroup = 5

// quietFrom is the start (UTC) of the ISO week in which the plan ends.
func (r *run) quietFrom() time.Time {
	stop := r.end().UTC()
	return time.Date(stop.Year(), stop.Month(), stop.Day()-(int(stop.Weekday())+6)%7, 0, 0, 0, 0, time.UTC)
}

// finalWave has the people of r.final answer the last wave of the weekly pulse, team by team
// in groups of finalGroup, waiting after each group until the team's released aggregate counts
// it. Actions get ids from firstID on. Teams go in parallel.
func (r *run) finalWave(ctx context.Context, firstID int) error {
	if len(r.final) == 0 {
		return nil
	}
	wave := uint32(r.nWaves)
	opens := r.weeklyOpens(r.nWaves)
	closes := opens.Add(weeklyWindow)
	if err := sleep(ctx, time.Until(r.clock.RealAt(opens.Add(time.Minute)))); err != nil {
		return err
	}
	var (
		teams  []*team
		byTeam = map[*team][]*action{}
	)
	for i, p := range r.final {
		a := &action{id: firstID + i, kind: "weekly", at: r.clock.Now(), until: closes.Add(-30 * time.Minute),
			do: r.respond(p, r.weekly, wave, func(c *Counts) { c.WeeklyResponses++ }), done: make(chan struct{})}
		if byTeam[p.team] == nil {
			teams = append(teams, p.team)
		}
		byTeam[p.team] = append(byTeam[p.team], a)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, max(1, r.cfg.Workers/finalGroup))
	var wg sync.WaitGroup
	for _, t := range teams {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := r.finalTeam(ctx, t, byTeam[t], cancel); err != nil {
				r.mu.Lock()
				r.errs = append(r.errs, err)
				r.mu.Unlock()
			}
		})
	}
	wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) > 0 {
		return fmt.Errorf("%d actions failed, the first: %w", len(r.errs), r.errs[0])
	}
	return ctx.Err()
}

// finalTeam runs the groups of one team.
func (r *run) finalTeam(ctx context.Context, t *team, actions []*action, cancel func()) error {
	sent := 0
	for len(actions) >= finalGroup {
		group := actions[:finalGroup]
		actions = actions[finalGroup:]
		var wg sync.WaitGroup
		for _, a := range group {
			wg.Go(func() { r.perform(ctx, a, cancel) })
		}
		wg.Wait()
		for _, a := range group {
			if !a.ok {
				return nil // late or failed: perform counted it; the team stops here
			}
		}
		sent += finalGroup
		switch err := r.waitReleased(ctx, t.path, sent); {
		case errors.Is(err, errNotReleased):
			// A suite whose k is above five (voix dev --min-group-size) releases no group of
			// five: the team's others answer later in the week.
			return nil
		case err != nil:
			return err
		}
	}
	return nil
}

// errNotReleased: a group was not released in time.
var errNotReleased = errors.New("not released")

// waitReleased waits until the released aggregate of seg in the current week counts at least
// people.
func (r *run) waitReleased(ctx context.Context, seg string, people int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := r.sentiment.GetSentiment(r.hr(ctx), &sentimentv1.GetSentimentRequest{
			Segment: seg, Time: timestamppb.New(r.clock.Now()),
		})
		if err != nil {
			return fmt.Errorf("GetSentiment %s: %w", seg, err)
		}
		if a := resp.Aggregate; !a.Hidden && int(a.People) >= people {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %w: this week's aggregate counts %d people after 10s, want %d", seg, errNotReleased, resp.Aggregate.People, people)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}
