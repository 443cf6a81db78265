package gateway

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
)

// verbs are the fmt verbs of a message, in order: a translation must take the same arguments.
var verbs = regexp.MustCompile(`%[-+# 0]*[0-9]*(?:\.[0-9]+)?[a-zA-Z%]`)

func TestCatalogHasEveryKeyInBothLanguages(t *testing.T) {
	if len(catalog) != 2 || catalog["en"] == nil || catalog["fr"] == nil {
		t.Fatalf("catalog languages %v, want en and fr", slices.Sorted(maps.Keys(catalog)))
	}
	for lang, msgs := range catalog {
		for key, msg := range msgs {
			if strings.TrimSpace(msg) == "" {
				t.Errorf("%s %q is empty", lang, key)
			}
			for other, otherMsgs := range catalog {
				om, ok := otherMsgs[key]
				if !ok {
					t.Errorf("key %q is in %s but not in %s", key, lang, other)
					continue
				}
				if a, b := verbs.FindAllString(msg, -1), verbs.FindAllString(om, -1); !slices.Equal(a, b) {
					t.Errorf("key %q: %s takes %v, %s takes %v", key, lang, a, other, b)
				}
			}
		}
	}
}

// TestEveryKeyUsedIsInTheCatalog reads the templates and the Go code for the keys they look
// up, and builds the keys made from enum names: each must be in the catalog.
func TestEveryKeyUsedIsInTheCatalog(t *testing.T) {
	used := map[string]bool{}
	literal := regexp.MustCompile(`\.T "([a-z0-9_.\-]+)"`)
	err := fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFS, path)
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	call := regexp.MustCompile(`\bT\("([a-z0-9_.\-]+)"[,)]`)
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}
	if len(used) < 50 {
		t.Fatalf("found only %d keys: the patterns no longer match the code", len(used))
	}
	for _, nav := range []string{"login", "heatmap", "trends", "alerts", "surveys", "inbox", "loops"} {
		used["nav."+nav] = true
	}
	for _, n := range []string{"replied", "status", "owner", "plan", "planupdate"} {
		used["notice."+n] = true
	}
	for _, key := range planFieldKeys {
		used[key] = true
	}
	for _, unit := range []string{"week", "month"} { // mirror.html, by mirrorUnit
		for _, k := range []string{"mirror.intro.", "mirror.lag.", "mirror.undefined.", "col."} {
			used[k+unit] = true
		}
	}
	for _, r := range []string{"hr", "manager", "admin", "submitter"} {
		used["role."+r] = true
	}
	for _, m := range []float64{-0.75, -0.3, 0, 0.3, 0.75} {
		used["legend."+toneClass(m)] = true
		used[toneKey(m)] = true
	}
	for v := range commonv1.Dimension_name {
		used[dimKey(commonv1.Dimension(v))] = true
	}
	for v := range commonv1.FeedbackStatus_name {
		used[statusKey(commonv1.FeedbackStatus(v))] = true
	}
	for v := range commonv1.SentimentLabel_name {
		used[labelKey(commonv1.SentimentLabel(v))] = true
	}
	for v := range commonv1.RiskFlag_name {
		used[riskKey(commonv1.RiskFlag(v))] = true
	}
	for _, n := range pulsev1.SurveyKind_name {
		used["kind."+strings.TrimPrefix(n, "SURVEY_KIND_")] = true
	}
	for _, n := range pulsev1.SurveyState_name {
		used["state."+strings.TrimPrefix(n, "SURVEY_STATE_")] = true
	}
	for _, n := range commonv1.QuestionKind_name {
		used["qkind."+strings.TrimPrefix(n, "QUESTION_KIND_")] = true
	}
	for _, n := range pulsev1.MaturityLevel_name {
		used["level."+strings.TrimPrefix(n, "MATURITY_LEVEL_")] = true
	}
	for _, key := range slices.Sorted(maps.Keys(used)) {
		for lang := range catalog {
			if _, ok := catalog[lang][key]; !ok {
				t.Errorf("key %q is used but missing in %s", key, lang)
			}
		}
	}
}

func TestAcceptLanguage(t *testing.T) {
	for h, want := range map[string]string{
		"":                          "en",
		"fr":                        "fr",
		"fr-FR,fr;q=0.9,en;q=0.8":   "fr",
		"en-GB,en;q=0.9,fr;q=0.8":   "en",
		"de-DE,de;q=0.9,fr;q=0.5":   "fr",
		"de, en;q=0.2, fr;q=0.7":    "fr",
		"fr;q=0, en;q=0.1":          "en",
		"es":                        "en",
		"FR-ca":                     "fr",
		"en;q=0.5, fr;q=0.5":        "en",
		"fr;q=notanumber, en;q=0.9": "fr",
	} {
		if got := acceptLanguage(h); got != want {
			t.Errorf("acceptLanguage(%q) = %s, want %s", h, got, want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/inbox?status=1":        "/inbox?status=1",
		"/":                      "/",
		"//evil.example/x":       "/",
		"https://evil.example/":  "/",
		"/\\evil.example":        "/",
		"inbox":                  "/",
		"":                       "/",
		"/ok\r\nSet-Cookie: x=y": "/",
	} {
		if got := localPath(in, "/"); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTemplatesRenderInBothLanguages renders every page with empty data: a template that
// calls a missing method or key fails here rather than in front of HR.
func TestTemplatesRenderInBothLanguages(t *testing.T) {
	ps, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	old := missingKey
	missingKey = func(lang, key string) { missing = append(missing, lang+":"+key) }
	defer func() { missingKey = old }()
	for name, tpl := range ps {
		for lang := range catalog {
			p := &page{Lang: lang, Other: otherLang(lang), Nav: "heatmap", Here: "/", K: 5}
			var sb strings.Builder
			if err := tpl.ExecuteTemplate(&sb, "layout", p); err != nil {
				t.Errorf("%s in %s: %v", name, lang, err)
			}
			if !strings.Contains(sb.String(), `<html lang="`+lang+`">`) {
				t.Errorf("%s in %s does not declare its language", name, lang)
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("keys looked up but missing: %v", missing)
	}
}

// TestBotTextsInBothLanguages: the bot's catalogs (/pulse, /feedback actions, the end of a
// survey) have every key in French and English, with the same fmt verbs, and every key the
// code of /pulse looks up is in them.
func TestBotTextsInBothLanguages(t *testing.T) {
	for name, cat := range map[string]map[string]map[string]string{"pulseText": pulseText, "actionText": actionText, "loopText": loopText} {
		if len(cat) != 2 || cat["en"] == nil || cat["fr"] == nil {
			t.Fatalf("%s languages %v, want en and fr", name, slices.Sorted(maps.Keys(cat)))
		}
		for lang, msgs := range cat {
			for key, msg := range msgs {
				if strings.TrimSpace(msg) == "" {
					t.Errorf("%s %s %q is empty", name, lang, key)
				}
				for other, otherMsgs := range cat {
					om, ok := otherMsgs[key]
					if !ok {
						t.Errorf("%s: key %q is in %s but not in %s", name, key, lang, other)
						continue
					}
					if a, b := verbs.FindAllString(msg, -1), verbs.FindAllString(om, -1); !slices.Equal(a, b) {
						t.Errorf("%s: key %q: %s takes %v, %s takes %v", name, key, lang, a, other, b)
					}
				}
			}
		}
	}
	used := map[string]bool{}
	for _, f := range []string{"pulse.go", "commands.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range []*regexp.Regexp{
			regexp.MustCompile(`pulseTr\([a-z]+, "([a-z]+)"\)`),
			regexp.MustCompile(`\btr\("([a-z]+)"\)`),
			regexp.MustCompile(`answerError\{"([a-z]+)"`),
		} {
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				used[m[1]] = true
			}
		}
	}
	if len(used) < 20 {
		t.Fatalf("found only %d /pulse keys: the patterns no longer match the code", len(used))
	}
	for _, key := range slices.Sorted(maps.Keys(used)) {
		for lang := range pulseText {
			if _, ok := pulseText[lang][key]; !ok {
				t.Errorf("/pulse key %q is used but missing in %s", key, lang)
			}
		}
	}
}
