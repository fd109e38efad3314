// Package redact cuts secrets out of text a server may have echoed from a
// request (an error body that repeats the headers), for the receiver's Hub
// client and for the ClickHouse client of the command-line tools.
package redact // import "github.com/hfauditlog/huggingfaceauditreceiver/internal/redact"

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

// Mark replaces a secret.
const Mark = "[REDACTED]"

// minPrefix: text that ends in this much of a secret's start was cut
// inside it.
const minPrefix = 4

// Secrets are the forms in which a request's secrets may come back.
type Secrets struct {
	forms []string
}

// Add records secret as sent, and as an echo may escape it: in JSON (with
// and without HTML escaping: '&', '<', '>', quotes) and in a URL query.
func (s *Secrets) Add(secret string) {
	s.add(secret)
	for _, escapeHTML := range []bool{true, false} {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(escapeHTML)
		_ = enc.Encode(secret) // a quoted string and a newline
		quoted := strings.TrimSpace(b.String())
		s.add(quoted[1 : len(quoted)-1])
	}
	s.add(url.QueryEscape(secret))
}

// AddBasic records the Basic credentials of user and password, as an
// Authorization or Proxy-Authorization header carries them.
func (s *Secrets) AddBasic(user, password string) {
	s.add(base64.StdEncoding.EncodeToString([]byte(user + ":" + password)))
}

func (s *Secrets) add(form string) {
	if form != "" && !slices.Contains(s.forms, form) {
		s.forms = append(s.forms, form)
	}
}

// Cut replaces each secret in text with Mark, and the start of one that
// text ends in (a body cut inside an echoed secret).
func (s *Secrets) Cut(text string) string {
	for _, form := range s.forms {
		text = strings.ReplaceAll(text, form, Mark)
		for n := len(form) - 1; n >= minPrefix; n-- {
			if strings.HasSuffix(text, form[:n]) {
				text = text[:len(text)-n] + Mark
				break
			}
		}
	}
	return text
}
