package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchShort runs `voix bench` for a few seconds against the suite in this process and
// checks what --json promises: every key, figures that were measured, every RPC of the mixed
// day answered, and nothing lost.
func TestBenchShort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.json")
	prof := filepath.Join(t.TempDir(), "ingest.prof")
	var out, errb bytes.Buffer
	err := run([]string{"bench", "--duration", "5s", "--seed", "7", "--results-respondents", "200", "--data-dir", t.TempDir(), "--json", path,
		"--cpuprofile", prof, "--cpuprofile-phase", "ingest"}, &out, &errb)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("voix bench: %v (stderr %q)", err, errb.String())
	}
	if !strings.Contains(out.String(), "SubmitFeedback (ingest)") || strings.Contains(out.String(), "\r") {
		t.Errorf("the table is missing, or a progress line went to a pipe:\n%s", out.String())
	}
	// The phase's profile was written (a gzipped protobuf) by the end of the run.
	if p, err := os.ReadFile(prof); err != nil || len(p) < 2 || p[0] != 0x1f || p[1] != 0x8b {
		t.Errorf("--cpuprofile-phase ingest: %d bytes, %v; want a gzipped profile", len(p), err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("bench.json: %v", err)
	}
	for _, k := range []string{"echo_rps", "ingest_rps", "ingest_ratio", "ingest_p99_ms", "freshness_p50_ms", "freshness_p99_ms",
		"sentiment_apply_eps", "consumer_lag_max", "lost", "rss_mb", "bytes_per_comment", "rpcs", "fsync_per_s",
		"freshness_after_k_p99_ms", "relay_p99_ms", "scored_p99_ms", "cpu_us_per_echo", "cpu_us_per_ingest", "cpu_us_per_respond",
		"cpu_s", "cpu_cores", "durable_rps", "durable_ratio", "durable_p99_ms", "ingest_of_durable", "cpu_us_per_durable"} {
		if _, ok := m[k]; !ok {
			t.Errorf("bench.json has no %q", k)
		}
	}
	if m["lost"] != float64(0) {
		t.Errorf("lost = %v, want 0: %v", m["lost"], m["lost_detail"])
	}
	for _, k := range []string{"echo_rps", "ingest_rps", "respond_rps", "fsync_per_s", "sentiment_apply_eps", "comments", "responses", "relay_p99_ms",
		"cpu_us_per_echo", "cpu_us_per_ingest", "cpu_us_per_respond", "durable_rps", "durable_ratio", "ingest_of_durable", "cpu_us_per_durable"} {
		if v, _ := m[k].(float64); v <= 0 {
			t.Errorf("%s = %v, want a measured figure", k, m[k])
		}
	}
	for _, k := range []string{"cpu_s", "cpu_cores"} {
		if ph, _ := m[k].(map[string]any); len(ph) != 5 {
			t.Errorf("%s = %v, want one figure per phase", k, m[k])
		}
	}
	if rss, _ := m["rss_mb"].(map[string]any); rss["voix"] == nil {
		t.Errorf("rss_mb = %v, want the process RSS", m["rss_mb"])
	}
	if bpc, _ := m["bytes_per_comment"].(map[string]any); bpc["feedback"] == nil {
		t.Errorf("bytes_per_comment = %v, want feedback's", m["bytes_per_comment"])
	}
	// feedback's consumers downstream of the aggregation are watched, and drained after the
	// load (a value of -1 would say one was still behind 30 s after settling).
	lags, _ := m["downstream_lag_max"].(map[string]any)
	drained, _ := m["downstream_drained_s"].(map[string]any)
	for _, d := range []string{"feedback-scored", "feedback-notify"} {
		if _, ok := lags[d].(float64); !ok {
			t.Errorf("downstream_lag_max = %v, want %s's", m["downstream_lag_max"], d)
		}
		if s, ok := drained[d].(float64); !ok || s < 0 {
			t.Errorf("downstream_drained_s = %v, want when %s's backlog was first empty after the load", m["downstream_drained_s"], d)
		}
	}
	rpcs, _ := m["rpcs"].(map[string]any)
	for _, rpc := range []string{"SubmitFeedback", "SubmitResponse", "FollowUp", "Upvote", "GetHeatmap", "GetResults", "ListFeedback", "GetSentiment"} {
		s, _ := rpcs[rpc].(map[string]any)
		if calls, _ := s["calls"].(float64); calls == 0 {
			t.Errorf("mixed day: no successful %s (%v)", rpc, s)
			continue
		}
		if s["p99_ms"].(float64) < s["p50_ms"].(float64) {
			t.Errorf("%s: p99 below p50: %v", rpc, s)
		}
	}
}

// TestBenchRefusesAnUnknownProfilePhase: a mistyped --cpuprofile-phase is refused by name
// before the suite starts, and no profile file is left behind.
func TestBenchRefusesAnUnknownProfilePhase(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "p.prof")
	var out, errb bytes.Buffer
	err := run([]string{"bench", "--duration", "1s", "--data-dir", t.TempDir(), "--cpuprofile", prof, "--cpuprofile-phase", "durabel"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "--cpuprofile-phase") || !strings.Contains(err.Error(), "durable") {
		t.Fatalf("voix bench --cpuprofile-phase durabel: %v; want a refusal naming the flag and the phases", err)
	}
	if out.Len() != 0 {
		t.Errorf("a refused run printed a report:\n%s", out.String())
	}
	if _, serr := os.Stat(prof); !os.IsNotExist(serr) {
		t.Errorf("the profile file was created (%v)", serr)
	}
}
