package chaos

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// buildBinaries builds the three services and nats-server into a directory of the test.
func buildBinaries(t *testing.T) (bin, natsServer string) {
	t.Helper()
	bin = t.TempDir()
	cmd := exec.Command("go", "build", "-o", bin+string(os.PathSeparator),
		"github.com/voix-dev/voix/services/pulse/cmd/pulse",
		"github.com/voix-dev/voix/services/feedback/cmd/feedback",
		"github.com/voix-dev/voix/services/sentiment/cmd/sentiment")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	natsServer, err := BuildNATSServer(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	return bin, natsServer
}

// TestChaosShort is `make chaos` in small: about 15 seconds of load while processes are
// killed, then nothing acknowledged may be missing or counted twice.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every service and NATS as processes for about a minute")
	}
	bin, natsServer := buildBinaries(t)
	var log strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{BinDir: bin, NATSServer: natsServer, Dir: t.TempDir(), Duration: 15 * time.Second, Log: &log})
	var report strings.Builder
	res.Report(&report)
	t.Log("\n" + report.String())
	if err != nil {
		t.Fatalf("chaos: %v\nprogress:\n%s", err, log.String())
	}
	if !res.OK() {
		t.Fatalf("acknowledged items lost or duplicated:\n%s\nprogress:\n%s", report.String(), log.String())
	}
	if res.KillCount() < 3 || res.Acked < 100 {
		t.Fatalf("the run proves too little: %s (want kills >= 3, acked >= 100)\nprogress:\n%s", res.Line(), log.String())
	}
}
