package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Teams a person may pick are the segments registered in the feedback service (those whose
// headcount HR set, ListSegments) under their organisation. HR's directory entries are not
// limited to them: HR is the authority.

const (
	// teamsPage is the page size asked of ListSegments, and maxTeams the most teams read.
	teamsPage = 1000
	maxTeams  = 5000
	// shownTeams is the most teams a message lists.
	shownTeams = 10
	// maxTeamQuery is the longest typed team compared for suggestions, in runes.
	maxTeamQuery = 64
)

// teams lists the registered segments of org, in path order.
func (s *Service) teams(ctx context.Context, org string) ([]string, error) {
	var out []string
	req := &feedbackv1.ListSegmentsRequest{SegmentPrefix: s.orgs.teamsPrefix(org), PageSize: teamsPage}
	for {
		resp, err := s.feedback.ListSegments(ctx, req)
		if err != nil {
			return nil, err
		}
		for _, sg := range resp.Segments {
			out = append(out, sg.Path)
		}
		if resp.NextPageToken == "" || len(out) >= maxTeams {
			return out, nil
		}
		req.PageToken = resp.NextPageToken
	}
}

// registered reports whether seg is a registered segment the gateway may send to.
func (s *Service) registered(ctx context.Context, seg string) (bool, error) {
	resp, err := s.feedback.ListSegments(ctx, &feedbackv1.ListSegmentsRequest{SegmentPrefix: seg, PageSize: 1})
	if status.Code(err) == codes.PermissionDenied {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return len(resp.Segments) > 0 && resp.Segments[0].Path == seg, nil
}

// member is the person typing, as the directory knows them.
type member struct {
	org   string
	rec   Record
	known bool // the directory has a record (maybe a language only)
}

// hasTeam reports whether the member has a segment.
func (m member) hasTeam() bool { return m.known && m.rec.Segment != "" }

// lookup finds the person's organisation and directory record. It answers with a reply only
// when the workspace is not connected.
func (s *Service) lookup(cmd command) (member, *reply) {
	org, ok := s.orgs.orgOf(cmd.TeamID)
	if !ok {
		s.cfg.Log.Warn("slash command from a workspace not connected to an organisation", "workspace", cmd.TeamID)
		r := ephemeral("This workspace is not connected to voix yet, so nothing was sent. Please ask your voix admin to connect it.")
		return member{}, &r
	}
	rec, known := s.dir.Lookup(org, cmd.TeamID, cmd.UserID)
	return member{org: org, rec: rec, known: known}, nil
}

// segmentOf returns the segment the person's words count for. A team the person picked is
// checked against the registered teams at each use (it may have been picked before teams were
// checked, or removed since); HR's entries are used as they are. Without a usable team it
// answers with a reply that says nothing was sent (notSent) and how to pick one.
func (s *Service) segmentOf(ctx context.Context, m member, notSent string) (segment.Path, *reply) {
	if m.hasTeam() && m.rec.Source == SourceSelf {
		ok, err := s.registered(ctx, m.rec.Segment)
		if err != nil {
			r := s.failed("check team", err)
			return segment.Path{}, &r
		}
		if !ok {
			r := s.askTeam(ctx, m.org, "The team you picked, `"+m.rec.Segment+"`, is not in the list of teams anymore, so "+notSent)
			return segment.Path{}, &r
		}
	}
	if !m.hasTeam() {
		r := s.askTeam(ctx, m.org, "I don't know your team yet, so "+notSent)
		return segment.Path{}, &r
	}
	p, err := segment.Parse(m.rec.Segment)
	if err != nil { // the directory validates segments; fail closed all the same
		r := ephemeral("Sorry, something went wrong on our side and %s", notSent)
		return segment.Path{}, &r
	}
	return p, nil
}

// askTeam starts with why, and lists the teams to pick from.
func (s *Service) askTeam(ctx context.Context, org, why string) reply {
	teams, err := s.teams(ctx, org)
	if err != nil {
		st := status.Convert(err)
		s.cfg.Log.Warn("feedback call failed", "action", "list teams", "code", st.Code().String(), "message", redactCodes(st.Message()))
		return ephemeral("%s Pick your team with `/feedback team <team>` (I could not read the list of teams just now; try `/feedback team` in a minute).", why)
	}
	if len(teams) == 0 {
		return ephemeral("%s No team is registered for your organisation yet: please ask HR to register yours.", why)
	}
	return ephemeral("%s Pick your team with `/feedback team <team>` among: %s", why, listTeams(teams))
}

// listTeams formats up to shownTeams teams, and says how to find the others.
func listTeams(teams []string) string {
	var b strings.Builder
	for i, t := range teams[:min(len(teams), shownTeams)] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "`%s`", t)
	}
	if more := len(teams) - shownTeams; more > 0 {
		fmt.Fprintf(&b, " and %d more: `/feedback team <part of a name>` finds them.", more)
	} else {
		b.WriteString(".")
	}
	return b.String()
}

// pickTeam runs /feedback team [<team>]: it shows the person's team and the teams to pick
// from, or records the team typed if it is a registered team of the person's organisation,
// matched in any case and without the formatting around it. Anything else is answered with
// the closest teams; nothing typed here is ever filed as a comment.
func (s *Service) pickTeam(ctx context.Context, cmd command, typed string) reply {
	m, r := s.lookup(cmd)
	if r != nil {
		return *r
	}
	if m.hasTeam() && m.rec.Source == SourceHR {
		return ephemeral("Your team is `%s`, as HR set it: only HR can change it. Nothing was sent.", m.rec.Segment)
	}
	q := strings.ToLower(cleanWord(typed))
	if typed != "" {
		t, err := s.matchTeam(ctx, q, m.org)
		if err != nil {
			return s.failed("check team", err)
		}
		if t != "" {
			return s.chooseTeam(m, cmd, t)
		}
	}
	teams, err := s.teams(ctx, m.org)
	if err != nil {
		st := status.Convert(err)
		s.cfg.Log.Warn("feedback call failed", "action", "list teams", "code", st.Code().String(), "message", redactCodes(st.Message()))
		return ephemeral("Sorry, I could not read the list of teams just now. Please try again in a minute. Nothing was sent.")
	}
	if len(teams) == 0 {
		return ephemeral("No team is registered for your organisation yet, so I can't set yours: please ask HR to register it. Nothing was sent.")
	}
	if typed == "" {
		current := "I don't know your team yet."
		if m.hasTeam() {
			current = "Your team is `" + m.rec.Segment + "`."
		}
		return ephemeral("%s Pick or change it with `/feedback team <team>` among: %s", current, listTeams(teams))
	}
	shown := cleanWord(typed)
	if r := []rune(shown); len(r) > maxTeamQuery {
		shown = string(r[:maxTeamQuery]) + "…"
	}
	if sug := suggestTeams(q, m.org, teams, shownTeams); len(sug) > 0 {
		return ephemeral("I don't know the team `%s`, so I did not change yours and nothing was sent. Did you mean %s? Pick it with `/feedback team <team>`.",
			shown, quoteList(sug))
	}
	return ephemeral("I don't know the team `%s`, so I did not change yours and nothing was sent. Pick your team with `/feedback team <team>` among: %s",
		shown, listTeams(teams))
}

// chooseTeam records a registered team the person picked.
func (s *Service) chooseTeam(m member, cmd command, team string) reply {
	p, err := segment.Parse(team)
	if err != nil {
		return ephemeral("Sorry, something went wrong on our side. Please try again in a minute.")
	}
	switch err := s.dir.Choose(m.org, cmd.TeamID, cmd.UserID, p); {
	case errors.Is(err, ErrSetByHR):
		return ephemeral("Your team was set by HR: only HR can change it. Nothing was sent.")
	case err != nil:
		s.cfg.Log.Error("directory: choose team", "err", err)
		return ephemeral("Sorry, I could not save your team. Please try again in a minute.")
	}
	return ephemeral("Got it: your feedback will count for `%s`. Nobody can see who you are. If I told you a message was not sent, send it again now.", team)
}

// matchTeam finds the registered team q names, in org: as typed ("acme/eng") or under the
// organisation ("eng" for "acme/eng"). q is lower-case and clean. It returns "" if q names
// no registered team of org.
func (s *Service) matchTeam(ctx context.Context, q, org string) (string, error) {
	if q == "" {
		return "", nil
	}
	for _, cand := range []string{q, org + "/" + strings.TrimPrefix(q, "/")} {
		p, err := segment.Parse(cand)
		if err != nil || p.Org() != org {
			continue
		}
		ok, err := s.registered(ctx, cand)
		if err != nil {
			return "", err
		}
		if ok {
			return cand, nil
		}
	}
	return "", nil
}

func quoteList(ts []string) string {
	q := make([]string, len(ts))
	for i, t := range ts {
		q[i] = "`" + t + "`"
	}
	return strings.Join(q, ", ")
}

// suggestTeams returns up to n teams close to q: those holding q, then those within a few
// edits of it (q against the path under the organisation or its last element, or q's last
// element against the team's: "globex/sales" suggests "acme/sales"), then those sharing its
// first three letters or more, each group in order of closeness, then of path.
func suggestTeams(q, org string, teams []string, n int) []string {
	q = strings.TrimPrefix(strings.TrimPrefix(q, org+"/"), "/")
	rq := []rune(q)
	if len(rq) == 0 || len(rq) > maxTeamQuery {
		return nil
	}
	qLast := []rune(q[strings.LastIndexByte(q, '/')+1:])
	type scored struct {
		team        string
		group, dist int
	}
	var out []scored
	for _, t := range teams {
		rel := strings.TrimPrefix(t, org+"/")
		last := rel[strings.LastIndexByte(rel, '/')+1:]
		switch {
		case strings.Contains(rel, q):
			out = append(out, scored{t, 0, len(rel) - len(q)})
		default:
			d := min(levenshtein(rq, []rune(rel)), levenshtein(rq, []rune(last)))
			if dl := levenshtein(qLast, []rune(last)); len(qLast) >= 3 && dl <= max(1, len(qLast)/4) {
				d = min(d, dl)
			}
			if d <= max(2, len(rq)/3) {
				out = append(out, scored{t, 1, d})
			} else if c := commonPrefix(q, rel); c >= 3 {
				out = append(out, scored{t, 2, -c})
			}
		}
	}
	slices.SortFunc(out, func(a, b scored) int {
		if a.group != b.group {
			return a.group - b.group
		}
		if a.dist != b.dist {
			return a.dist - b.dist
		}
		return strings.Compare(a.team, b.team)
	})
	var res []string
	for _, sc := range out[:min(len(out), n)] {
		res = append(res, sc.team)
	}
	return res
}

// levenshtein is the edit distance between a and b.
func levenshtein(a, b []rune) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
