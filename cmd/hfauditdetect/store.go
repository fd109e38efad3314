package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"
)

// store is the watcher's state in ClickHouse (clickhouse/huggingface_findings.sql):
// the findings, a checkpoint per detection, and what each channel was sent.
type store struct {
	target   clickhouse.Target
	database string
}

func (s store) table(name string) string {
	return "`" + strings.ReplaceAll(s.database, "`", "\\`") + "`.`" + name + "`"
}

// query runs sql with the query parameters params (param_ added).
func (s store) query(ctx context.Context, sql string, params map[string]string) ([]byte, error) {
	v := url.Values{"database": {s.database}}
	for k, val := range params {
		v.Set("param_"+k, val)
	}
	return s.target.Query(ctx, sql, v)
}

// checkpoint returns where name's next run starts; ok is false when name
// never completed a run.
func (s store) checkpoint(ctx context.Context, name string) (cp time.Time, ok bool, err error) {
	body, err := s.query(ctx, "SELECT toUnixTimestamp(checkpoint) FROM "+s.table(clickhouse.CheckpointsTable)+
		" FINAL WHERE detection = {name:String} FORMAT TSV", map[string]string{"name": name})
	if err != nil {
		return time.Time{}, false, err
	}
	line := strings.TrimSpace(string(body))
	if line == "" {
		return time.Time{}, false, nil
	}
	sec, err := strconv.ParseInt(line, 10, 64)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("checkpoint of %s: %q is not a time", name, line)
	}
	return time.Unix(sec, 0).UTC(), true, nil
}

// serverNow is ClickHouse's clock: receivedAt and found_at come from it
// (now() at insert), so a range judged on the watcher's own clock would
// skip the rows of a server whose clock runs behind by more than settle.
func (s store) serverNow(ctx context.Context) (time.Time, error) {
	body, err := s.query(ctx, "SELECT toUnixTimestamp(now()) FORMAT TSV", nil)
	if err != nil {
		return time.Time{}, err
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("ClickHouse's now(): %q is not a time", strings.TrimSpace(string(body)))
	}
	return time.Unix(sec, 0).UTC(), nil
}

// saveCheckpoint records that name judged everything before cp.
func (s store) saveCheckpoint(ctx context.Context, name string, cp time.Time) error {
	_, err := s.query(ctx, "INSERT INTO "+s.table(clickhouse.CheckpointsTable)+" (detection, checkpoint) SELECT {name:String}, toDateTime({cp:Int64})",
		map[string]string{"name": name, "cp": strconv.FormatInt(cp.Unix(), 10)})
	return err
}

// storedRow is one row of huggingface_findings as the watcher writes it.
type storedRow struct {
	DedupKey   string            `json:"dedup_key"`
	Detection  string            `json:"detection"`
	Severity   string            `json:"severity"`
	RiskScore  int               `json:"risk_score"`
	Mitre      mitre             `json:"mitre"`
	Org        string            `json:"organization"`
	Actor      string            `json:"actor"`
	EventCount uint64            `json:"event_count"`
	EventIDs   []string          `json:"event_ids"`
	FirstSeen  json.RawMessage   `json:"first_seen"`
	LastSeen   json.RawMessage   `json:"last_seen"`
	JudgedFrom int64             `json:"judged_from"`
	JudgedTo   int64             `json:"judged_to"`
	Notify     bool              `json:"notify"`
	Details    map[string]string `json:"details"`
	Payload    string            `json:"payload"`
}

// knownBatch bounds the keys of one lookup: they travel in the URL, and
// ClickHouse refuses one longer than http_max_uri_size (1 MiB).
const knownBatch = 64 << 10

// known returns which of keys are already in huggingface_findings.
func (s store) known(ctx context.Context, keys []string) (map[string]bool, error) {
	out := map[string]bool{}
	for len(keys) > 0 {
		n, size := 0, 0
		for n < len(keys) && (n == 0 || size+len(keys[n]) < knownBatch) {
			size += len(keys[n])
			n++
		}
		body, err := s.query(ctx, "SELECT DISTINCT dedup_key FROM "+s.table(clickhouse.FindingsTable)+
			" WHERE has({keys:Array(String)}, dedup_key) FORMAT TSV", map[string]string{"keys": arrayLiteral(keys[:n])})
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(body), "\n") {
			if line != "" {
				out[line] = true
			}
		}
		keys = keys[n:]
	}
	return out, nil
}

// arrayLiteral writes keys as a ClickHouse Array(String) literal, quoting
// each with single quotes and escaping backslashes and quotes.
func arrayLiteral(keys []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(k) + "'")
	}
	b.WriteByte(']')
	return b.String()
}

// insertFindings writes rows (new findings and findings found again: the
// newer version replaces the older one).
func (s store) insertFindings(ctx context.Context, rows []storedRow) error {
	lines := make([][]byte, 0, len(rows))
	for _, r := range rows {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		lines = append(lines, b)
	}
	return s.target.Insert(ctx, "INSERT INTO "+s.table(clickhouse.FindingsTable)+
		" (dedup_key, detection, severity, risk_score, mitre, organization, actor, event_count, event_ids, first_seen, last_seen, judged_from, judged_to, notify, details, payload)"+
		" FORMAT JSONEachRow", lines)
}

// pendingFinding is a finding still to be sent to a channel.
type pendingFinding struct {
	DedupKey  string `json:"dedup_key"`
	Detection string `json:"detection"`
	Payload   string `json:"payload"`
}

// pending returns the findings to notify that channel has not acknowledged,
// found within maxAge: the detections' first, then the alerts, oldest first.
func (s store) pending(ctx context.Context, channel string, maxAge time.Duration, limit int) ([]pendingFinding, error) {
	body, err := s.query(ctx, "SELECT dedup_key, detection, payload FROM "+s.table(clickhouse.FindingsTable)+" FINAL"+
		" WHERE notify AND found_at >= now64(3) - toIntervalSecond({age:UInt32})"+
		" AND dedup_key NOT IN (SELECT dedup_key FROM "+s.table(clickhouse.DeliveriesTable)+" WHERE channel = {channel:String})"+
		" ORDER BY startsWith(detection, 'huggingface-alert-'), first_seen, dedup_key LIMIT {limit:UInt32}"+
		" FORMAT JSONEachRow",
		map[string]string{"age": strconv.Itoa(int(maxAge.Seconds())), "channel": channel, "limit": strconv.Itoa(limit)})
	if err != nil {
		return nil, err
	}
	out, err := clickhouse.DecodeRows[pendingFinding](body)
	if err != nil {
		return nil, fmt.Errorf("reading pending findings: %v", err)
	}
	return out, nil
}

// givenUpFinding is a finding a channel never acknowledged within maxAge.
type givenUpFinding struct {
	DedupKey  string `json:"dedup_key"`
	Detection string `json:"detection"`
	FoundMs   int64  `json:"found_ms"`
}

// givenUp returns the findings to notify that channel has not acknowledged,
// found more than maxAge ago and after the Unix ms after: those pending no
// longer returns.
func (s store) givenUp(ctx context.Context, channel string, maxAge time.Duration, after int64) ([]givenUpFinding, error) {
	body, err := s.query(ctx, "SELECT dedup_key, detection, toUnixTimestamp64Milli(found_at) AS found_ms FROM "+s.table(clickhouse.FindingsTable)+" FINAL"+
		" WHERE notify AND found_at < now64(3) - toIntervalSecond({age:UInt32}) AND toUnixTimestamp64Milli(found_at) > {after:Int64}"+
		" AND dedup_key NOT IN (SELECT dedup_key FROM "+s.table(clickhouse.DeliveriesTable)+" WHERE channel = {channel:String})"+
		" ORDER BY found_at, dedup_key FORMAT JSONEachRow",
		map[string]string{"age": strconv.Itoa(int(maxAge.Seconds())), "channel": channel, "after": strconv.FormatInt(after, 10)})
	if err != nil {
		return nil, err
	}
	out, err := clickhouse.DecodeRows[givenUpFinding](body)
	if err != nil {
		return nil, fmt.Errorf("reading given-up findings: %v", err)
	}
	return out, nil
}

// markSent records that channel acknowledged the finding (a 2xx).
func (s store) markSent(ctx context.Context, channel, key string) error {
	_, err := s.query(ctx, "INSERT INTO "+s.table(clickhouse.DeliveriesTable)+" (dedup_key, channel) SELECT {key:String}, {channel:String}",
		map[string]string{"key": key, "channel": channel})
	return err
}
