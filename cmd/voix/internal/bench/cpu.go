package bench

import (
	"fmt"
	"io"
	"runtime/pprof"
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) this process has used so far; 0 where getrusage
// fails.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// phaseCPU measures the process's CPU time over each phase, and profiles one phase when asked.
// CPU per completed call is steadier than calls per second on a machine shared with other
// work: it counts what a call costs, not what the scheduler gave the process.
type phaseCPU struct {
	profile      io.Writer // nil: no profile
	profilePhase string
	start        time.Duration
	wallStart    time.Time
	profiling    bool
}

// begin marks the start of phase name.
func (p *phaseCPU) begin(name string) error {
	if p.profile != nil && name == p.profilePhase {
		if err := pprof.StartCPUProfile(p.profile); err != nil {
			return fmt.Errorf("--cpuprofile-phase %s: %w", name, err)
		}
		p.profiling = true
	}
	p.start, p.wallStart = processCPU(), time.Now()
	return nil
}

// end marks the end of phase name, which completed calls calls, in res.
func (p *phaseCPU) end(name string, calls int, res *Result) {
	cpu, wall := processCPU()-p.start, time.Since(p.wallStart)
	if p.profiling {
		pprof.StopCPUProfile()
		p.profiling = false
	}
	if res.CPUS == nil {
		res.CPUS, res.CPUCores = map[string]float64{}, map[string]float64{}
	}
	res.CPUS[name] = cpu.Seconds()
	if wall > 0 {
		res.CPUCores[name] = cpu.Seconds() / wall.Seconds()
	}
	if calls == 0 {
		return
	}
	us := float64(cpu.Microseconds()) / float64(calls)
	switch name {
	case "echo":
		res.CPUUsPerEcho = us
	case "durable":
		res.CPUUsPerDurable = us
	case "ingest":
		res.CPUUsPerIngest = us
	case "respond":
		res.CPUUsPerRespond = us
	}
}
