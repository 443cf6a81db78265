package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/gateway"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// firstCode submits a comment as the fixture's user (whose team must be set) and returns its
// follow-up code.
func firstCode(t *testing.T, f *fixture, text string) string {
	t.Helper()
	got := f.command(t, text)
	m := codeRE.FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("submit %q answered %q, want a follow-up code", text, got)
	}
	return m[1]
}

// assertNoLeak checks that no comment HR reads under acme, and no log line, holds the code
// in any case or encoding, nor any of the secrets (user ids, comment texts).
func assertNoLeak(t *testing.T, f *fixture, code string, secrets ...string) {
	t.Helper()
	for _, c := range f.comments(t, "acme") {
		if enc, found := servicetest.FindSecret([]byte(c.Text), code); found {
			t.Errorf("comment %q holds the follow-up code (%s)", c.Text, enc)
		}
	}
	logs := f.logs.Bytes()
	for _, s := range append([]string{code, userID}, secrets...) {
		if enc, found := servicetest.FindSecret(logs, s); found {
			t.Errorf("the gateway's logs hold %q (%s):\n%s", s, enc, logs)
		}
	}
}

// TestFollowUpCodeIsNeverFiledAsComment: every way people type a code after status or reply
// (backticks, punctuation, any case, any white space, Slack's formatting) reaches the thread
// or gets help, and a code anywhere in a comment is refused: HR never reads a code, and the
// logs hold no code, user id or comment text.
func TestFollowUpCodeIsNeverFiledAsComment(t *testing.T) {
	f := start(t, "")
	f.register(t, acmeTeams)
	f.command(t, "team acme/eng")
	const first = "the release train is always late"
	code := firstCode(t, f, first)
	lower := strings.ToLower(code)
	const (
		shown   = "waiting to be read" // the thread's status: status ran
		sent    = "Sent, anonymously"  // reply ran
		help    = "Nothing was sent"   // a malformed subcommand
		refused = "looks like it contains a follow-up code"
	)
	for _, tc := range []struct{ text, want string }{
		{"status `" + code + "`", shown},
		{"status " + code + ".", shown},
		{"status " + lower, shown},
		{"Status " + code, shown},
		{"STATUS\t" + code, shown},
		{"  status \n\n `" + lower + "` ", shown},
		{"*status* _" + code + "_!", shown},
		{"status <" + code + ">", shown},
		{"status &lt;" + code + "&gt;", shown}, // Slack escapes what people type
		{"status \u201c" + code + "\u201d", shown},
		{"/feedback status " + code, shown},
		{"status " + code + " it got worse", "were not sent"},
		{"reply " + code, help},
		{"reply `" + code + "`.", help},
		{"Reply:\t" + lower + "\n", help},
		{"reply", help},
		{"reply soon", help},
		{"status", help},
		{"status update", help},
		{"status code:" + code, help},
		{"REPLY `" + lower + "`: it is worse on Mondays", sent},
		{"my code is `" + code + "`, what happened?", refused},
		{"see " + lower + ".", refused},
		{"(code=" + code + ")", refused},
		{"reply " + code + " see also " + lower, refused},
	} {
		got := f.command(t, tc.text)
		if !strings.Contains(got, tc.want) {
			t.Errorf("/feedback %q answered %q, want %q", tc.text, got, tc.want)
		}
		if m := codeRE.FindStringSubmatch(got); m != nil && m[1] != code {
			t.Errorf("/feedback %q was filed as a new comment: %q", tc.text, got)
		}
	}
	list := f.comments(t, "acme")
	if len(list) != 1 || list[0].Text != first {
		t.Fatalf("HR reads %d comments %v, want only the first one", len(list), list)
	}
	st := f.command(t, "status "+code)
	if !strings.Contains(st, "it is worse on Mondays") {
		t.Errorf("the reply given with a lower-case, back-quoted code is not in the thread: %q", st)
	}
	assertNoLeak(t, f, code, first, "it is worse on Mondays")
}

// TestTeamIsChosenAmongRegisteredTeams: a person picks only a registered team of their
// organisation, typed in any case and formatting; a typo or an unknown team gets close matches
// and changes nothing, and is never filed; an unknown person is told plainly their comment was
// not sent, with the teams to pick from.
func TestTeamIsChosenAmongRegisteredTeams(t *testing.T) {
	f := start(t, "")
	f.register(t, acmeTeams)
	got := f.command(t, "the on-call rota is unfair")
	for _, want := range []string{"did not send", "`acme/eng`", "`acme/sales`", "/feedback team"} {
		if !strings.Contains(got, want) {
			t.Errorf("unknown person's comment: %q lacks %q", got, want)
		}
	}
	if got := f.command(t, "team"); !strings.Contains(got, "`acme/ops`") {
		t.Errorf("team alone: %q, want the teams listed", got)
	}
	for _, tc := range []struct{ text, want string }{
		{"team acme/direction/comex", "I don't know the team"},
		{"team globex/sales", "I don't know the team"},
		{"team Acme/Ops", "Got it: your feedback will count for `acme/ops`"},
		{"team acme/opps", "Did you mean `acme/ops`"},
		{"TEAM acme/sals", "`acme/sales`"},
		{"team acme/eng please", "Nothing was sent"},
		{"team `Acme/Support`.", "count for `acme/support`"},
		{"team eng", "count for `acme/eng`"},
		{"team zzzzzz/qqqq", "among: `acme`"},
	} {
		got := f.command(t, tc.text)
		if !strings.Contains(got, tc.want) {
			t.Errorf("/feedback %q answered %q, want %q", tc.text, got, tc.want)
		}
		if codeRE.MatchString(got) {
			t.Errorf("/feedback %q was filed as a comment: %q", tc.text, got)
		}
	}
	if n := len(f.comments(t, "acme")); n != 0 {
		t.Fatalf("HR reads %d comments, want none: team commands are never comments", n)
	}
	firstCode(t, f, "the on-call rota is unfair")
	if c := f.comments(t, "acme/eng"); len(c) != 1 {
		t.Fatalf("acme/eng has %d comments, want the one sent after picking it: %v", len(c), f.comments(t, "acme"))
	}

	// HR's entry wins over the person's choice, and the person cannot change it back.
	if code, body := f.put(t, f.env.Tokens[auth.RoleHR], "application/json",
		`[{"team_id":"`+teamID+`","user_id":"`+userID+`","segment":"acme/sales"}]`); code != http.StatusOK {
		t.Fatalf("PUT: HTTP %d %s", code, body)
	}
	if got := f.command(t, "team acme/eng"); !strings.Contains(got, "only HR can change it") {
		t.Errorf("changing an HR team: %q", got)
	}
	firstCode(t, f, "the rota still is unfair")
	if c := f.comments(t, "acme/sales"); len(c) != 1 {
		t.Fatalf("acme/sales has %d comments, want the one sent after HR's entry", len(c))
	}

	// The directory file says who set each entry, and names no one.
	data, err := os.ReadFile(filepath.Join(f.env.DataDir, "gateway", "directory.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Version int
		Entries map[string]struct{ Segment, Source string }
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if file.Version != 2 || len(file.Entries) != 1 {
		t.Fatalf("directory file %s: want version 2 with one entry", data)
	}
	for _, e := range file.Entries {
		if e.Segment != "acme/sales" || e.Source != "hr" {
			t.Errorf("entry %+v, want acme/sales set by hr", e)
		}
	}
	if _, found := servicetest.FindSecret(data, userID); found {
		t.Errorf("the directory file names the user")
	}
}

// TestPickedTeamIsCheckedAtEachUse: a team picked earlier that is no longer registered is not
// used: the comment is not sent, and the person is told so with the teams to pick from.
func TestPickedTeamIsCheckedAtEachUse(t *testing.T) {
	f := start(t, "")
	f.register(t, acmeTeams)
	f.command(t, "team acme/ops")
	f.register(t, map[string]uint32{"acme/ops": 0}) // HR removes the team
	got := f.command(t, "the ops team was merged")
	if !strings.Contains(got, "not in the list of teams anymore") || !strings.Contains(got, "`acme/eng`") {
		t.Fatalf("comment for a removed team: %q", got)
	}
	if n := len(f.comments(t, "acme")); n != 0 {
		t.Fatalf("HR reads %d comments, want none", n)
	}
}

// TestDirectoryIsScopedByOrganisation: an hr token of another organisation cannot change the
// segment of this organisation's chat user, whatever segment it names, and the user's comments
// keep going to their own organisation's segment.
func TestDirectoryIsScopedByOrganisation(t *testing.T) {
	f := start(t, "")
	f.register(t, acmeTeams)
	if code, body := f.put(t, f.env.Tokens[auth.RoleHR], "application/json",
		`[{"team_id":"`+teamID+`","user_id":"`+userID+`","segment":"acme/sales"}]`); code != http.StatusOK {
		t.Fatalf("acme's hr: HTTP %d %s", code, body)
	}
	for _, seg := range []string{"globex/sales", "globex", "acme/eng"} {
		body := `[{"team_id":"` + teamID + `","user_id":"` + userID + `","segment":"` + seg + `"}]`
		if code, out := f.put(t, f.env.OtherHR, "application/json", body); code != http.StatusForbidden {
			t.Errorf("globex's hr writing acme's user into %s: HTTP %d %s, want 403", seg, code, out)
		}
		csv := "team_id,user_id,segment\n" + teamID + "," + userID + "," + seg + "\n"
		if code, out := f.put(t, f.env.OtherHR, "text/csv", csv); code != http.StatusForbidden {
			t.Errorf("globex's hr writing acme's user into %s (CSV): HTTP %d %s, want 403", seg, code, out)
		}
	}
	firstCode(t, f, "the quarterly goals changed twice")
	if c := f.comments(t, "acme/sales"); len(c) != 1 {
		t.Fatalf("acme/sales has %d comments, want 1: the user's segment moved", len(c))
	}
	// A global admin may write any organisation's entries, but only for that organisation's
	// workspaces: this workspace is acme's.
	if code, out := f.put(t, f.env.Tokens[auth.RoleAdmin], "application/json",
		`[{"team_id":"`+teamID+`","user_id":"`+userID+`","segment":"globex/sales"}]`); code != http.StatusForbidden {
		t.Errorf("admin writing acme's workspace into globex: HTTP %d %s, want 403", code, out)
	}
}

// TestWorkspacesMapToOrganisations: with Workspaces set, a workspace it does not list is not
// connected (nothing is sent, no entry may be written for it); a mapping to an organisation the
// gateway's token cannot submit to, or no way to tell the organisation, stops Start.
func TestWorkspacesMapToOrganisations(t *testing.T) {
	f := start(t, "")
	f.register(t, acmeTeams)
	f.configure = func(c *gateway.Config) { c.Workspaces = map[string]string{teamID: "acme"} }
	f.restartGateway(t, "")
	const otherWorkspace = "T0ELSEWHERE"
	if got := f.commandAs(t, otherWorkspace, userID, "/feedback", "team acme/eng"); !strings.Contains(got, "not connected") {
		t.Errorf("team from an unmapped workspace: %q", got)
	}
	if got := f.commandAs(t, otherWorkspace, userID, "/feedback", "a comment from elsewhere"); !strings.Contains(got, "not connected") {
		t.Errorf("comment from an unmapped workspace: %q", got)
	}
	if code, out := f.put(t, f.env.Tokens[auth.RoleHR], "application/json",
		`[{"team_id":"`+otherWorkspace+`","user_id":"`+userID+`","segment":"acme/eng"}]`); code != http.StatusBadRequest {
		t.Errorf("entry for an unmapped workspace: HTTP %d %s, want 400", code, out)
	}
	if got := f.command(t, "team acme/eng"); !strings.Contains(got, "Got it") {
		t.Fatalf("team from the mapped workspace: %q", got)
	}
	firstCode(t, f, "a comment from the mapped workspace")
	if n := len(f.comments(t, "acme")); n != 1 {
		t.Fatalf("HR reads %d comments, want 1", n)
	}

	for name, configure := range map[string]func(*gateway.Config){
		"workspace of an organisation the token cannot reach": func(c *gateway.Config) { c.Workspaces = map[string]string{teamID: "globex"} },
		"no mapping, token unknown to the token file":         func(c *gateway.Config) { c.Token = "voix_not-in-the-token-file" },
		"malformed organisation":                              func(c *gateway.Config) { c.Workspaces = map[string]string{teamID: "Acme/eng"} },
	} {
		f.configure = configure
		if gw, err := gateway.Start(context.Background(), f.config("")); err == nil {
			gw.Close()
			t.Errorf("%s: Start succeeded", name)
		}
	}
	// An unknown token with a mapping is fine: the mapping is the rule.
	f.configure = func(c *gateway.Config) {
		c.Token = "voix_not-in-the-token-file"
		c.Workspaces = map[string]string{teamID: "acme"}
	}
	gw, err := gateway.Start(context.Background(), f.config(""))
	if err != nil {
		t.Fatalf("mapping with a token the file does not know: %v", err)
	}
	gw.Close()
}

func TestParseWorkspaces(t *testing.T) {
	m := map[string]string{}
	if err := gateway.ParseWorkspaces("T123=acme, T456=globex", m); err != nil {
		t.Fatal(err)
	}
	if err := gateway.ParseWorkspaces("T789=acme", m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 3 || m["T123"] != "acme" || m["T456"] != "globex" || m["T789"] != "acme" {
		t.Fatalf("ParseWorkspaces: %v", m)
	}
	for _, bad := range []string{"T123", "=acme", "T123=", "T123=Acme", "T123=acme/eng", "T 1=acme", "T123=globex"} {
		if err := gateway.ParseWorkspaces(bad, m); err == nil {
			t.Errorf("ParseWorkspaces(%q) accepted", bad)
		}
	}
}

// TestSlackConventions: Slack's ssl_check ping gets 200 and an empty body, signed or not, and
// is never a command; what people and services wrote reaches Slack with &, < and > escaped
// (no @channel from a thread message), while the bot's own formatting stays; what Slack
// escaped in a command is stored as typed.
func TestSlackConventions(t *testing.T) {
	f := start(t, "")
	f.register(t, acmeTeams)
	f.command(t, "team acme/eng")
	ts := strconv.FormatInt(f.now.Unix(), 10)
	for name, body := range map[string][]byte{
		"ping":              []byte("ssl_check=1&token=legacy-verification-token"),
		"ping with command": []byte("ssl_check=1&token=x&" + string(form("a comment riding on a ping"))),
	} {
		for _, signed := range []bool{false, true} {
			sig, when := "", ""
			if signed {
				sig, when = sign(ts, body), ts
			}
			if code, out := f.post(t, body, when, sig); code != http.StatusOK || out != "" {
				t.Errorf("%s (signed %v): HTTP %d %q, want 200 and an empty body", name, signed, code, out)
			}
		}
	}
	if n := len(f.comments(t, "acme")); n != 0 {
		t.Fatalf("HR reads %d comments after ssl checks, want none", n)
	}

	code := firstCode(t, f, "R&amp;D &lt;tools&gt; are slow &amp;amp; old")
	list := f.comments(t, "acme")
	if len(list) != 1 || list[0].Text != "R&D <tools> are slow &amp; old" {
		t.Fatalf("stored comments %v, want the text as typed", list)
	}
	hr := f.env.As(context.Background(), auth.RoleHR)
	if _, err := f.feedback.UpdateStatus(hr, &feedbackv1.UpdateStatusRequest{
		FeedbackId: list[0].Id, Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED,
		Note: "<!channel> see <https://intra.example|the plan> & tell <@U0BOSS>",
	}); err != nil {
		t.Fatal(err)
	}
	if got := f.command(t, "reply "+code+" &lt;b&gt;still&lt;/b&gt; slow &amp; old"); !strings.Contains(got, "Sent") {
		t.Fatalf("reply: %q", got)
	}
	st := f.command(t, "status "+code)
	for _, want := range []string{
		"*acknowledged*",
		"&lt;b&gt;still&lt;/b&gt; slow &amp; old",
		"&lt;!channel&gt; see &lt;https://intra.example|the plan&gt; &amp; tell &lt;@U0BOSS&gt;",
	} {
		if !strings.Contains(st, want) {
			t.Errorf("status %q lacks %q", st, want)
		}
	}
	for _, raw := range []string{"<!channel>", "<@U0BOSS>", "<https://", "<b>"} {
		if strings.Contains(st, raw) {
			t.Errorf("status %q holds the control sequence %s", st, raw)
		}
	}
	if got := f.command(t, "help"); !strings.Contains(got, "`/feedback status &lt;code&gt;`") {
		t.Errorf("help %q: the bot's own <code> must be escaped too, its backticks kept", got)
	}
}
