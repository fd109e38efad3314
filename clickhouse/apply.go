package clickhouse // import "github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/redact"
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

// Endpoint returns the DSN without user information, safe to print. A
// query that does not parse is left out (a password in it may not be
// found), and a DSN that still has an '@' (a typo such as "http:/u:pw@h",
// or a '/' or '#' in a password) is not shown at all.
func (t Target) Endpoint() string {
	u, err := url.Parse(t.DSN)
	if err != nil {
		return "(invalid DSN)"
	}
	u.User = nil
	switch q, err := url.ParseQuery(u.RawQuery); {
	case err != nil:
		u.RawQuery = "(query not shown)"
	case q.Has("password"):
		q.Set("password", "redacted")
		u.RawQuery = q.Encode()
	}
	shown := u.String()
	if strings.Contains(shown, "@") {
		return "(DSN not shown: it has an '@' outside its user information; check its form, http(s)://user:password@host:8123)"
	}
	return shown
}

// Result describes one applied statement.
type Result struct {
	// Statement is the first line of the statement.
	Statement string
	// Summary is ClickHouse's X-ClickHouse-Summary header, when sent.
	Summary string
}

// Apply reads what t holds, then POSTs the statements for o one by one and
// stops at the first error, which carries ClickHouse's error text. On a
// table with an older sorting key it runs MigrationStatements. It refuses a
// logs table whose attributes are not Maps (the exporter's `json: true`).
// done, when non-nil, is called after each successful statement.
func Apply(ctx context.Context, t Target, o Options, done func(Result)) error {
	if _, _, _, err := t.resolve(); err != nil {
		return err
	}
	o = o.withDefaults()
	st, err := inspect(ctx, t, o)
	if err != nil {
		return fmt.Errorf("reading the current schema: %w", err)
	}
	stmts, err := plan(o, st)
	if err != nil {
		return err
	}
	return applyStatements(ctx, t, stmts, done)
}

// applyStatements POSTs stmts to t one by one, as Apply describes.
func applyStatements(ctx context.Context, t Target, stmts []string, done func(Result)) error {
	if _, _, _, err := t.resolve(); err != nil {
		return err
	}
	for _, stmt := range stmts {
		first, _, _ := strings.Cut(stmt, "\n")
		_, header, err := t.post(ctx, stmt, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", first, err)
		}
		if done != nil {
			done(Result{Statement: first, Summary: header.Get("X-ClickHouse-Summary")})
		}
	}
	return nil
}

// Query POSTs one statement to t and returns the body of the answer. params
// are added to the URL: query parameters as param_NAME=VALUE (for
// {NAME:Type} in sql), settings, or default_format. An error carries
// ClickHouse's error text and never the DSN's user information.
func (t Target) Query(ctx context.Context, sql string, params url.Values) ([]byte, error) {
	body, _, err := t.post(ctx, sql, params)
	return body, err
}

// ServerError is an answer other than 200 from ClickHouse: the server was
// reached and refused the statement (a syntax error, an unknown table,
// failed authentication).
type ServerError struct {
	Status  int
	Message string // ClickHouse's error text, or the HTTP status
}

func (e *ServerError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message) }

// resolve splits the DSN into the URL to POST to (without user information)
// and the credentials: User and Password when set, else the DSN's.
func (t Target) resolve() (u *url.URL, user, pass string, err error) {
	u, err = url.Parse(t.DSN)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", "", fmt.Errorf("dsn %q: want http(s)://[user:password@]host:8123", t.Endpoint())
	}
	user, pass = t.User, t.Password
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
	return u, user, pass, nil
}

func (t Target) post(ctx context.Context, sql string, params url.Values) ([]byte, http.Header, error) {
	u, user, pass, err := t.resolve()
	if err != nil {
		return nil, nil, err
	}
	if len(params) > 0 {
		q := u.Query()
		for k, v := range params {
			q[k] = v
		}
		u.RawQuery = q.Encode()
	}
	client := t.Client
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(sql))
	if err != nil {
		return nil, nil, err
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
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		msg := strings.TrimSpace(string(body))
		if msg == "" {
			msg = resp.Status
		}
		return nil, nil, &ServerError{Status: resp.StatusCode, Message: cutPasswords(msg, user, pass, u.Query().Get("password"))}
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	return body, resp.Header, nil
}

// cutPasswords cuts the passwords (in the Basic credentials, and a password
// setting) out of msg: a proxy in front of ClickHouse may echo the
// request. A password under 4 characters is cut only from the Basic
// credentials: cutting it everywhere would garble the message.
func cutPasswords(msg, user string, passwords ...string) string {
	var secrets redact.Secrets
	for _, p := range passwords {
		if p == "" {
			continue
		}
		secrets.AddBasic(user, p)
		if len(p) >= 4 {
			secrets.Add(p)
		}
	}
	return secrets.Cut(msg)
}
