package clickhouse // import "github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Target is a ClickHouse HTTP interface to apply the statements to.
type Target struct {
	// DSN is http(s)://[user[:password]@]host:port[/][?settings]. Query
	// parameters are passed through as ClickHouse settings.
	DSN string
	// User and Password override the ones in DSN when non-empty.
	User, Password string
	// Client is the HTTP client; nil means http.DefaultClient.
	Client *http.Client
}

// Endpoint returns the DSN without user information, safe to print.
func (t Target) Endpoint() string {
	u, err := url.Parse(t.DSN)
	if err != nil {
		return "(invalid DSN)"
	}
	u.User = nil
	return u.String()
}

// Result describes one applied statement.
type Result struct {
	// Statement is the first line of the statement.
	Statement string
	// Summary is ClickHouse's X-ClickHouse-Summary header, when sent.
	Summary string
}

// Apply POSTs the statements for o to t one by one and stops at the first
// error, which carries ClickHouse's error text. done, when non-nil, is
// called after each successful statement.
func Apply(ctx context.Context, t Target, o Options, done func(Result)) error {
	u, err := url.Parse(t.DSN)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("dsn %q: want http(s)://[user:password@]host:8123", t.Endpoint())
	}
	user, pass := t.User, t.Password
	if u.User != nil {
		if user == "" {
			user = u.User.Username()
		}
		if p, ok := u.User.Password(); ok && pass == "" {
			pass = p
		}
	}
	u.User = nil
	if u.Path == "" {
		u.Path = "/"
	}
	client := t.Client
	if client == nil {
		client = http.DefaultClient
	}
	for _, stmt := range StatementsFor(o) {
		first, _, _ := strings.Cut(stmt, "\n")
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(stmt))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		if user != "" || pass != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // the URL is printed once, by the caller
			}
			return fmt.Errorf("%s: %w", first, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg := strings.TrimSpace(string(body))
			if msg == "" {
				msg = resp.Status
			}
			return fmt.Errorf("%s: HTTP %d: %s", first, resp.StatusCode, msg)
		}
		if done != nil {
			done(Result{Statement: first, Summary: resp.Header.Get("X-ClickHouse-Summary")})
		}
	}
	return nil
}
