package gateway

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/segment"
)

const testCode = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" // 26 characters of base32

func TestParseFeedback(t *testing.T) {
	lower := strings.ToLower(testCode)
	for _, tc := range []struct {
		text  string
		want  verb
		topic string
		code  string
		arg   string
	}{
		{"", verbHelp, "", "", ""},
		{" \t\n", verbHelp, "", "", ""},
		{"help", verbHelp, "", "", ""},
		{"Help?", verbHelp, "", "", ""},
		{"help me understand the new bonus scheme", verbComment, "", "", ""},
		{"status " + testCode, verbStatus, "", testCode, ""},
		{"status `" + lower + "`.", verbStatus, "", testCode, ""},
		{"STATUS\n\t*" + testCode + "*", verbStatus, "", testCode, ""},
		{"status &lt;" + testCode + "&gt;", verbStatus, "", testCode, ""},
		{"status\u00a0" + testCode, verbStatus, "", testCode, ""},
		{"status\u200b" + testCode, verbStatus, "", testCode, ""},
		{"/feedback status " + testCode, verbStatus, "", testCode, ""},
		{"status", verbHelp, kwStatus, "", ""},
		{"status update", verbHelp, kwStatus, "", ""},
		{"status update: the build is slow", verbComment, "", "", ""},
		{"status ABCDEFGHIJKLMNOPQRSTUVWXY0", verbHelp, kwStatus, "", ""}, // 0 is not base32
		{"reply " + testCode + " more details", verbReply, "", testCode, "more details"},
		{"Reply: '" + lower + "'\nline one\nline two", verbReply, "", testCode, "line one\nline two"},
		{"reply " + testCode, verbHelp, kwReply, "", ""},
		{"reply " + testCode + " \t ", verbHelp, kwReply, "", ""},
		{"reply soon", verbHelp, kwReply, "", ""},
		{"reply to all is abused", verbComment, "", "", ""},
		{"team", verbTeam, "", "", ""},
		{"team `Acme/Ops`.", verbTeam, "", "", "Acme/Ops"},
		{"Teams eng", verbTeam, "", "", "eng"},
		{"team acme/eng please", verbHelp, kwTeam, "", ""},
		{"team morale is low", verbComment, "", "", ""},
		{"lang fr", verbLang, "", "", "fr"},
		{"Language", verbLang, "", "", ""},
		{"language is a barrier in meetings", verbComment, "", "", ""},
		{"actions", verbActions, "", "", ""},
		{"Actions!", verbActions, "", "", ""},
		{"ACTIONS please", verbActions, "", "", ""},
		{"actions speak louder than words", verbComment, "", "", ""},
		{"my code is " + lower + ", what happened?", verbCodeInText, "", "", ""},
		{"see (" + testCode + ")", verbCodeInText, "", "", ""},
		{"internationalisation is hard", verbComment, "", "", ""},
		{"the VPN drops every hour", verbComment, "", "", ""},
	} {
		got := parseFeedback(tc.text)
		if got.verb != tc.want || got.topic != tc.topic || got.code != tc.code || (tc.arg != "" && got.arg != tc.arg) {
			t.Errorf("parseFeedback(%q) = %+v, want verb %d topic %q code %q arg %q", tc.text, got, tc.want, tc.topic, tc.code, tc.arg)
		}
		if got.verb == verbComment && got.text == "" {
			t.Errorf("parseFeedback(%q): a comment without text", tc.text)
		}
	}
	if got := parseFeedback("R&amp;D &lt;tools&gt; are slow"); got.text != "R&D <tools> are slow" {
		t.Errorf("comment text %q, want Slack's escapes undone", got.text)
	}
}

func TestContainsCodeShape(t *testing.T) {
	for text, want := range map[string]bool{
		testCode:                     true,
		"x " + testCode + " y":       true,
		"`" + testCode + "`.":        true,
		"code=" + testCode:           true,
		"é" + testCode + "é":         true,
		testCode + "A":               false, // 27 characters
		testCode[1:]:                 false,
		"ABCDEFGHIJKLMNOPQRSTUVWXY8": false,
		"x" + testCode:               false,
		"":                           false,
	} {
		if got := containsCodeShape(text); got != want {
			t.Errorf("containsCodeShape(%q) = %v, want %v", text, got, want)
		}
	}
	if got := redactCodes("token " + testCode + ": no thread"); got != "token [code]: no thread" {
		t.Errorf("redactCodes: %q", got)
	}
}

func TestSuggestTeams(t *testing.T) {
	teams := []string{"acme", "acme/eng", "acme/eng/platform", "acme/ops", "acme/sales", "acme/support"}
	for q, want := range map[string][]string{
		"acme/opps":    {"acme/ops"},
		"sals":         {"acme/sales"},
		"globex/sales": {"acme/sales"},
		"plat":         {"acme/eng/platform"},
		"eng":          {"acme/eng", "acme/eng/platform"},
		"zzzzzz":       nil,
		"":             nil,
	} {
		if got := suggestTeams(q, "acme", teams, 10); !slices.Equal(got, want) {
			t.Errorf("suggestTeams(%q) = %v, want %v", q, got, want)
		}
	}
	many := make([]string, 40)
	for i := range many {
		many[i] = "acme/team" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	if got := suggestTeams("team", "acme", many, shownTeams); len(got) != shownTeams {
		t.Errorf("suggestTeams over 40 teams gave %d, want at most %d", len(got), shownTeams)
	}
}

func testSecret(t *testing.T) *anonymity.Secret {
	t.Helper()
	s, err := anonymity.NewSecret([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDirectoryKeysByOrganisation: an entry lives in the organisation of its segment, and a
// lookup for a workspace of another organisation does not see it.
func TestDirectoryKeysByOrganisation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "directory.json")
	d, err := openDirectory(testSecret(t), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetHR([]Entry{{TeamID: "T1", UserID: "U1", Segment: "acme/eng"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetHR([]Entry{{TeamID: "T1", UserID: "U1", Segment: "globex/sales", Language: "FR"}}); err != nil {
		t.Fatal(err)
	}
	if r, ok := d.Lookup("acme", "T1", "U1"); !ok || r.Segment != "acme/eng" || r.Source != SourceHR || r.Language != "" {
		t.Fatalf("acme's entry = %+v, %v; want acme/eng set by hr, untouched by globex", r, ok)
	}
	if r, ok := d.Lookup("globex", "T1", "U1"); !ok || r.Segment != "globex/sales" || r.Language != "fr" {
		t.Fatalf("globex's entry = %+v, %v", r, ok)
	}
	if err := d.Choose("acme", "T1", "U1", segment.MustParse("acme/ops")); err != ErrSetByHR {
		t.Fatalf("Choose over HR's entry: %v, want ErrSetByHR", err)
	}
	if err := d.SetLanguage("acme", "T1", "U2", "en"); err != nil {
		t.Fatal(err)
	}
	if err := d.Choose("acme", "T1", "U2", segment.MustParse("acme/ops")); err != nil {
		t.Fatal(err)
	}
	// What was persisted comes back, with who set it.
	d2, err := openDirectory(testSecret(t), path)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := d2.Lookup("acme", "T1", "U2"); !ok || r != (Record{Segment: "acme/ops", Source: SourceSelf, Language: "en"}) {
		t.Fatalf("reopened self entry = %+v, %v", r, ok)
	}
	if r, ok := d2.Lookup("acme", "T1", "U1"); !ok || r.Source != SourceHR {
		t.Fatalf("reopened hr entry = %+v, %v", r, ok)
	}
	for _, bad := range []Entry{
		{TeamID: "T1", UserID: "U1", Segment: "acme/eng", Language: "de"},
		{TeamID: "T1", UserID: "U 1", Segment: "acme/eng"},
		{TeamID: "T1", UserID: "U1", Segment: "Acme"},
	} {
		if err := d.SetHR([]Entry{bad}); err == nil {
			t.Errorf("SetHR(%+v) accepted", bad)
		}
	}
}

// TestDirectoryMigratesVersion1: a version 1 entry (keyed without organisation) answers only
// for the organisation of its segment, becomes a self-chosen entry, and leaves the old key.
func TestDirectoryMigratesVersion1(t *testing.T) {
	secret := testSecret(t)
	path := filepath.Join(t.TempDir(), "directory.json")
	old := hex.EncodeToString(secret.Tag(directoryScope, "T1\x00U1"))
	v1, _ := json.Marshal(map[string]any{"version": 1, "entries": map[string]string{old: "globex/sales"}})
	if err := os.WriteFile(path, v1, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := openDirectory(secret, path)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := d.Lookup("acme", "T1", "U1"); ok {
		t.Fatalf("acme's lookup found globex's old entry %+v", r)
	}
	r, ok := d.Lookup("globex", "T1", "U1")
	if !ok || r != (Record{Segment: "globex/sales", Source: SourceSelf}) {
		t.Fatalf("globex's lookup = %+v, %v; want the old entry as self-chosen", r, ok)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), old) || !strings.Contains(string(data), `"version":2`) {
		t.Fatalf("after migration the file is %s", data)
	}
	if _, ok := d.Lookup("acme", "T1", "U1"); ok {
		t.Fatal("acme's lookup found the migrated entry")
	}
}
