package gateway

import (
	"strings"
	"unicode"
)

// This file reads what a person typed after /feedback, and escapes what the bot says back.
//
// A follow-up code is the author's only credential: whoever reads it can read and answer the
// thread as the author. So the parser is tolerant where a mistake would put a code (or a
// command) into a comment that HR reads, and the gateway refuses to file any comment that holds
// something with the shape of a code.

// The shape of a follow-up code: 26 characters of base32 (A–Z, 2–7). People copy it from the
// bot's message in any case, so the shape test is case-insensitive and the code is upper-cased
// before it reaches the feedback service.
const codeLen = 26

// verb is what a /feedback text asks for.
type verb int

const (
	// verbComment files the text as a new anonymous comment.
	verbComment verb = iota
	// verbHelp answers with help: asked for, or a malformed subcommand. Never filed.
	verbHelp
	// verbStatus shows the thread of a code.
	verbStatus
	// verbReply adds the author's text to the thread of a code.
	verbReply
	// verbTeam shows, searches or picks the person's team.
	verbTeam
	// verbLang sets the language of survey questions.
	verbLang
	// verbCodeInText is a comment holding something shaped like a follow-up code. Never filed.
	verbCodeInText
	// verbActions lists the action plans of the person's segment and its ancestors.
	verbActions
)

// intent is a parsed /feedback text.
type intent struct {
	verb verb
	// topic is the subcommand a verbHelp is about ("" for general help): "status", "reply",
	// "team" or "lang".
	topic string
	// code is the upper-cased follow-up code of verbStatus and verbReply.
	code string
	// arg is the reply's text (verbReply), the typed team (verbTeam, may be "") or the typed
	// language (verbLang, may be "").
	arg string
	// extra is set on verbStatus when words followed the code: they are not sent anywhere.
	extra bool
	// text is the comment (verbComment), unescaped and trimmed.
	text string
}

// Subcommand keywords, compared after cleanWord and lower-casing.
const (
	kwHelp     = "help"
	kwStatus   = "status"
	kwReply    = "reply"
	kwTeam     = "team"
	kwTeams    = "teams"
	kwLang     = "lang"
	kwLanguage = "language"
	kwActions  = "actions"
	kwAction   = "action"
)

// parseFeedback classifies the text of /feedback. The rule, in order:
//
//   - Slack's escapes (&amp; &lt; &gt;) are undone; words are separated by any run of white
//     space (spaces, tabs, new lines, no-break spaces). A leading "/feedback" word (a pasted
//     command) is skipped.
//   - Each word is compared after cleanWord: surrounding backticks, quotes, <>, *, _, ~ and
//     brackets, and trailing punctuation (.,;:!?), are removed. Keywords match in any case.
//   - Empty text, or "help" (alone or with one more word): help.
//   - "status" or "reply" followed by a word of the shape of a code (26 letters A–Z or digits
//     2–7, any case): that subcommand. "reply <code>" without text is help, and "status <code>"
//     followed by words shows the thread and says the words were not sent.
//   - "status" or "reply" with no code, in a text of one or two words ("status", "status
//     update", "reply soon"): help. With three words or more it is a comment ("status
//     meetings are too long").
//   - "team"/"teams" in a text of one or two words: the team subcommand ("team" alone lists
//     teams, "team <name>" picks or searches). "team" followed by a word holding a "/" (a
//     path) with more words after it: help. Otherwise a comment ("team morale is low").
//   - "lang"/"language" in a text of one or two words: the language subcommand, help if the
//     language is missing or unknown. Otherwise a comment.
//   - "actions"/"action" in a text of one or two words ("actions", "actions please"): the
//     action plans of the person's team and above. Otherwise a comment ("actions speak louder
//     than words").
//   - Anything else is a comment, unless it holds a word of the shape of a code anywhere
//     (containsCodeShape): then it is verbCodeInText and is never filed.
//
// A text whose first word is status or reply and whose second word is code-shaped is thus
// never a comment (FuzzParseFeedback checks it).
func parseFeedback(raw string) intent {
	text := strings.TrimFunc(unescapeSlack(raw), isSeparator)
	words := splitWords(text)
	if len(words) > 0 && strings.EqualFold(cleanWord(words[0].s), "/feedback") {
		text = strings.TrimFunc(text[words[0].end:], isSeparator)
		words = splitWords(text)
	}
	if len(words) == 0 {
		return intent{verb: verbHelp}
	}
	first := strings.ToLower(cleanWord(words[0].s))
	second := ""
	if len(words) > 1 {
		second = cleanWord(words[1].s)
	}
	short := len(words) <= 2
	switch first {
	case kwHelp, "?":
		if short {
			return intent{verb: verbHelp}
		}
	case kwStatus:
		if isCodeShape(second) {
			return intent{verb: verbStatus, code: strings.ToUpper(second), extra: len(words) > 2}
		}
		if short {
			return intent{verb: verbHelp, topic: kwStatus}
		}
	case kwReply:
		if isCodeShape(second) {
			rest := strings.TrimFunc(text[words[1].end:], isSeparator)
			if rest == "" {
				return intent{verb: verbHelp, topic: kwReply}
			}
			return intent{verb: verbReply, code: strings.ToUpper(second), arg: rest}
		}
		if short {
			return intent{verb: verbHelp, topic: kwReply}
		}
	case kwTeam, kwTeams:
		if short {
			return intent{verb: verbTeam, arg: second}
		}
		if strings.Contains(second, "/") {
			return intent{verb: verbHelp, topic: kwTeam}
		}
	case kwLang, kwLanguage:
		if short {
			return intent{verb: verbLang, arg: second}
		}
	case kwActions, kwAction:
		if short {
			return intent{verb: verbActions}
		}
	}
	if containsCodeShape(text) {
		return intent{verb: verbCodeInText}
	}
	return intent{verb: verbComment, text: text}
}

// span is a word of a text and where it is.
type span struct {
	s          string
	start, end int // text[start:end] == s
}

// isSeparator reports whether r separates words: white space, and the invisible spaces that
// copying from a chat client can leave (zero-width space, word joiner, BOM).
func isSeparator(r rune) bool {
	return unicode.IsSpace(r) || r == '\u200b' || r == '\u2060' || r == '\ufeff'
}

// splitWords splits text at runs of separators, keeping where each word is.
func splitWords(text string) []span {
	var out []span
	start := -1
	for i, r := range text {
		if isSeparator(r) {
			if start >= 0 {
				out = append(out, span{text[start:i], start, i})
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, span{text[start:], start, len(text)})
	}
	return out
}

// wrapping is what cleanWord removes around a word: the marks of Slack's formatting (code,
// bold, italic, strike), quotes of every kind, brackets and angle brackets, and punctuation
// that ends a sentence.
const wrapping = "`'\"*_~<>()[]{}“”‘’«»„‚.,;:!?"

// cleanWord removes wrapping around w: "`ABC…`." and "*acme/eng*" give ABC… and acme/eng.
func cleanWord(w string) string { return strings.Trim(w, wrapping) }

// isCodeShape reports whether w has the shape of a follow-up code, in any case.
func isCodeShape(w string) bool {
	if len(w) != codeLen {
		return false
	}
	for i := 0; i < len(w); i++ {
		if !isBase32(w[i]) {
			return false
		}
	}
	return true
}

func isBase32(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '2' && c <= '7'
}

func isASCIIAlnum(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// containsCodeShape reports whether text holds a whole word with the shape of a follow-up
// code: a run of exactly 26 ASCII letters and digits, all of them base32, with no ASCII letter
// or digit right before or after it. Punctuation, formatting marks and any other character are
// borders, so "`CODE`.", "(code=CODE)" and "<CODE>" all count.
func containsCodeShape(text string) bool {
	for i := 0; i < len(text); {
		if !isASCIIAlnum(text[i]) {
			i++
			continue
		}
		j, base32 := i, true
		for ; j < len(text) && isASCIIAlnum(text[j]); j++ {
			base32 = base32 && isBase32(text[j])
		}
		if j-i == codeLen && base32 {
			return true
		}
		i = j
	}
	return false
}

// redactCodes replaces code-shaped words in s, for log lines built from service messages.
func redactCodes(s string) string {
	if !containsCodeShape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if !isASCIIAlnum(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j, base32 := i, true
		for ; j < len(s) && isASCIIAlnum(s[j]); j++ {
			base32 = base32 && isBase32(s[j])
		}
		if j-i == codeLen && base32 {
			b.WriteString("[code]")
		} else {
			b.WriteString(s[i:j])
		}
		i = j
	}
	return b.String()
}

// Slack's escaping (https://api.slack.com/reference/surfaces/formatting#escaping): &, < and >
// are control characters in message text and travel as &amp;, &lt; and &gt;.
var (
	slackEscaper   = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	slackUnescaper = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")
)

// escapeSlack makes text literal in a Slack message. The bot itself sends no control sequence
// (no <@user>, <!here> or <link|label>), so every &, < and > of a reply is literal: user
// comments, answers, survey titles and questions, and the bot's own "<code>" placeholders.
// Its formatting (backticks, *bold*) uses none of them and is kept.
func escapeSlack(text string) string { return slackEscaper.Replace(text) }

// unescapeSlack turns the text Slack sends (with &amp; &lt; &gt;) back into what was typed.
func unescapeSlack(text string) string { return slackUnescaper.Replace(text) }

// parseLanguage reads a language choice: "fr" or "en", in any case, or their names.
func parseLanguage(s string) (string, bool) {
	switch strings.ToLower(cleanWord(s)) {
	case "fr", "french", "français", "francais":
		return "fr", true
	case "en", "english", "anglais":
		return "en", true
	}
	return "", false
}
