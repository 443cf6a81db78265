package segment

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	for _, s := range []string{
		"acme",
		"acme/engineering/platform",
		"a/b/c/d/e/f/g/h",
		"0/9-x/a_b",
		"acme/" + strings.Repeat("x", 63),
	} {
		p, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		if p.String() != s {
			t.Errorf("Parse(%q).String() = %q", s, p.String())
		}
	}
}

func TestParseInvalid(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"", "must not be empty"},
		{"acme/Eng", `element 2 "Eng" must match [a-z0-9][a-z0-9_-]{0,62}`},
		{"a/b/c/d/e/f/g/h/i", "at most 8 levels, got 9"},
		{"/acme", "must not start or end with '/'"},
		{"acme/", "must not start or end with '/'"},
		{"acme//eng", "element 2 is empty"},
		{"acme/-eng", `element 2 "-eng" must match`},
		{"acme/_eng", `element 2 "_eng" must match`},
		{"acme.eng", `element 1 "acme.eng" must match`},
		{"acme/*", `element 2 "*" must match`},
		{"acme/>", `element 2 ">" must match`},
		{"acme/en g", `element 2 "en g" must match`},
		{"acme/équipe", `element 2 "équipe" must match`},
		{"acme/" + strings.Repeat("x", 64), "element 2 is 64 characters, at most 63"},
		{strings.Repeat("x", 600), "at most 511 bytes, got 600"},
	} {
		_, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error %q", tc.in, tc.want)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) error %v does not wrap ErrInvalid", tc.in, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error %q, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

func TestAccessors(t *testing.T) {
	p := MustParse("acme/engineering/platform")
	if p.Org() != "acme" || p.Depth() != 3 || p.Subject() != "acme.engineering.platform" {
		t.Fatalf("Org %q Depth %d Subject %q", p.Org(), p.Depth(), p.Subject())
	}
	el := p.Elements()
	if !slices.Equal(el, []string{"acme", "engineering", "platform"}) {
		t.Fatalf("Elements() = %q", el)
	}
	el[0] = "evil"
	if p.Org() != "acme" || p.Elements()[0] != "acme" {
		t.Fatal("Elements() returned the path's own slice: mutating it changed the path")
	}

	var got []string
	for _, a := range p.Ancestors() {
		got = append(got, a.String())
	}
	if want := []string{"acme", "acme/engineering", "acme/engineering/platform"}; !slices.Equal(got, want) {
		t.Fatalf("Ancestors() = %q, want %q", got, want)
	}
	anc := p.Ancestors()
	if anc[1].Depth() != 2 || anc[1].Subject() != "acme.engineering" || !anc[1].Equal(MustParse("acme/engineering")) {
		t.Fatalf("ancestor 1 = %q depth %d subject %q", anc[1], anc[1].Depth(), anc[1].Subject())
	}

	parent, ok := p.Parent()
	if !ok || parent.String() != "acme/engineering" {
		t.Fatalf("Parent() = %q, %v", parent, ok)
	}
	if _, ok := MustParse("acme").Parent(); ok {
		t.Fatal("an organisation has no parent")
	}
	if _, ok := (Path{}).Parent(); ok {
		t.Fatal("the zero Path has no parent")
	}
	var zero Path
	if !zero.IsZero() || zero.String() != "" || zero.Org() != "" || len(zero.Ancestors()) != 0 || p.IsZero() {
		t.Fatal("zero Path accessors")
	}
}

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		p, prefix string
		want      bool
	}{
		{"acme/eng/platform", "acme", true},
		{"acme/eng/platform", "acme/eng", true},
		{"acme/eng/platform", "acme/eng/platform", true},
		{"acme/engineering", "acme/eng", false},
		{"acme/eng", "acme/eng/platform", false},
		{"acme2/eng", "acme", false},
		{"globex/eng", "acme", false},
	} {
		if got := MustParse(tc.p).Within(MustParse(tc.prefix)); got != tc.want {
			t.Errorf("%q.Within(%q) = %v, want %v", tc.p, tc.prefix, got, tc.want)
		}
	}
	if MustParse("acme").Within(Path{}) || (Path{}).Within(MustParse("acme")) {
		t.Error("the zero Path must neither contain nor be within anything")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"acme", "acme/eng/platform", "a/b/c/d/e/f/g/h", "a//b", "/a", "A", "a.b", "a b", "a/*", "a/>", "é", "a\tb", "x-_/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if strings.ContainsAny(s, ".*> \t\r\n\v\f") || strings.ToLower(s) != s {
			t.Fatalf("Parse accepted %q", s)
		}
		for _, r := range s {
			if r > 0x7f {
				t.Fatalf("Parse accepted non-ASCII %q", s)
			}
		}
		if p.String() != s {
			t.Fatalf("String() = %q, want %q", p.String(), s)
		}
		q, err := Parse(strings.Join(strings.Split(p.Subject(), "."), "/"))
		if err != nil || !q.Equal(p) {
			t.Fatalf("Subject %q does not round-trip: %v", p.Subject(), err)
		}
		if p.Depth() < 1 || p.Depth() > MaxDepth || len(p.Ancestors()) != p.Depth() {
			t.Fatalf("depth %d, %d ancestors", p.Depth(), len(p.Ancestors()))
		}
		for _, a := range p.Ancestors() {
			if !p.Within(a) {
				t.Fatalf("%q not within its ancestor %q", p, a)
			}
			if _, err := Parse(a.String()); err != nil {
				t.Fatalf("ancestor %q does not parse: %v", a, err)
			}
		}
	})
}
