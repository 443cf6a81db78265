package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf16"
)

// needles are the values no file may hold: every chat user id, submitter ref and follow-up
// code of the run.
func (r *run) needles() map[string]string {
	out := map[string]string{}
	for _, p := range r.w.people {
		if p.chat {
			out[p.userID] = "chat user id"
		} else {
			out[p.ref] = "submitter_ref"
		}
	}
	for _, it := range r.w.items {
		if it.code != "" {
			out[it.code] = "follow-up code"
		}
	}
	return out
}

// encodings are the forms a careless program would write a value in.
func encodings(v string) map[string][]byte {
	utf16le := func(s string, big bool) []byte {
		var b []byte
		for _, u := range utf16.Encode([]rune(s)) {
			if big {
				b = append(b, byte(u>>8), byte(u))
			} else {
				b = append(b, byte(u), byte(u>>8))
			}
		}
		return b
	}
	return map[string][]byte{
		"raw":          []byte(v),
		"lower case":   []byte(strings.ToLower(v)),
		"hex":          []byte(hex.EncodeToString([]byte(v))),
		"HEX":          []byte(strings.ToUpper(hex.EncodeToString([]byte(v)))),
		"base64":       []byte(base64.StdEncoding.EncodeToString([]byte(v))),
		"base64 raw":   []byte(base64.RawStdEncoding.EncodeToString([]byte(v))),
		"base64url":    []byte(base64.URLEncoding.EncodeToString([]byte(v))),
		"base64url nr": []byte(base64.RawURLEncoding.EncodeToString([]byte(v))),
		"UTF-16LE":     utf16le(v, false),
		"UTF-16BE":     utf16le(v, true),
	}
}

// scan reads every file the run wrote (stores, JetStream's files, logs, the directory, the
// shared files) for every needle, in every encoding. Base64 of a value depends on where it
// starts modulo 3; the raw forms of base64 cover a value at the start of what was encoded,
// which is how a program encodes an id on its own.
func (r *run) scan() error {
	needles := r.needles()
	type form struct {
		value, kind, enc string
		b                []byte
	}
	var forms []form
	for v, kind := range needles {
		for enc, b := range encodings(v) {
			if enc == "base64" || enc == "base64url" {
				b = bytes.TrimRight(b, "=")
				b = b[:len(b)-len(b)%4] // the part independent of what follows
			}
			forms = append(forms, form{v, kind, enc, b})
		}
	}
	return filepath.WalkDir(r.cfg.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		r.res.Files++
		rel, _ := filepath.Rel(r.cfg.Dir, path)
		for _, f := range forms {
			if bytes.Contains(data, f.b) {
				r.res.Hits = append(r.res.Hits, fmt.Sprintf("%s holds a %s (%s): %s", rel, f.kind, f.enc, f.value))
			}
		}
		return nil
	})
}
