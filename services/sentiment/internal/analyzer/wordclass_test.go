package analyzer

import (
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// TestWordClasses reads the switches on w of the function-word functions in the source
// and wants classWords to list exactly their cases per class: the rules and features
// skip these functions for a token whose class says its spelling is in none of the
// lists (wordClass), which is right only while the lists and the switches agree.
func TestWordClasses(t *testing.T) {
	fset := gotoken.NewFileSet()
	cases := map[string][]string{} // function -> cases of its switches on w
	for _, file := range []string{"words.go", "features.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				sw, ok := n.(*ast.SwitchStmt)
				if !ok {
					return true
				}
				if id, ok := sw.Tag.(*ast.Ident); !ok || id.Name != "w" {
					return true
				}
				for _, c := range sw.Body.List {
					for _, e := range c.(*ast.CaseClause).List {
						lit, ok := e.(*ast.BasicLit)
						if !ok {
							t.Fatalf("%s: case %T is not a string literal", fn.Name.Name, e)
						}
						s, err := strconv.Unquote(lit.Value)
						if err != nil {
							t.Fatal(err)
						}
						cases[fn.Name.Name] = append(cases[fn.Name.Name], s)
					}
				}
				return true
			})
		}
	}
	for _, c := range []struct {
		cls   wordClass
		funcs []string
	}{
		{clsScope, []string{"contrasts", "contrastWord", "concessive", "negates", "featureNegator", "irrealis"}},
		{clsModify, []string{"boost", "contrasts", "negates", "lessens"}},
		{clsBoost, []string{"boost"}},
		{clsFrench, []string{"frenchWord"}},
		{clsEnglish, []string{"englishWord"}},
		{clsIdiom, []string{"idiomHead"}},
	} {
		var want []string
		for _, fn := range c.funcs {
			if len(cases[fn]) == 0 {
				t.Fatalf("no switch on w found in %s", fn)
			}
			want = append(want, cases[fn]...)
		}
		var got []string
		for _, cw := range classWords {
			if cw.cls&c.cls != 0 {
				got = append(got, strings.Fields(cw.words)...)
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		want, got = slices.Compact(want), slices.Compact(got)
		if !slices.Equal(got, want) {
			t.Errorf("class %b of %v: classWords has %v, the switches %v", c.cls, c.funcs, got, want)
		}
	}

	// Every spelling of the index carries its class, and a word of a list is in the index.
	a := New("en")
	for _, cw := range classWords {
		for _, w := range strings.Fields(cw.words) {
			info, ok := a.words[w]
			if !ok || info.cls&cw.cls != cw.cls {
				t.Errorf("%q: not in the index with class %b", w, cw.cls)
			}
		}
	}
	for w := range keywordIndex.exact {
		if info, ok := a.words[w]; !ok || info.cls&clsKeyword == 0 {
			t.Errorf("keyword %q: not in the index as one", w)
		}
	}
	for w, info := range a.words {
		if info.cls != wordClassOf(w) || info.cls&clsKnown == 0 || info.w != w || info.hash != hashString(w) {
			t.Fatalf("%q: class %b, want %b", w, info.cls, wordClassOf(w))
		}
		if (info.cls&clsFrench != 0) != frenchWord(w) || (info.cls&clsEnglish != 0) != englishWord(w) ||
			(info.cls&clsKeyword != 0) != keywordCandidate(w) || (info.cls&clsStretched != 0) != stretched([]byte(w)) {
			t.Fatalf("%q: class %b disagrees with frenchWord, englishWord, keywordCandidate or stretched", w, info.cls)
		}
	}
}

// TestToLower compares toLower with unicode.ToLower on every rune.
func TestToLower(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune+1; r++ {
		if got, want := toLower(r), unicode.ToLower(r); got != want {
			t.Fatalf("toLower(%U) = %U, want %U", r, got, want)
		}
	}
}
