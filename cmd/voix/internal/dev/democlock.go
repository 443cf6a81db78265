package dev

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// DemoWeeksUsage is the help of `voix dev --demo-weeks`.
const DemoWeeksUsage = "FOR DEMOS ONLY: run every service on a clock set this many weeks in the past, which waits for " +
	"`voix demo` and then catches up with real time in about a minute while it fills the suite (needs a new --data-dir; 0 = real clock)"

// DemoClockFile is the name, in the data dir, of the file that holds the demo clock of a suite
// started with Config.DemoWeeks. A suite on the real clock removes it.
const DemoClockFile = "demo-clock.json"

// DefaultDemoDuration is how long the demo clock takes to catch up with real time.
const DefaultDemoDuration = time.Minute

const week = 7 * 24 * time.Hour

// DemoClock is the accelerated clock of `voix dev --demo-weeks`, for demos only. A suite starts
// it Waiting: it shows Start until `voix demo` starts it (Started, StartDemoClock). Running, it
// shows Start until RealStart, then runs Speed times faster than real time until it has caught
// up with it (at CaughtUp), then shows real time. It is never ahead of real time, and never
// goes back.
type DemoClock struct {
	// Weeks is how far in the past it started.
	Weeks int `json:"weeks"`
	// Start is the simulated instant at RealStart.
	Start time.Time `json:"start"`
	// RealStart is the real instant the clock was started.
	RealStart time.Time `json:"real_start"`
	// Speed is how many simulated seconds pass in one real second until the clock has caught up.
	Speed float64 `json:"speed"`
	// Waiting is set until `voix demo` starts the clock: it shows Start.
	Waiting bool `json:"waiting,omitempty"`
	// CatchUp is how long the clock takes to catch up with real time once started.
	CatchUp time.Duration `json:"catch_up"`
}

// NewDemoClock returns a clock that shows weeks weeks before realStart at realStart and catches
// up with real time after catchUp.
func NewDemoClock(weeks int, catchUp time.Duration, realStart time.Time) DemoClock {
	lag := time.Duration(weeks) * week
	return DemoClock{Weeks: weeks, Start: realStart.Add(-lag), RealStart: realStart, Speed: 1 + float64(lag)/float64(catchUp), CatchUp: catchUp}
}

// NewWaitingDemoClock returns a clock set weeks weeks before now that waits to be started.
func NewWaitingDemoClock(weeks int, catchUp time.Duration, now time.Time) DemoClock {
	c := NewDemoClock(weeks, catchUp, now)
	c.Waiting = true
	return c
}

// Started is c running from the real instant at: it still shows Start then, and catches up
// with real time CatchUp later. A clock already running is returned as it is.
func (c DemoClock) Started(at time.Time) DemoClock {
	if !c.Waiting {
		return c
	}
	lag := at.Sub(c.Start)
	return DemoClock{Weeks: c.Weeks, Start: c.Start, RealStart: at, Speed: 1 + float64(lag)/float64(c.CatchUp), CatchUp: c.CatchUp}
}

// CaughtUp is the real instant from which the clock shows real time.
func (c DemoClock) CaughtUp() time.Time {
	if c.Speed <= 1 {
		return c.RealStart
	}
	return c.RealStart.Add(time.Duration(float64(c.RealStart.Sub(c.Start)) / (c.Speed - 1)))
}

// At is the simulated time at the real instant real, without a monotonic clock reading.
func (c DemoClock) At(real time.Time) time.Time {
	e := real.Sub(c.RealStart)
	switch {
	case c.Waiting || e <= 0:
		return c.Start.Round(0)
	case !real.Before(c.CaughtUp()):
		return real.Round(0)
	}
	sim := c.Start.Add(time.Duration(float64(e) * c.Speed))
	if sim.After(real) { // rounding, just before catching up
		return real.Round(0)
	}
	return sim.Round(0)
}

// Now is the simulated time now.
func (c DemoClock) Now() time.Time { return c.At(time.Now()) }

// RealAt is the real instant at which the clock shows sim: when to wake up for something
// planned at sim.
func (c DemoClock) RealAt(sim time.Time) time.Time {
	d := sim.Sub(c.Start)
	if d <= 0 || c.Speed <= 1 {
		return c.RealStart.Add(d)
	}
	if cu := c.CaughtUp(); !sim.Before(cu) {
		return sim
	}
	return c.RealStart.Add(time.Duration(float64(d) / c.Speed))
}

// realDuration is the real time in which the clock moves by d while it runs fast.
func (c DemoClock) realDuration(d time.Duration) time.Duration {
	return time.Duration(float64(d) / max(c.Speed, 1))
}

// WriteDemoClock writes c to dir/DemoClockFile.
func WriteDemoClock(dir string, c DemoClock) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, DemoClockFile)
	if err := os.WriteFile(path+".tmp", append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// ReadDemoClock reads dir/DemoClockFile; the error wraps os.ErrNotExist when the suite runs on
// the real clock.
func ReadDemoClock(dir string) (DemoClock, error) {
	var c DemoClock
	path := filepath.Join(dir, DemoClockFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	if c.Weeks <= 0 || c.Speed < 1 || c.Start.IsZero() || c.RealStart.IsZero() || c.CatchUp <= 0 {
		return c, fmt.Errorf("%s: not a demo clock (weeks %d, speed %g)", path, c.Weeks, c.Speed)
	}
	return c, nil
}

// startDelay is how far ahead StartDemoClock starts the clock: time for the suite, which reads
// the file every pollClock, to start it at the same instant.
const (
	startDelay = 200 * time.Millisecond
	pollClock  = 20 * time.Millisecond
)

// StartDemoClock starts the waiting demo clock of the suite whose data dir is dir, as `voix
// demo` does, and returns it; a clock already running is returned as it is. The suite follows
// within pollClock: the clock starts startDelay from now, and shows Start until then.
func StartDemoClock(dir string) (DemoClock, error) {
	c, err := ReadDemoClock(dir)
	if err != nil || !c.Waiting {
		return c, err
	}
	c = c.Started(time.Now().Add(startDelay))
	return c, WriteDemoClock(dir, c)
}

// errHasData refuses a demo clock over existing data.
var errHasData = errors.New("already holds data")

// checkNoData fails if dir holds a store or NATS data: a demo clock starts weeks in the past,
// and would run back in time over it.
func checkNoData(dir string) error {
	for _, p := range []string{"nats", "pulse/pulse.db", "feedback/feedback.db", "sentiment/sentiment.db"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			return fmt.Errorf("%s %w (%s): the demo clock starts in the past and would run back over it; use a new --data-dir or remove this one",
				dir, errHasData, p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
