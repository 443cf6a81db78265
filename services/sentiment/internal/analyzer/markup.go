package analyzer

import "strings"

// stripMarkup removes what chat apps add around words, before tokenizing, so that it
// neither scores nor votes on the language: Slack mentions and channel links
// ("<@U024BE7LH>", "<#C123|general>") go, links keep their label ("<https://…|the doc>"
// reads "the doc"), bare URLs go, and Slack's &amp; &lt; &gt; escapes are decoded last
// so that decoded brackets are not taken for markup. Bold, italic and strike markers
// (*, _, ~) need nothing: the tokenizer already treats them as spaces.
func stripMarkup(s string) string {
	if strings.IndexByte(s, '<') < 0 && strings.IndexByte(s, '&') < 0 && !strings.Contains(s, "://") { // IndexByte: vector search, no byte set to build
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		switch {
		case s[i] == '<':
			end := strings.IndexByte(s[i+1:], '>')
			if end < 0 || strings.ContainsAny(s[i+1:i+1+end], "<\n") {
				b.WriteByte('<')
				i++
				continue
			}
			inner := s[i+1 : i+1+end]
			i += end + 2
			switch {
			case inner == "":
			case inner[0] == '@' || inner[0] == '#' || inner[0] == '!':
				b.WriteByte(' ')
			default:
				if bar := strings.IndexByte(inner, '|'); bar >= 0 {
					b.WriteString(inner[bar+1:])
				} else if !strings.Contains(inner, "://") && !strings.HasPrefix(inner, "mailto:") {
					b.WriteString(inner) // not a link: "<3", "a < b > c" kept as typed
				}
				b.WriteByte(' ')
			}
		case isURLStart(s[i:]):
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' {
				j++
			}
			b.WriteByte(' ')
			i = j
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	out := b.String()
	if strings.IndexByte(out, '&') >= 0 {
		out = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(out)
	}
	return out
}

func isURLStart(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}
