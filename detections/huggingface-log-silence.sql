-- Log silence: gaps of >= silence_hours between consecutive events of an
-- organization (its own export calls excluded) closed by an event judged in
-- this run, or a silence still going on at {to}.
--
-- Framing (README, "Writing a detection"): the events received in [from, to)
-- are judged; the event before each (by eventTime, whatever its arrival) is
-- looked up to lookback_days back. An ongoing silence is judged at {to}, every
-- run: its dedup_key is the last event before it, the same key as the gap
-- once an event closes it, so it is reported once.
WITH judged AS (
    SELECT workspaceID, min(eventTime) AS lo
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND tags['self_export'] != 'true'
    GROUP BY workspaceID
),
events AS (
    SELECT l.workspaceID AS workspaceID, l.id AS id, l.authorUser AS authorUser, l.eventTime AS eventTime,
           l.receivedAt >= {from:DateTime} AS judged
    FROM huggingface_logs AS l FINAL
    LEFT JOIN judged AS j ON l.workspaceID = j.workspaceID
    WHERE l.receivedAt < {to:DateTime} AND l.tags['self_export'] != 'true'
      AND dateDiff('second', l.eventTime, if(j.workspaceID = '', {to:DateTime}, least(j.lo, {to:DateTime}))) <= {lookback_days:UInt32} * 86400
),
gaps AS (
    SELECT workspaceID, id, authorUser, eventTime,
           leadInFrame(toNullable(eventTime)) OVER w AS next_time,
           leadInFrame(toNullable(id)) OVER w AS next_id,
           leadInFrame(judged, 1, false) OVER w AS next_judged
    FROM events
    WINDOW w AS (PARTITION BY workspaceID ORDER BY eventTime, id ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING)
)
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    length(event_ids) AS event_count,
    arraySort(arrayFilter(x -> x != '', [id, ifNull(next_id, '')])) AS event_ids,
    eventTime AS first_seen,
    ifNull(next_time, {to:DateTime}) AS last_seen,
    round(dateDiff('second', first_seen, last_seen) / 3600, 1) AS silent_hours,
    next_time IS NULL AS ongoing,
    concatWithSeparator('|', 'huggingface-log-silence', organization,
        formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM gaps
WHERE dateDiff('second', eventTime, ifNull(next_time, {to:DateTime})) >= {silence_hours:UInt32} * 3600
  AND (next_judged OR (next_time IS NULL AND dateDiff('second', eventTime, {to:DateTime}) <= {lookback_days:UInt32} * 86400))
ORDER BY organization, first_seen
