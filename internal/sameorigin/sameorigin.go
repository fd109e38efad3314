// Package sameorigin keeps what a request carries (a token, an API key, a
// secret URL in the Referer) with the origin it was meant for when the
// server redirects, for the receiver and for hfauditdetect's channels.
package sameorigin // import "github.com/hfauditlog/huggingfaceauditreceiver/internal/sameorigin"

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// CheckRedirect is an http.Client.CheckRedirect that follows a redirect
// only to the first request's scheme, host and port. (Go itself forwards
// Authorization to the same host on any port and to subdomains, and other
// headers and the Referer anywhere.) refused says why one that leaves is
// not followed.
func CheckRedirect(refused func(to *url.URL) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if Origin(req.URL) != Origin(via[0].URL) {
			return refused(req.URL)
		}
		return nil
	}
}

// Origin is scheme://host:port with the scheme's default port made
// explicit, so https://huggingface.co and https://huggingface.co:443 are
// one origin.
func Origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}
