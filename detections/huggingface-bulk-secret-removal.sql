-- Bulk removal of secrets/variables: >= threshold keys removed by one actor
-- within any window_minutes-long span.
--
-- Framing as huggingface-mass-repo-deletion: bursts of removals no more than
-- window_minutes apart, one finding per burst with a window of >= threshold
-- keys holding a judged event; dedup_key is the burst's first removal.
-- Beside it, >= org_threshold keys removed by anyone in the organization
-- within org_window_hours (actor '(organization)', scope 'organization').
-- One actor is one author ID (the user name when the event has none): a
-- rename halfway through a burst does not split it. The finding shows the
-- burst's latest name, and its dedup_key holds the ID, so a rename between
-- two runs does not make the same burst a new finding.
WITH judged AS (
    SELECT workspaceID, if(authorID != '', authorID, authorUser) AS actorKey, min(eventTime) AS lo, max(eventTime) AS hi
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND eventName IN ('repo.remove_secret', 'repo.remove_secrets', 'repo.remove_variable', 'repo.remove_variables')
    GROUP BY workspaceID, actorKey
),
events AS (
    SELECT l.workspaceID AS workspaceID, if(l.authorID != '', l.authorID, l.authorUser) AS actorKey, l.authorUser AS authorUser, l.id AS id, l.eventTime AS eventTime, l.rawLog AS rawLog,
           l.receivedAt >= {from:DateTime} AS judged
    FROM huggingface_logs AS l FINAL
    INNER JOIN judged AS j ON l.workspaceID = j.workspaceID AND if(l.authorID != '', l.authorID, l.authorUser) = j.actorKey
    WHERE l.receivedAt < {to:DateTime} AND l.eventName IN ('repo.remove_secret', 'repo.remove_secrets', 'repo.remove_variable', 'repo.remove_variables')
      AND l.eventTime >= j.lo - INTERVAL 1 DAY AND l.eventTime <= j.hi + INTERVAL 1 DAY
),
bursts AS (
    SELECT *, sum(starts) OVER (PARTITION BY workspaceID, actorKey ORDER BY eventTime, id ROWS UNBOUNDED PRECEDING) AS burst
    FROM (
        SELECT *, dateDiff('second', lagInFrame(eventTime, 1, toDateTime(0)) OVER w, eventTime) > {window_minutes:UInt32} * 60 AS starts
        FROM events
        WINDOW w AS (PARTITION BY workspaceID, actorKey ORDER BY eventTime, id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
    )
),
org_judged AS (
    SELECT workspaceID, min(eventTime) AS lo, max(eventTime) AS hi
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND eventName IN ('repo.remove_secret', 'repo.remove_secrets', 'repo.remove_variable', 'repo.remove_variables')
    GROUP BY workspaceID
),
org_events AS (
    SELECT l.workspaceID AS workspaceID, l.id AS id, l.eventTime AS eventTime, l.rawLog AS rawLog,
           l.receivedAt >= {from:DateTime} AS judged
    FROM huggingface_logs AS l FINAL
    INNER JOIN org_judged AS j ON l.workspaceID = j.workspaceID
    WHERE l.receivedAt < {to:DateTime} AND l.eventName IN ('repo.remove_secret', 'repo.remove_secrets', 'repo.remove_variable', 'repo.remove_variables')
      AND l.eventTime >= j.lo - toIntervalHour({org_window_hours:UInt32}) AND l.eventTime <= j.hi + toIntervalHour({org_window_hours:UInt32})
),
org_bursts AS (
    SELECT *, sum(starts) OVER (PARTITION BY workspaceID ORDER BY eventTime, id ROWS UNBOUNDED PRECEDING) AS burst
    FROM (
        SELECT *, dateDiff('second', lagInFrame(eventTime, 1, toDateTime(0)) OVER w, eventTime) > {org_window_hours:UInt32} * 3600 AS starts
        FROM org_events
        WINDOW w AS (PARTITION BY workspaceID ORDER BY eventTime, id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
    )
)
SELECT * FROM (
    SELECT organization, actor, scope, event_count, event_ids, first_seen, last_seen, repos, max_keys_in_window, dedup_key FROM (
SELECT
    workspaceID AS organization,
    argMax(authorUser, (eventTime, id)) AS actor,
    'actor' AS scope,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'repo', 'name')) AS repos,
    -- Each removal with its key count, in one array: two groupArrays are
    -- not guaranteed to keep their elements in the same order.
    arraySort(groupArray((toUInt32(eventTime), greatest(1, length(JSONExtractArrayRaw(rawLog, 'data', 'keys')))))) AS weighted,
    groupArrayIf(toUInt32(eventTime), judged) AS judged_times,
    arrayMax(arrayMap(t -> if(arrayExists(x -> x > t.1 - {window_minutes:UInt32} * 60 AND x <= t.1, judged_times),
                              arraySum(arrayMap(u -> if(u.1 > t.1 - {window_minutes:UInt32} * 60 AND u.1 <= t.1, u.2, 0), weighted)), 0),
                      weighted)) AS max_keys_in_window,
    concatWithSeparator('|', 'huggingface-bulk-secret-removal', organization, actorKey,
        formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), argMin(id, (eventTime, id))) AS dedup_key
FROM bursts
GROUP BY organization, actorKey, burst
HAVING max_keys_in_window >= {threshold:UInt32}
    )
    UNION ALL
    SELECT organization, actor, scope, event_count, event_ids, first_seen, last_seen, repos, max_keys_in_window, dedup_key FROM (
SELECT
    workspaceID AS organization,
    '(organization)' AS actor,
    'organization' AS scope,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'repo', 'name')) AS repos,
    -- Each removal with its weight, in one array: the pairs stay together.
    arraySort(groupArray((toUInt32(eventTime), greatest(1, length(JSONExtractArrayRaw(rawLog, 'data', 'keys')))))) AS weighted,
    groupArrayIf(toUInt32(eventTime), judged) AS judged_times,
    arrayMax(arrayMap(t -> if(arrayExists(x -> x > t.1 - {org_window_hours:UInt32} * 3600 AND x <= t.1, judged_times),
                              arraySum(arrayMap(u -> if(u.1 > t.1 - {org_window_hours:UInt32} * 3600 AND u.1 <= t.1, u.2, 0), weighted)), 0),
                      weighted)) AS max_keys_in_window,
    concatWithSeparator('|', 'huggingface-bulk-secret-removal', organization, actor,
        formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), argMin(id, (eventTime, id))) AS dedup_key
FROM org_bursts
GROUP BY organization, burst
HAVING max_keys_in_window >= {org_threshold:UInt32}
    )
)
ORDER BY first_seen
