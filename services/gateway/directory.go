package gateway

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Scopes of the keyed hashes that stand for a chat user in the directory. Entries are keyed
// per organisation: directoryScope + "/" + org, over the workspace and user ids. The scope
// without an organisation is that of version 1 files, read only to migrate them.
const directoryScope = "gateway/directory"

// Source says who set a directory entry.
type Source string

const (
	// SourceHR is an entry set by HR or an admin (PUT /admin/directory, the directory file).
	// It is the authority: the person cannot change its team.
	SourceHR Source = "hr"
	// SourceSelf is a team the person picked (/feedback team) among the registered segments,
	// or a language they chose, while HR had set nothing for them.
	SourceSelf Source = "self"
)

// Entry maps one chat user to a segment, as an operator writes it. The entry belongs to the
// organisation of its segment: an hr token may only write its own organisation's entries, and
// only for workspaces of that organisation.
type Entry struct {
	TeamID  string `json:"team_id,omitempty"`
	UserID  string `json:"user_id"`
	Segment string `json:"segment"`
	// Language is the person's language for survey questions: "fr", "en" or "" (the survey's
	// default, or what the person chose with /feedback lang).
	Language string `json:"language,omitempty"`
}

// Record is what the directory keeps for a person: no id, only their segment, who set it, and
// their language.
type Record struct {
	// Segment is "" for a person who chose a language but no team yet.
	Segment  string `json:"segment,omitempty"`
	Source   Source `json:"source"`
	Language string `json:"language,omitempty"`
}

// ErrSetByHR is returned when a person tries to change a team HR set.
var ErrSetByHR = errors.New("the team was set by HR")

// Directory maps chat users to segments. It keeps each user only as a keyed hash of the
// organisation, workspace and user ids under the anonymity secret: the file it writes names no
// one, a guessed user id cannot be checked against it without the secret, and one
// organisation's entry never answers for a user of another organisation's workspace.
type Directory struct {
	secret *anonymity.Secret
	path   string // where entries persist; "" keeps them in memory

	mu      sync.RWMutex
	entries map[string]Record // hex(tag) -> record
	// unscoped holds version 1 entries (keyed without organisation) until their person is seen
	// from a workspace of the entry's organisation; they are then migrated as SourceSelf.
	unscoped map[string]string
}

// persisted is the directory's file.
type persisted struct {
	Version  int               `json:"version"`
	Entries  json.RawMessage   `json:"entries"`
	Unscoped map[string]string `json:"unscoped,omitempty"`
}

const directoryVersion = 2

// openDirectory loads the persisted directory at path, if any.
func openDirectory(secret *anonymity.Secret, path string) (*Directory, error) {
	d := &Directory{secret: secret, path: path, entries: map[string]Record{}, unscoped: map[string]string{}}
	if path == "" {
		return d, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return nil, err
	}
	var p persisted
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("directory %s: %w", path, err)
	}
	bad := func(err error) error { return fmt.Errorf("directory %s: %w", path, err) }
	switch p.Version {
	case 1: // {hex(tag of workspace and user): segment}, set by anyone
		var old map[string]string
		if err := json.Unmarshal(p.Entries, &old); err != nil {
			return nil, bad(err)
		}
		for k, v := range old {
			if _, err := segment.Parse(v); err != nil {
				return nil, bad(err)
			}
			d.unscoped[k] = v
		}
	case directoryVersion:
		var es map[string]Record
		if err := json.Unmarshal(p.Entries, &es); err != nil {
			return nil, bad(err)
		}
		for k, r := range es {
			if err := r.check(); err != nil {
				return nil, bad(fmt.Errorf("entry %s: %w", clip(k), err))
			}
			d.entries[k] = r
		}
		for k, v := range p.Unscoped {
			if _, err := segment.Parse(v); err != nil {
				return nil, bad(err)
			}
			d.unscoped[k] = v
		}
	default:
		return nil, bad(fmt.Errorf("version %d; this gateway reads versions 1 and %d", p.Version, directoryVersion))
	}
	return d, nil
}

func (r Record) check() error {
	if r.Segment != "" {
		if _, err := segment.Parse(r.Segment); err != nil {
			return err
		}
	}
	switch {
	case r.Source != SourceHR && r.Source != SourceSelf:
		return fmt.Errorf("source %q is not hr or self", r.Source)
	case r.Source == SourceHR && r.Segment == "":
		return errors.New("an hr entry needs a segment")
	case r.Language != "" && r.Language != "fr" && r.Language != "en":
		return fmt.Errorf("language %q is not fr or en", r.Language)
	}
	return nil
}

func (d *Directory) key(org, team, user string) string {
	return hex.EncodeToString(d.secret.Tag(directoryScope+"/"+org, team+"\x00"+user))
}

func (d *Directory) legacyKey(team, user string) string {
	return hex.EncodeToString(d.secret.Tag(directoryScope, team+"\x00"+user))
}

// Lookup returns what the directory knows of a chat user of a workspace of org. Only org's
// entries answer. A version 1 entry of the same workspace and user is migrated on the way if
// its segment is in org, as SourceSelf: nothing says HR set it, so the person may change it
// among registered teams, and it is checked against them before each use.
func (d *Directory) Lookup(org, team, user string) (Record, bool) {
	k := d.key(org, team, user)
	d.mu.RLock()
	r, ok := d.entries[k]
	legacy := len(d.unscoped) > 0
	d.mu.RUnlock()
	if ok || !legacy {
		return r, ok
	}
	lk := d.legacyKey(team, user)
	d.mu.Lock()
	defer d.mu.Unlock()
	if r, ok := d.entries[k]; ok {
		return r, true
	}
	seg, ok := d.unscoped[lk]
	if !ok {
		return Record{}, false
	}
	if p, err := segment.Parse(seg); err != nil || p.Org() != org {
		return Record{}, false
	}
	r = Record{Segment: seg, Source: SourceSelf}
	next, unscoped := maps.Clone(d.entries), maps.Clone(d.unscoped)
	next[k] = r
	delete(unscoped, lk)
	if err := d.persist(next, unscoped); err == nil {
		d.entries, d.unscoped = next, unscoped
	}
	return r, true
}

// SetHR validates entries set by HR or an admin and stores them all, or none. Each is keyed
// in the organisation of its segment; the caller checks that the entry's workspace belongs to
// that organisation and that the writer covers the segment. An entry without a language keeps
// the one the person chose.
func (d *Directory) SetHR(entries []Entry) error {
	type add struct {
		key string
		rec Record
	}
	adds := make([]add, 0, len(entries))
	for i, e := range entries {
		if !idRule.MatchString(e.UserID) || (e.TeamID != "" && !idRule.MatchString(e.TeamID)) {
			return fmt.Errorf("entries[%d]: user_id and team_id must match %s", i, idRule)
		}
		p, err := segment.Parse(e.Segment)
		if err != nil {
			return fmt.Errorf("entries[%d].segment: %w", i, err)
		}
		lang, err := entryLanguage(e.Language)
		if err != nil {
			return fmt.Errorf("entries[%d].language: %w", i, err)
		}
		adds = append(adds, add{d.key(p.Org(), e.TeamID, e.UserID), Record{Segment: p.String(), Source: SourceHR, Language: lang}})
	}
	return d.update(func(next map[string]Record) error {
		for _, a := range adds {
			if a.rec.Language == "" {
				a.rec.Language = next[a.key].Language
			}
			next[a.key] = a.rec
		}
		return nil
	})
}

// Choose records the team a person picked. It returns ErrSetByHR, and changes nothing, when
// HR set the person's team.
func (d *Directory) Choose(org, team, user string, seg segment.Path) error {
	k := d.key(org, team, user)
	return d.update(func(next map[string]Record) error {
		r := next[k]
		if r.Source == SourceHR {
			return ErrSetByHR
		}
		next[k] = Record{Segment: seg.String(), Source: SourceSelf, Language: r.Language}
		return nil
	})
}

// SetLanguage records the language a person chose, whoever set their team.
func (d *Directory) SetLanguage(org, team, user, lang string) error {
	k := d.key(org, team, user)
	return d.update(func(next map[string]Record) error {
		r, ok := next[k]
		if !ok {
			r.Source = SourceSelf
		}
		r.Language = lang
		next[k] = r
		return nil
	})
}

// update applies change to a copy of the entries, persists it and swaps it in; nothing changes
// if change or the write fails.
func (d *Directory) update(change func(next map[string]Record) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	next := maps.Clone(d.entries)
	if err := change(next); err != nil {
		return err
	}
	if err := d.persist(next, d.unscoped); err != nil {
		return err
	}
	d.entries = next
	return nil
}

// persist writes entries atomically: a synced temporary file renamed over the old one.
func (d *Directory) persist(entries map[string]Record, unscoped map[string]string) error {
	if d.path == "" {
		return nil
	}
	es, err := json.Marshal(entries)
	if err != nil {
		return err
	}
	data, err := json.Marshal(persisted{Version: directoryVersion, Entries: es, Unscoped: unscoped})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(d.path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(d.path), ".directory-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), d.path)
}

// entryLanguage validates the language of an operator's entry: "", "fr" or "en" in any case.
func entryLanguage(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	switch l := strings.ToLower(s); l {
	case "fr", "en":
		return l, nil
	}
	return "", fmt.Errorf("%q is not fr, en or empty", clip(s))
}

// ReadEntries reads an operator's directory file: JSON (a list of Entry, or an object from
// user id to segment) or CSV with the header user_id,segment[,team_id][,language] in any
// order.
func ReadEntries(r io.Reader) ([]Entry, error) {
	data, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(data)
	switch {
	case bytes.HasPrefix(trimmed, []byte("[")):
		var es []Entry
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&es); err != nil {
			return nil, fmt.Errorf("directory JSON: %w", err)
		}
		return es, nil
	case bytes.HasPrefix(trimmed, []byte("{")):
		var m map[string]string
		if err := json.Unmarshal(trimmed, &m); err != nil {
			return nil, fmt.Errorf("directory JSON: %w", err)
		}
		es := make([]Entry, 0, len(m))
		for u, s := range m {
			es = append(es, Entry{UserID: u, Segment: s})
		}
		return es, nil
	}
	rows, err := csv.NewReader(bytes.NewReader(trimmed)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("directory CSV: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	col := map[string]int{"user_id": -1, "segment": -1, "team_id": -1, "language": -1}
	for i, h := range rows[0] {
		h = strings.TrimSpace(strings.ToLower(h))
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("directory CSV: unknown column %q (want user_id, segment, team_id, language)", clip(h))
		}
		col[h] = i
	}
	if col["user_id"] < 0 || col["segment"] < 0 {
		return nil, errors.New("directory CSV: the header needs user_id and segment")
	}
	es := make([]Entry, 0, len(rows)-1)
	for _, row := range rows[1:] {
		e := Entry{UserID: strings.TrimSpace(row[col["user_id"]]), Segment: strings.TrimSpace(row[col["segment"]])}
		if i := col["team_id"]; i >= 0 {
			e.TeamID = strings.TrimSpace(row[i])
		}
		if i := col["language"]; i >= 0 {
			e.Language = strings.TrimSpace(row[i])
		}
		es = append(es, e)
	}
	return es, nil
}
