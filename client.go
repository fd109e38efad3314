package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"context"
	"crypto/tls"
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

	"golang.org/x/net/http/httpguts"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/redact"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/sameorigin"
)

// Why an export request failed: the error.type of the failed_requests
// metric and of the log lines.
const (
	attrErrorType = "error.type"

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
	classTLS          = "tls"
	classRedirect     = "redirect"
	classInvalid      = "invalid_request"
)

// fetchError is a failed export request. Its message never contains the token:
// the token only travels in the Authorization header.
type fetchError struct {
	class string
	// wait is how long the Hub asked us to wait (429, 5xx), 0 if it did
	// not say.
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

// retryable failures are retried within the poll with backoff. A malformed
// body is one of them: a proxy's error page is usually passing.
func (e *fetchError) retryable() bool {
	switch e.class {
	case classRateLimited, classServer, classTimeout, classTransport, classTruncated, classMalformed:
		return true
	}
	return false
}

// needsAction: the Hub refused us (token, permission, name, certificate,
// redirect); polling goes on, so a fix on that side takes effect without a
// restart.
func (e *fetchError) needsAction() bool {
	switch e.class {
	case classUnauthorized, classForbidden, classNotFound, classTLS, classRedirect:
		return true
	}
	return false
}

// permanent: the request can never succeed with this configuration.
func (e *fetchError) permanent() bool { return e.class == classInvalid }

// exportClient fetches the audit-log export and decodes it as a stream.
type exportClient struct {
	http         *http.Client
	exportURL    string
	organization string
	authHeader   string
	userAgent    string
	maxBytes     int64
	// secrets are what the requests carry that must not be shown: the
	// token, the values of http::headers and the proxy's credentials. An
	// error body that echoes them is shown without them.
	secrets redact.Secrets
	// invalid is set when no request can succeed (a header Go refuses to
	// send); export then fails at once instead of retrying.
	invalid *fetchError
}

// newExportClient sends token (already trimmed) with every request of
// client, and makes client refuse redirects that would carry it elsewhere.
func newExportClient(cfg *Config, client *http.Client, token, userAgent string) *exportClient {
	u := strings.TrimRight(cfg.Endpoint, "/") + "/api/organizations/" + url.PathEscape(cfg.Organization) + "/audit-log/export"
	if cfg.Query != "" {
		u += "?" + url.Values{"q": {cfg.Query}}.Encode()
	}
	client.CheckRedirect = sameOriginRedirects
	c := &exportClient{
		http:         client,
		exportURL:    u,
		organization: cfg.Organization,
		authHeader:   "Bearer " + token,
		userAgent:    userAgent,
		maxBytes:     cfg.MaxResponseSize,
	}
	c.secrets.Add(token)
	for _, value := range cfg.HTTP.Headers.Iter {
		if len(value) >= minSecretLen {
			c.secrets.Add(string(value))
		}
	}
	// A proxy that echoes the request shows its Proxy-Authorization.
	if p, err := url.Parse(cfg.HTTP.ProxyURL); err == nil && p.User != nil {
		if pass, ok := p.User.Password(); ok {
			c.secrets.AddBasic(p.User.Username(), pass)
			if len(pass) >= minSecretLen {
				c.secrets.Add(pass)
			}
		}
	}
	if !httpguts.ValidHeaderFieldValue(c.authHeader) {
		c.invalid = &fetchError{class: classInvalid, msg: `the token cannot be sent in an HTTP header (it has white space or control characters inside it); set "token" to the token alone`}
	}
	return c
}

// errCrossOriginRedirect: the token is only for the configured endpoint.
var errCrossOriginRedirect = errors.New("redirect to another origin refused")

// sameOriginRedirects follows a redirect only within the endpoint's
// origin, so the Authorization header never reaches another server, nor
// the same one over plain http.
var sameOriginRedirects = sameorigin.CheckRedirect(func(to *url.URL) error {
	return fmt.Errorf("%w: %s://%s", errCrossOriginRedirect, to.Scheme, to.Host)
})

// exportRead is what export returns besides the elements.
type exportRead struct {
	// quotaReset: how long until the rate-limit window resets, when the
	// response shows it used up (else 0).
	quotaReset time.Duration
	// skipped: the covered elements stepped over as runs the memo knew
	// (see runs.go); skippedCovers: one of them covers.
	skipped       int
	skippedCovers bool
	// runs: the runs this read saw, for the memo (nil without one).
	runs *coveredRuns
}

// export calls the endpoint once and hands the elements of the returned
// array to each, in the order of the body, with the raw values of its _id
// and createdAt (nil when the scanner could not read them as plain strings).
// each judges the element. Runs of covered elements that memo (nil: none)
// knows are stepped over instead. The slices are only valid during the
// call.
func (c *exportClient) export(ctx context.Context, memo *runMemo, each func(raw, id, createdAt []byte) verdict) (exportRead, error) {
	var read exportRead
	if c.invalid != nil {
		return read, c.invalid
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.exportURL, http.NoBody)
	if err != nil {
		return read, &fetchError{class: classInvalid, msg: "building the export request", err: err}
	}
	req.Header.Set("Authorization", c.authHeader)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	// Asked for explicitly, so that Go's transport leaves the body
	// compressed and gunzip (faster than the transport's) decompresses it.
	req.Header.Set("Accept-Encoding", "gzip")

	resp, err := c.http.Do(req)
	if err != nil {
		return read, c.transportError(ctx, "requesting the audit-log export", err)
	}
	defer func() {
		// Drain a little so the connection can be reused, then close.
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
		resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return read, c.statusError(resp)
	}

	var src io.Reader = resp.Body
	if isGzipped(resp.Header) {
		zr, err := gunzip(resp.Body)
		if err != nil {
			return read, c.bodyError(ctx, &limitedReader{}, 0, err)
		}
		defer zr.Close()
		src = zr
	}
	// max_response_size bounds the decompressed body.
	body := &limitedReader{r: src, left: c.maxBytes}
	read, n, err := readElements(body, memo, each)
	if err != nil {
		return read, c.bodyError(ctx, body, n, err)
	}
	read.quotaReset = quotaReset(resp.Header)
	return read, nil
}

// readElements reads the array in r to its end (a gzip trailer's checksum
// is checked before io.EOF), handing each element to each and stepping over
// the runs memo knows. It returns how many elements it read or stepped over.
func readElements(r io.Reader, memo *runMemo, each func(raw, id, createdAt []byte) verdict) (read exportRead, n int, err error) {
	scanner := newArrayScanner(r)
	var runs *runReader
	if memo != nil {
		runs = memo.reader(scanner)
	}
	for {
		raw, id, createdAt, err := scanner.next()
		if err == io.EOF {
			if runs != nil {
				read.runs = runs.done()
			}
			return read, n, nil
		}
		if err != nil {
			return read, n, err
		}
		n++
		v := each(raw, id, createdAt)
		if runs != nil {
			skipped, skippedCovers := runs.element(id, v)
			n += skipped
			read.skipped += skipped
			read.skippedCovers = read.skippedCovers || skippedCovers
		}
	}
}

// tokenOwner is the token's user as whoami-v2 names it. id stays the same
// when the user is renamed; name does not.
type tokenOwner struct {
	ID, Name string
}

// whoami asks the Hub which user owns the token, so the receiver can tell its
// own export events apart.
func (c *exportClient) whoami(ctx context.Context, endpoint string) (tokenOwner, error) {
	var who tokenOwner
	if c.invalid != nil {
		return who, c.invalid
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(endpoint, "/")+"/api/whoami-v2", http.NoBody)
	if err != nil {
		return who, err
	}
	req.Header.Set("Authorization", c.authHeader)
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return who, stripURL(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return who, fmt.Errorf("whoami-v2 answered %d%s", resp.StatusCode, c.hubErrorDetail(resp))
	}
	// The id is optional: one of another type is ignored, not an error.
	var answer struct {
		ID   json.RawMessage `json:"id"`
		Name string          `json:"name"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&answer); err != nil {
		return who, fmt.Errorf("whoami-v2 answer is not JSON: %w", err)
	}
	if answer.Name == "" {
		return who, errors.New("whoami-v2 answer has no name")
	}
	who.Name = answer.Name
	_ = json.Unmarshal(answer.ID, &who.ID)
	return who, nil
}

func (c *exportClient) transportError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	err = stripURL(err)
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, errCrossOriginRedirect):
		return &fetchError{class: classRedirect, msg: what + ": the Hub redirected to another origin and the token is not sent there; set endpoint to the URL the Hub answers on", err: err}
	case errors.As(err, &certErr):
		return &fetchError{class: classTLS, msg: what + ": the Hub's TLS certificate is not trusted; for a private CA set http::tls::ca_file", err: err}
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return &fetchError{class: classTimeout, msg: what + " timed out (raise http::timeout if the export is large)", err: err}
	}
	return &fetchError{class: classTransport, msg: what + " failed", err: err}
}

func (c *exportClient) bodyError(ctx context.Context, body *limitedReader, n int, err error) error {
	var syntaxErr *syntaxError
	switch {
	case body.exceeded:
		return &fetchError{class: classTooLarge, msg: fmt.Sprintf("the export of %s is larger than max_response_size (%d bytes); raise max_response_size or narrow it with query", c.organization, c.maxBytes)}
	case isGzipError(err):
		return &fetchError{class: classMalformed, msg: fmt.Sprintf("the export of %s is not valid gzip (after %d events)", c.organization, n), err: err}
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
	detail := c.hubErrorDetail(resp)
	org := c.organization
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized:
		return &fetchError{class: classUnauthorized, msg: "401 from the Hub: the token is missing, invalid or expired; create a new token at https://huggingface.co/settings/tokens and set it in the receiver's token" + detail}
	case code == http.StatusForbidden:
		return &fetchError{class: classForbidden, msg: fmt.Sprintf("403 from the Hub: the token may not export the audit log of %s; use an organization admin's token with read access to the organization, or a service account's token with the permissions the Hub asks for; audit logs need a Team or Enterprise plan%s", org, detail)}
	case code == http.StatusNotFound:
		return &fetchError{class: classNotFound, msg: fmt.Sprintf("404 from the Hub: no organization %q, or the token's user cannot see it; check the organization name and the endpoint%s", org, detail)}
	case code == http.StatusTooManyRequests:
		return rateLimitedError(resp.Header, detail)
	case code >= 500:
		// A 503 often says when to come back; sooner would be wasted.
		if wait := serverErrorWait(resp.Header, time.Now()); wait > 0 {
			return &fetchError{class: classServer, wait: wait, msg: fmt.Sprintf("%d from the Hub: server error, the Hub asks to retry in %s (capped at max(poll_interval, 15m))%s", code, wait, detail)}
		}
		return &fetchError{class: classServer, msg: fmt.Sprintf("%d from the Hub: server error, will retry%s", code, detail)}
	default:
		return &fetchError{class: classClient, msg: fmt.Sprintf("%d from the Hub for the audit-log export of %s%s", code, org, detail)}
	}
}

// minSecretLen: shorter http::headers values are not taken for secrets
// (redacting "1" or "gzip" would garble the message, and reveal nothing).
const minSecretLen = 8

// hubErrorDetail reads the Hub's {"error": "..."} body, bounded and
// decompressed, for the log. A proxy or a Hub that echoes the request back
// would put the token in it: the secrets are cut out before anything is
// shown.
func (c *exportClient) hubErrorDetail(resp *http.Response) string {
	body := io.LimitReader(resp.Body, 64<<10)
	if isGzipped(resp.Header) {
		zr, err := gunzip(body)
		if err != nil {
			return " (the Hub's error body is not readable gzip)"
		}
		defer zr.Close()
		body = zr
	}
	b, _ := io.ReadAll(io.LimitReader(body, 4<<10))
	var hubErr struct {
		Error string `json:"error"`
	}
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &hubErr) == nil && hubErr.Error != "" {
		msg = hubErr.Error
	}
	msg = c.secrets.Cut(msg)
	if msg == "" {
		return ""
	}
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:200], "") + "..."
	}
	return " (the Hub said: " + strconv.Quote(msg) + ")"
}

// isGzipped: the body is gzip-compressed.
func isGzipped(h http.Header) bool {
	return strings.EqualFold(strings.TrimSpace(h.Get("Content-Encoding")), "gzip")
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
