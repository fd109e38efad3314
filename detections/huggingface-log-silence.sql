-- Log silence, two signals per organization:
--   activity:  gaps of >= silence_hours between consecutive events (the
--              collector's own exports excluded);
--   heartbeat: gaps of >= heartbeat_minutes between consecutive exports of
--              the collector itself (tags['self_export']): the Hub writes one
--              per poll, every poll_interval, so a gap means polls that never
--              reached the Hub (collector down, token broken, network cut),
--              whatever the organization's own activity. Organizations
--              without self exports (drop_self_exports) have no heartbeat.
-- A gap is reported when an event judged in this run closes it, or while it
-- is still going on at {to}.
--
-- Framing (README, "Writing a detection"): the events received in [from, to)
-- are judged; the event before each (by eventTime, whatever its arrival) is
-- looked up to lookback_days back. An ongoing silence is judged at {to}, every
-- run: its dedup_key is the last event before it, the same key as the gap
-- once an event closes it, so it is reported once.
WITH stream AS (
    SELECT workspaceID, id, authorUser, eventTime, receivedAt,
           if(tags['self_export'] = 'true', 'heartbeat', 'activity') AS kind
    FROM huggingface_logs FINAL
    WHERE receivedAt < {to:DateTime}
),
judged AS (
    SELECT workspaceID, kind, min(eventTime) AS lo
    FROM stream
    WHERE receivedAt >= {from:DateTime}
    GROUP BY workspaceID, kind
),
events AS (
    SELECT s.workspaceID AS workspaceID, s.kind AS kind, s.id AS id, s.authorUser AS authorUser, s.eventTime AS eventTime,
           s.receivedAt >= {from:DateTime} AS judged
    FROM stream AS s
    LEFT JOIN judged AS j ON s.workspaceID = j.workspaceID AND s.kind = j.kind
    WHERE dateDiff('second', s.eventTime, if(j.workspaceID = '', {to:DateTime}, least(j.lo, {to:DateTime}))) <= {lookback_days:UInt32} * 86400
),
gaps AS (
    SELECT workspaceID, kind, id, authorUser, eventTime,
           leadInFrame(toNullable(eventTime)) OVER w AS next_time,
           leadInFrame(toNullable(id)) OVER w AS next_id,
           leadInFrame(judged, 1, false) OVER w AS next_judged,
           if(kind = 'heartbeat', {heartbeat_minutes:UInt32} * 60, {silence_hours:UInt32} * 3600) AS limit_seconds
    FROM events
    WINDOW w AS (PARTITION BY workspaceID, kind ORDER BY eventTime, id ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING)
)
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    length(event_ids) AS event_count,
    arraySort(arrayFilter(x -> x != '', [id, ifNull(next_id, '')])) AS event_ids,
    eventTime AS first_seen,
    ifNull(next_time, {to:DateTime}) AS last_seen,
    if(kind = 'heartbeat', 'heartbeat_missing', 'activity_silence') AS reason,
    round(dateDiff('second', first_seen, last_seen) / 3600, 1) AS silent_hours,
    next_time IS NULL AS ongoing,
    concatWithSeparator('|', 'huggingface-log-silence', organization, reason,
        formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM gaps
WHERE dateDiff('second', eventTime, ifNull(next_time, {to:DateTime})) >= limit_seconds
  AND (next_judged OR (next_time IS NULL AND dateDiff('second', eventTime, {to:DateTime}) <= {lookback_days:UInt32} * 86400))
ORDER BY organization, first_seen
