package audit

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
)

// buildBinaries builds the four service commands into a directory of the test.
func buildBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	pkgs := []string{
		"github.com/voix-dev/voix/services/pulse/cmd/pulse",
		"github.com/voix-dev/voix/services/feedback/cmd/feedback",
		"github.com/voix-dev/voix/services/sentiment/cmd/sentiment",
		"github.com/voix-dev/voix/services/gateway/cmd/gateway",
	}
	cmd := exec.Command("go", append([]string{"build", "-o", dir + string(os.PathSeparator)}, pkgs...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// TestAuditShort is `make audit` in small: every service as its own process, four days, then
// the byte scan, the differencing attack and the linkage checks. It must find nothing.
func TestAuditShort(t *testing.T) {
	bin := buildBinaries(t)
	dir := t.TempDir()
	var log strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{BinDir: bin, Dir: dir, Short: true, Log: &log})
	var report strings.Builder
	res.Report(&report)
	t.Log("\n" + report.String())
	if err != nil {
		t.Fatalf("audit: %v\nprogress:\n%s", err, log.String())
	}
	if !res.OK() {
		t.Fatalf("the audit found leaks:\n%s", report.String())
	}
	// It looked: files scanned, numbers weighed, comments placed.
	if res.Files < 10 || res.Queries < 100 || res.Observations < 50 || res.Placements < 10 {
		t.Fatalf("the audit looked at too little to prove anything: %s, %d numbers, %d placements", res.Line(), res.Observations, res.Placements)
	}
}

// TestScanFindsPlantedValues: the byte scan finds a chat id, a ref and a code wherever a
// careless program would write them.
func TestScanFindsPlantedValues(t *testing.T) {
	dir := t.TempDir()
	r := &run{cfg: Config{Dir: dir}, w: newWorld(1, time.Now())}
	r.w.items = []*item{{code: "JBSWY3DPEHPK3PXPJBSWY3DPEH"}}
	var chat, api *person
	for _, p := range r.w.people {
		if p.chat && chat == nil {
			chat = p
		}
		if !p.chat && api == nil {
			api = p
		}
	}
	planted := map[string][]byte{
		"log.txt":  []byte("user=" + chat.userID),
		"utf16":    encodings(api.ref)["UTF-16LE"],
		"b64.json": []byte(`{"x":"` + string(encodings("JBSWY3DPEHPK3PXPJBSWY3DPEH")["base64"]) + `"}`),
		"clean":    []byte("nothing here"),
	}
	for name, b := range planted {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.scan(); err != nil {
		t.Fatal(err)
	}
	if r.res.Files != len(planted) {
		t.Errorf("scanned %d files, want %d", r.res.Files, len(planted))
	}
	for _, name := range []string{"log.txt", "utf16", "b64.json"} {
		found := false
		for _, h := range r.res.Hits {
			found = found || strings.HasPrefix(h, name+" ")
		}
		if !found {
			t.Errorf("the value planted in %s was not found; hits: %v", name, r.res.Hits)
		}
	}
	for _, h := range r.res.Hits {
		if strings.HasPrefix(h, "clean ") {
			t.Errorf("a hit in a clean file: %s", h)
		}
	}
}

// TestLedgerPinsTheReleaseShown: a shown aggregate is the cell after some prefix of its
// events; its counters pin which one, and a number no prefix explains is reported.
func TestLedgerPinsTheReleaseShown(t *testing.T) {
	w := newWorld(1, time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	u := newUnits()
	l := newLedger(w, u)
	for i, p := range []int{0, 1, 0, 2} {
		l.apply(&item{person: p, day: i / 2, kind: "comment", scored: map[commonv1.Dimension]int{0: 1}})
	}
	k := cellKey{"acme", 0, commonv1.Granularity_GRANULARITY_WEEK, "2026-11-23"}
	us, ok := l.shown(k, 2, 2, 0) // after the first two comments
	if !ok || len(us) != 2 {
		t.Fatalf("shown(2 people, 2 items) = %v, %v; want the two first units", us, ok)
	}
	us, ok = l.shown(k, 2, 3, 0) // person 0 again, on day 1: a new unit of theirs
	if !ok || len(us) != 3 || u.owners[us[2]] != 0 {
		t.Fatalf("shown(2 people, 3 items) = %v, %v; want 3 units, the last person 0's", us, ok)
	}
	if _, ok := l.shown(k, 4, 4, 0); ok {
		t.Fatal("a number no prefix explains was explained")
	}
}

// TestFragmentsCutWhatTheAnalyzerDerives: the fields a comment's text determines are cut out
// of stored records before comparing, like the text, while what voix itself would write about
// a person (here a planted tag) is kept for the comparison.
func TestFragmentsCutWhatTheAnalyzerDerives(t *testing.T) {
	rc := record{where: "comments", parts: [][]byte{[]byte(
		`{"id":"c1","text":"x","dimensions":[3,7],"sentiment_score":-0.4375,"sentiment_label":2,"owner_group":"hr","language":"fr","risks":[1],"tag":"PLANTED-TAG-0123456789"}`)}}
	joined := string(bytes.Join(fragments(rc, nil), []byte("|")))
	for _, cut := range []string{"sentiment_label", "sentiment_score", "dimensions", "-0.4375", `"fr"`, "risks"} {
		if strings.Contains(joined, cut) {
			t.Errorf("fragments keep %q: %s", cut, joined)
		}
	}
	for _, kept := range []string{`"owner_group":"hr"`, "PLANTED-TAG-0123456789"} {
		if !strings.Contains(joined, kept) {
			t.Errorf("fragments lost %q: %s", kept, joined)
		}
	}
}
