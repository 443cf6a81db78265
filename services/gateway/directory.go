package gateway

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/segment"
)

// directoryScope is the scope of the keyed hash that stands for a chat user in the directory.
const directoryScope = "gateway/directory"

// Entry maps one chat user to a segment, as an operator writes it.
type Entry struct {
	TeamID  string `json:"team_id,omitempty"`
	UserID  string `json:"user_id"`
	Segment string `json:"segment"`
}

// Directory maps chat users to segments. It keeps each user only as a keyed hash of the
// workspace and user ids under the anonymity secret: the file it writes names no one, and a
// guessed user id cannot be checked against it without the secret.
type Directory struct {
	secret *anonymity.Secret
	path   string // where entries persist; "" keeps them in memory

	mu      sync.RWMutex
	entries map[string]string // hex(tag) -> segment
}

// persisted is the directory's file.
type persisted struct {
	Version int               `json:"version"`
	Entries map[string]string `json:"entries"`
}

// openDirectory loads the persisted directory at path, if any.
func openDirectory(secret *anonymity.Secret, path string) (*Directory, error) {
	d := &Directory{secret: secret, path: path, entries: map[string]string{}}
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
	for k, v := range p.Entries {
		if _, err := segment.Parse(v); err != nil {
			return nil, fmt.Errorf("directory %s: %w", path, err)
		}
		d.entries[k] = v
	}
	return d, nil
}

func (d *Directory) key(team, user string) string {
	return hex.EncodeToString(d.secret.Tag(directoryScope, team+"\x00"+user))
}

// Lookup returns the segment of a chat user.
func (d *Directory) Lookup(team, user string) (segment.Path, bool) {
	d.mu.RLock()
	s, ok := d.entries[d.key(team, user)]
	d.mu.RUnlock()
	if !ok {
		return segment.Path{}, false
	}
	p, err := segment.Parse(s)
	return p, err == nil
}

// Set validates entries and stores them all, or none.
func (d *Directory) Set(entries []Entry) error {
	add := map[string]string{}
	for i, e := range entries {
		if !idRule.MatchString(e.UserID) || (e.TeamID != "" && !idRule.MatchString(e.TeamID)) {
			return fmt.Errorf("entries[%d]: user_id and team_id must match %s", i, idRule)
		}
		p, err := segment.Parse(e.Segment)
		if err != nil {
			return fmt.Errorf("entries[%d].segment: %w", i, err)
		}
		add[d.key(e.TeamID, e.UserID)] = p.String()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	next := make(map[string]string, len(d.entries)+len(add))
	for k, v := range d.entries {
		next[k] = v
	}
	for k, v := range add {
		next[k] = v
	}
	if err := d.persist(next); err != nil {
		return err
	}
	d.entries = next
	return nil
}

// persist writes entries atomically: a synced temporary file renamed over the old one.
func (d *Directory) persist(entries map[string]string) error {
	if d.path == "" {
		return nil
	}
	data, err := json.Marshal(persisted{Version: 1, Entries: entries})
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

// ReadEntries reads an operator's directory file: JSON (a list of Entry, or an object from
// user id to segment) or CSV with the header user_id,segment[,team_id] in any order.
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
	col := map[string]int{"user_id": -1, "segment": -1, "team_id": -1}
	for i, h := range rows[0] {
		h = strings.TrimSpace(strings.ToLower(h))
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("directory CSV: unknown column %q (want user_id, segment, team_id)", h)
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
		es = append(es, e)
	}
	return es, nil
}
