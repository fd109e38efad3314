package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Failure classes, as counted by the http_errors metric.
const (
	classRateLimited  = "rate_limited"
	classServer       = "server"
	classTimeout      = "timeout"
	classTransport    = "transport"
	classTruncated    = "truncated"
	classMalformed    = "malformed"
	classTooLarge     = "too_large"
	classUnauthorized = "unauthorized"
	classForbidden    = "forbidden"
	classNotFound     = "not_found"
	classClient       = "client"
)

// fetchError is a failed export request. Its message never contains the token:
// the token only travels in the Authorization header.
type fetchError struct {
	class string
	// wait is how long the Hub asked us to wait (429), 0 if it did not say.
	wait time.Duration
	msg  string
	err  error
}

func (e *fetchError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *fetchError) Unwrap() error { return e.err }

// retryable failures are retried within the poll with backoff.
func (e *fetchError) retryable() bool {
	switch e.class {
	case classRateLimited, classServer, classTimeout, classTransport, classTruncated:
		return true
	}
	return false
}

// permanent failures need the user to act (token, permission, name).
func (e *fetchError) permanent() bool {
	switch e.class {
	case classUnauthorized, classForbidden, classNotFound:
		return true
	}
	return false
}

// exportClient fetches the audit-log export and decodes it as a stream.
type exportClient struct {
	http         *http.Client
	exportURL    string
	organization string
	authHeader   string
	userAgent    string
	maxBytes     int64
}

func newExportClient(cfg *Config, client *http.Client, userAgent string) *exportClient {
	u := strings.TrimRight(cfg.Endpoint, "/") + "/api/organizations/" + url.PathEscape(cfg.Organization) + "/audit-log/export"
	if cfg.Query != "" {
		u += "?" + url.Values{"q": {cfg.Query}}.Encode()
	}
	return &exportClient{
		http:         client,
		exportURL:    u,
		organization: cfg.Organization,
		authHeader:   "Bearer " + string(cfg.Token),
		userAgent:    userAgent,
		maxBytes:     cfg.MaxResponseSize,
	}
}

// export calls the endpoint once and hands every element of the returned
// array to each, in the order of the body, with the raw values of its _id
// and createdAt (nil when the scanner could not read them as plain strings).
// The slices are only valid during the call.
func (c *exportClient) export(ctx context.Context, each func(raw, id, createdAt []byte)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.exportURL, http.NoBody)
	if err != nil {
		return fmt.Errorf("building the export request: %w", err)
	}
	req.Header.Set("Authorization", c.authHeader)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)

	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(ctx, "requesting the audit-log export", err)
	}
	defer func() {
		// Drain a little so the connection can be reused, then close.
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
		resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return c.statusError(resp)
	}

	body := &limitedReader{r: resp.Body, left: c.maxBytes}
	scanner := newArrayScanner(body)
	n := 0
	for {
		raw, id, createdAt, err := scanner.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return c.bodyError(ctx, body, n, err)
		}
		n++
		each(raw, id, createdAt)
	}
}

// whoami asks the Hub which user owns the token, so the receiver can tell its
// own export events apart. Best effort: any failure returns "".
func (c *exportClient) whoami(ctx context.Context, endpoint string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(endpoint, "/")+"/api/whoami-v2", http.NoBody)
	if err != nil {
		return ""
	}
	req.Header.Set("Authorization", c.authHeader)
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	var who struct {
		Name string `json:"name"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&who) != nil {
		return ""
	}
	return who.Name
}

func (c *exportClient) transportError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	err = stripURL(err)
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return &fetchError{class: classTimeout, msg: what + " timed out (raise http::timeout if the export is large)", err: err}
	}
	return &fetchError{class: classTransport, msg: what + " failed", err: err}
}

func (c *exportClient) bodyError(ctx context.Context, body *limitedReader, n int, err error) error {
	var syntaxErr *syntaxError
	switch {
	case body.exceeded:
		return &fetchError{class: classTooLarge, msg: fmt.Sprintf("the export of %s is larger than max_response_size (%d bytes); raise max_response_size or narrow it with query", c.organization, c.maxBytes)}
	case errors.Is(err, errNotArray):
		return &fetchError{class: classMalformed, msg: fmt.Sprintf("the export of %s is not a JSON array; is the endpoint a Hugging Face Hub?", c.organization)}
	case errors.As(err, &syntaxErr):
		return &fetchError{class: classMalformed, msg: fmt.Sprintf("the export of %s is not valid JSON (after %d events)", c.organization, n), err: err}
	case errors.Is(err, io.ErrUnexpectedEOF) && body.complete:
		// The whole body arrived and stops mid-value: the Hub sent bad JSON.
		return &fetchError{class: classMalformed, msg: fmt.Sprintf("the export of %s is not valid JSON: it ends in the middle of a value (after %d events)", c.organization, n), err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &fetchError{class: classTruncated, msg: fmt.Sprintf("the export of %s was cut off after %d events", c.organization, n), err: err}
	}
	return c.transportError(ctx, fmt.Sprintf("reading the export of %s (after %d events)", c.organization, n), err)
}

func (c *exportClient) statusError(resp *http.Response) error {
	detail := hubErrorDetail(resp.Body)
	org := c.organization
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized:
		return &fetchError{class: classUnauthorized, msg: "401 from the Hub: the token is missing, invalid or expired; create a new token at https://huggingface.co/settings/tokens and set it in the receiver's token" + detail}
	case code == http.StatusForbidden:
		return &fetchError{class: classForbidden, msg: fmt.Sprintf("403 from the Hub: the token needs the org.auditLog.write permission on %s (org admins have it), and audit logs need a Team or Enterprise plan%s", org, detail)}
	case code == http.StatusNotFound:
		return &fetchError{class: classNotFound, msg: fmt.Sprintf("404 from the Hub: no organization %q, or the token's user cannot see it; check the organization name and the endpoint%s", org, detail)}
	case code == http.StatusTooManyRequests:
		return rateLimitedError(resp.Header, detail)
	case code >= 500:
		return &fetchError{class: classServer, msg: fmt.Sprintf("%d from the Hub: server error, will retry%s", code, detail)}
	default:
		return &fetchError{class: classClient, msg: fmt.Sprintf("%d from the Hub for the audit-log export of %s%s", code, org, detail)}
	}
}

// hubErrorDetail reads the Hub's {"error": "..."} body, bounded, for the log.
func hubErrorDetail(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, 4<<10))
	var hubErr struct {
		Error string `json:"error"`
	}
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &hubErr) == nil && hubErr.Error != "" {
		msg = hubErr.Error
	}
	if msg == "" {
		return ""
	}
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return " (the Hub said: " + strconv.Quote(msg) + ")"
}

// stripURL drops the *url.Error wrapper: its text repeats the request URL,
// which is noise in every log line (the token is never in it).
func stripURL(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err
	}
	return err
}

// limitedReader fails once more than left bytes were read. complete records
// that the body ended cleanly (a cut connection ends with another error).
type limitedReader struct {
	r        io.Reader
	left     int64
	exceeded bool
	complete bool
}

var errTooLarge = errors.New("response larger than max_response_size")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.exceeded {
		return 0, errTooLarge
	}
	// Ask for one byte past the limit, to tell "exactly the limit" from "more".
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		l.exceeded = true
		return 0, errTooLarge
	}
	l.left -= int64(n)
	l.complete = err == io.EOF
	return n, err
}
