package redact

import (
	"encoding/base64"
	"strings"
	"testing"
)

// Every form in which an echo may carry a secret is cut, and so is the
// start of one that a cut-off body ends in; other text is left alone.
func TestCut(t *testing.T) {
	const secret = "s3cr&t<pass>word"
	var s Secrets
	s.Add(secret)
	s.AddBasic("admin", secret)
	for _, echoed := range []string{
		"header: " + secret,
		`{"h":"s3cr\u0026t\u003cpass\u003eword"}`,
		`{"h":"s3cr&t<pass>word"}`,
		"?password=s3cr%26t%3Cpass%3Eword",
		"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+secret)),
		"cut inside: " + secret[:6],
	} {
		got := s.Cut(echoed)
		if strings.Contains(got, "s3cr") || !strings.Contains(got, Mark) {
			t.Errorf("Cut(%q) = %q", echoed, got)
		}
	}
	if got := s.Cut("nothing to hide, s3c"); got != "nothing to hide, s3c" {
		t.Errorf("a start shorter than minPrefix was cut: %q", got)
	}
}
