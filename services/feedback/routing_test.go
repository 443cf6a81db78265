package feedback_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

const (
	dimEcosystem = commonv1.Dimension_DIMENSION_ECOSYSTEM
	dimWorkload  = commonv1.Dimension_DIMENSION_WORKLOAD
	dimGrowth    = commonv1.Dimension_DIMENSION_GROWTH
)

// publishScored publishes an ItemScored as the sentiment service does.
func publishScored(t testing.TB, f *fixture, it *eventsv1.ItemScored) {
	t.Helper()
	f.publish(t, events.SentimentScored, events.ScoredID(it.ItemId), segment.MustParse(it.Segment), it)
}

// waitScored waits until the service stored a label on comment id, and returns the comment.
func waitScored(t testing.TB, f *fixture, id string) *feedbackv1.Feedback {
	t.Helper()
	var c *feedbackv1.Feedback
	poll.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
		r, err := f.client.GetFeedback(f.as(auth.RoleHR), &feedbackv1.GetFeedbackRequest{FeedbackId: id})
		if err != nil {
			return err
		}
		if r.Feedback.SentimentLabel == commonv1.SentimentLabel_SENTIMENT_LABEL_UNSPECIFIED {
			return fmt.Errorf("comment %s not scored yet", id)
		}
		c = r.Feedback
		return nil
	})
	return c
}

func (f *fixture) rule(t testing.TB, prefix string, dim commonv1.Dimension, owner string) *feedbackv1.RoutingRule {
	t.Helper()
	r, err := f.client.UpsertRoutingRule(f.as(auth.RoleAdmin), &feedbackv1.UpsertRoutingRuleRequest{
		Rule: &feedbackv1.RoutingRule{SegmentPrefix: prefix, Dimension: dim, OwnerGroup: owner},
	})
	if err != nil {
		t.Fatalf("UpsertRoutingRule(%s, %v, %s): %v", prefix, dim, owner, err)
	}
	return r.Rule
}

func TestScoringStoresTheResultAndRoutesByTheMostSpecificRule(t *testing.T) {
	f := start(t)
	f.rule(t, "acme", dimEcosystem, "it-support")
	f.rule(t, "acme", 0, "people-team")
	f.rule(t, "acme/eng", dimWorkload, "managers")
	f.rule(t, "acme/eng", dimGrowth, "eng-growth")
	f.rule(t, "acme/eng", 0, "eng-leads")

	list, err := f.client.ListRoutingRules(f.as(auth.RoleHR), &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme"})
	if err != nil {
		t.Fatalf("ListRoutingRules: %v", err)
	}
	var order []string
	for _, r := range list.Rules {
		order = append(order, r.OwnerGroup)
	}
	if want := []string{"eng-growth", "managers", "eng-leads", "it-support", "people-team"}; !slices.Equal(order, want) {
		t.Errorf("rules in order %v, want most specific first %v", order, want)
	}

	dims := func(ds ...commonv1.Dimension) []*eventsv1.DimensionScore {
		var out []*eventsv1.DimensionScore
		for i, d := range ds {
			out = append(out, &eventsv1.DimensionScore{Dimension: d, Score: -0.5 + float64(i)*0.2})
		}
		return out
	}
	hr := f.as(auth.RoleHR)
	cases := []struct {
		name, seg string
		tagged    []commonv1.Dimension
		scored    []*eventsv1.DimensionScore
		assigned  string
		want      string
	}{
		{"dimension rule of the team", "acme/eng/platform", nil, dims(dimWorkload), "", "managers"},
		{"two dimension rules: the most negative wins", "acme/eng", nil, dims(dimWorkload, dimGrowth), "", "managers"},
		{"two dimension rules, the other way round", "acme/eng", nil, dims(dimGrowth, dimWorkload), "", "eng-growth"},
		{"deeper prefix beats a dimension match", "acme/eng", nil, dims(dimEcosystem), "", "eng-leads"},
		{"dimension rule of the org", "acme/sales", nil, dims(dimEcosystem), "", "it-support"},
		{"the author's tags count", "acme/sales", []commonv1.Dimension{dimEcosystem}, nil, "", "it-support"},
		{"catch-all of the org", "acme/sales", nil, nil, "", "people-team"},
		{"hr's choice stays", "acme/eng", nil, dims(dimWorkload), "facilities", "facilities"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: tc.seg, Text: "text", SubmitterRef: tc.name, Dimensions: tc.tagged}).FeedbackId
			if tc.assigned != "" {
				if _, err := f.client.AssignOwner(hr, &feedbackv1.AssignOwnerRequest{FeedbackId: id, OwnerGroup: tc.assigned}); err != nil {
					t.Fatalf("AssignOwner: %v", err)
				}
			}
			score := -0.4 + float64(i)*0.01
			publishScored(t, f, &eventsv1.ItemScored{
				ItemId: id, Kind: eventsv1.ItemKind_ITEM_KIND_FEEDBACK, Segment: tc.seg, Score: score,
				Label: commonv1.SentimentLabel_SENTIMENT_LABEL_NEGATIVE, Language: "en", Dimensions: tc.scored,
			})
			c := waitScored(t, f, id)
			if c.OwnerGroup != tc.want {
				t.Errorf("owner = %q, want %q", c.OwnerGroup, tc.want)
			}
			if c.SentimentScore != score || c.SentimentLabel != commonv1.SentimentLabel_SENTIMENT_LABEL_NEGATIVE {
				t.Errorf("score, label = %v, %v; want %v, NEGATIVE", c.SentimentScore, c.SentimentLabel, score)
			}
			for _, d := range tc.scored {
				if !slices.Contains(c.Dimensions, d.Dimension) {
					t.Errorf("dimensions %v lack the scored %v", c.Dimensions, d.Dimension)
				}
			}
		})
	}

	// A survey response's score, published first, is skipped: the comment after it is applied
	// (the consumer is ordered), and nothing failed on the way.
	publishScored(t, f, &eventsv1.ItemScored{ItemId: "RESPONSE1", Kind: eventsv1.ItemKind_ITEM_KIND_RESPONSE, Segment: "acme/eng", Score: 0.5, Label: commonv1.SentimentLabel_SENTIMENT_LABEL_POSITIVE})
	id := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "after a response", SubmitterRef: "late"}).FeedbackId
	publishScored(t, f, &eventsv1.ItemScored{ItemId: id, Kind: eventsv1.ItemKind_ITEM_KIND_FEEDBACK, Segment: "acme/eng", Score: 0.5, Label: commonv1.SentimentLabel_SENTIMENT_LABEL_POSITIVE})
	if c := waitScored(t, f, id); c.OwnerGroup != "eng-leads" {
		t.Errorf("owner after a response's score = %q", c.OwnerGroup)
	}
}

func TestRoutingRulesAreManagedWithinTheTokenPrefix(t *testing.T) {
	f := start(t)
	bg := context.Background()
	hr := f.as(auth.RoleHR)
	first := f.rule(t, "acme/eng", dimWorkload, "managers")
	// The same prefix and dimension without an id replaces the rule instead of adding one.
	again := f.rule(t, "acme/eng", dimWorkload, "eng-leads")
	if again.Id != first.Id {
		t.Fatalf("re-upsert made rule %s, want %s replaced", again.Id, first.Id)
	}
	other := f.rule(t, "acme/eng", dimGrowth, "eng-growth")
	upsert := func(ctx context.Context, r *feedbackv1.RoutingRule) error {
		_, err := f.client.UpsertRoutingRule(ctx, &feedbackv1.UpsertRoutingRuleRequest{Rule: r})
		return err
	}
	for _, tc := range []struct {
		name  string
		err   error
		code  codes.Code
		field string
	}{
		{"no rule", upsert(hr, nil), codes.InvalidArgument, "rule"},
		{"bad prefix", upsert(hr, &feedbackv1.RoutingRule{SegmentPrefix: "Acme", OwnerGroup: "x"}), codes.InvalidArgument, "rule.segment_prefix"},
		{"bad owner", upsert(hr, &feedbackv1.RoutingRule{SegmentPrefix: "acme", OwnerGroup: "IT Support"}), codes.InvalidArgument, "rule.owner_group"},
		{"unknown dimension", upsert(hr, &feedbackv1.RoutingRule{SegmentPrefix: "acme", Dimension: 77, OwnerGroup: "x"}), codes.InvalidArgument, "rule.dimension"},
		{"other org", upsert(hr, &feedbackv1.RoutingRule{SegmentPrefix: "globex", OwnerGroup: "x"}), codes.PermissionDenied, "rule.segment_prefix"},
		{"manager", upsert(f.as(auth.RoleManager), &feedbackv1.RoutingRule{SegmentPrefix: "acme", OwnerGroup: "x"}), codes.PermissionDenied, ""},
		{"unknown id", upsert(hr, &feedbackv1.RoutingRule{Id: "NOPE", SegmentPrefix: "acme", OwnerGroup: "x"}), codes.NotFound, "rule.id"},
		{"id of another org's hr", upsert(servicetest.WithToken(bg, f.env.OtherHR), &feedbackv1.RoutingRule{Id: first.Id, SegmentPrefix: "globex", OwnerGroup: "x"}), codes.NotFound, "rule.id"},
		{"two rules for one prefix and dimension", upsert(hr, &feedbackv1.RoutingRule{Id: other.Id, SegmentPrefix: "acme/eng", Dimension: dimWorkload, OwnerGroup: "x"}), codes.AlreadyExists, "rule"},
		{"list another org", func() error {
			_, err := f.client.ListRoutingRules(hr, &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "globex"})
			return err
		}(), codes.PermissionDenied, "segment_prefix"},
		{"delete from another org", func() error {
			_, err := f.client.DeleteRoutingRule(servicetest.WithToken(bg, f.env.OtherHR), &feedbackv1.DeleteRoutingRuleRequest{Id: first.Id})
			return err
		}(), codes.NotFound, "id"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.err, tc.code, tc.field) })
	}
	if _, err := f.client.DeleteRoutingRule(hr, &feedbackv1.DeleteRoutingRuleRequest{Id: first.Id}); err != nil {
		t.Fatalf("DeleteRoutingRule: %v", err)
	}
	_, err := f.client.DeleteRoutingRule(hr, &feedbackv1.DeleteRoutingRuleRequest{Id: first.Id})
	wantCode(t, err, codes.NotFound, "id")
	list, err := f.client.ListRoutingRules(hr, &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme"})
	if err != nil || len(list.Rules) != 1 || list.Rules[0].Id != other.Id || list.Rules[0].OwnerGroup != "eng-growth" {
		t.Fatalf("rules after the rejected calls and one delete = %v, %v; want only %v", list, err, other)
	}
}

// listRules pages through ListRoutingRules with page size size and returns the rules in order,
// failing on a page larger than asked.
func listRules(t testing.TB, f *fixture, ctx context.Context, req *feedbackv1.ListRoutingRulesRequest) []*feedbackv1.RoutingRule {
	t.Helper()
	var out []*feedbackv1.RoutingRule
	for range 1000 {
		resp, err := f.client.ListRoutingRules(ctx, req)
		if err != nil {
			t.Fatalf("ListRoutingRules(%v): %v", req, err)
		}
		if want := cmp.Or(int(req.PageSize), 50); len(resp.Rules) > want || (resp.NextPageToken != "" && len(resp.Rules) != want) {
			t.Fatalf("page of %d rules (next %q), asked %d", len(resp.Rules), resp.NextPageToken, req.PageSize)
		}
		out = append(out, resp.Rules...)
		if resp.NextPageToken == "" {
			return out
		}
		req.PageToken = resp.NextPageToken
	}
	t.Fatal("paging does not end")
	return nil
}

func owners(rs []*feedbackv1.RoutingRule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.OwnerGroup)
	}
	return out
}

// ListRoutingRules pages through the rules most specific first with a cursor bound to the
// prefix: rules added between pages are neither repeated nor skipped, whatever the page size.
func TestListRoutingRulesPages(t *testing.T) {
	f := start(t)
	hr := f.as(auth.RoleHR)
	f.rule(t, "acme", 0, "o-acme")
	f.rule(t, "acme/eng/platform", dimWorkload, "o-platform-work")
	f.rule(t, "acme/eng", dimGrowth, "o-eng-growth")
	f.rule(t, "acme/sales", 0, "o-sales")
	f.rule(t, "acme/eng", 0, "o-eng")
	f.rule(t, "acme", dimEcosystem, "o-acme-eco")
	f.rule(t, "acme/eng/platform", 0, "o-platform")
	f.rule(t, "globex", 0, "o-globex") // another organisation's, by the global admin
	want := []string{"o-platform-work", "o-platform", "o-eng-growth", "o-eng", "o-sales", "o-acme-eco", "o-acme"}
	for _, size := range []int32{0, 1, 2, 3, 7, 200} {
		if got := owners(listRules(t, f, hr, &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme", PageSize: size})); !slices.Equal(got, want) {
			t.Errorf("page size %d: %v, want %v", size, got, want)
		}
	}
	if got := owners(listRules(t, f, hr, &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme/eng", PageSize: 2})); !slices.Equal(got, want[:4]) {
		t.Errorf("under acme/eng: %v, want %v", got, want[:4])
	}

	// Rules added after the first page: one before the cursor is for a later listing, one
	// after it comes in its place, and none of the others moves.
	req := &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme", PageSize: 3}
	first, err := f.client.ListRoutingRules(hr, req)
	if err != nil || first.NextPageToken == "" {
		t.Fatalf("first page: %v, %v", first, err)
	}
	f.rule(t, "acme/eng/web", dimGrowth, "o-web-growth") // deeper: before the cursor
	f.rule(t, "acme/eng", dimWorkload, "o-eng-work")     // between o-eng-growth and o-eng: after it
	req.PageToken = first.NextPageToken
	rest := listRules(t, f, hr, req)
	got := append(owners(first.Rules), owners(rest)...)
	if wantNow := []string{"o-platform-work", "o-platform", "o-eng-growth", "o-eng-work", "o-eng", "o-sales", "o-acme-eco", "o-acme"}; !slices.Equal(got, wantNow) {
		t.Errorf("pages across inserts: %v, want %v", got, wantNow)
	}

	// The default page is 50 rules, the largest 200.
	for i := range 51 {
		f.rule(t, fmt.Sprintf("acme/team%02d", i), 0, "o-many")
	}
	page, err := f.client.ListRoutingRules(hr, &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme"})
	if err != nil || len(page.Rules) != 50 || page.NextPageToken == "" {
		t.Fatalf("default page: %d rules, next %q, %v; want 50 and a next page", len(page.GetRules()), page.GetNextPageToken(), err)
	}
	if all := listRules(t, f, hr, &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme", PageSize: 200}); len(all) != 9+51 {
		t.Errorf("%d rules in pages of 200, want %d", len(all), 9+51)
	}

	// A token only continues the listing it came from.
	feedbackToken := func() string {
		f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "a", SubmitterRef: "U1"})
		f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "b", SubmitterRef: "U2"})
		r, err := f.client.ListFeedback(hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageSize: 1})
		if err != nil || r.NextPageToken == "" {
			t.Fatalf("ListFeedback: %v, %v", r, err)
		}
		return r.NextPageToken
	}()
	f.headcount(t, "acme/eng", 40)
	f.headcount(t, "acme/sales", 40)
	segmentsToken, err := f.client.ListSegments(hr, &feedbackv1.ListSegmentsRequest{SegmentPrefix: "acme", PageSize: 1})
	if err != nil || segmentsToken.NextPageToken == "" {
		t.Fatalf("ListSegments: %v, %v", segmentsToken, err)
	}
	for _, tc := range []struct {
		name  string
		req   *feedbackv1.ListRoutingRulesRequest
		field string
	}{
		{"page too large", &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme", PageSize: 201}, "page_size"},
		{"negative page", &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme", PageSize: -1}, "page_size"},
		{"garbage token", &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme", PageToken: "!!"}, "page_token"},
		{"token of another prefix", &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme/eng", PageToken: first.NextPageToken}, "page_token"},
		{"token of ListFeedback", &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme", PageToken: feedbackToken}, "page_token"},
		{"token of ListSegments", &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme", PageToken: segmentsToken.NextPageToken}, "page_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.ListRoutingRules(hr, tc.req)
			wantCode(t, err, codes.InvalidArgument, tc.field)
		})
	}
	// And tokens of ListRoutingRules continue no other listing.
	_, err = f.client.ListSegments(hr, &feedbackv1.ListSegmentsRequest{SegmentPrefix: "acme", PageToken: first.NextPageToken})
	wantCode(t, err, codes.InvalidArgument, "page_token")
	_, err = f.client.ListFeedback(hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageToken: first.NextPageToken})
	wantCode(t, err, codes.InvalidArgument, "page_token")
}
