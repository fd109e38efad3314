-- Log silence: gaps of >= silence_hours between consecutive events of an
-- organization (its own export calls excluded) that end within the range, or
-- a silence still going on at {to}.
WITH events AS (
    SELECT workspaceID, id, authorUser, eventTime
    FROM huggingface_logs FINAL
    WHERE eventTime >= {to:DateTime} - toIntervalDay({lookback_days:UInt32}) AND eventTime < {to:DateTime}
      AND tags['self_export'] != 'true'
),
gaps AS (
    SELECT workspaceID, id, authorUser, eventTime,
           leadInFrame(toNullable(eventTime)) OVER w AS next_time,
           leadInFrame(toNullable(id)) OVER w AS next_id
    FROM events
    WINDOW w AS (PARTITION BY workspaceID ORDER BY eventTime, id ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING)
)
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    length(event_ids) AS event_count,
    arrayFilter(x -> x != '', [id, ifNull(next_id, '')]) AS event_ids,
    eventTime AS first_seen,
    ifNull(next_time, {to:DateTime}) AS last_seen,
    round(dateDiff('second', first_seen, last_seen) / 3600, 1) AS silent_hours,
    next_time IS NULL AS ongoing
FROM gaps
WHERE dateDiff('second', eventTime, ifNull(next_time, {to:DateTime})) >= {silence_hours:UInt32} * 3600
  AND ifNull(next_time, {to:DateTime}) > {from:DateTime}
ORDER BY organization, first_seen
