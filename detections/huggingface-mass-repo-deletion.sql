-- Mass repository deletion: >= threshold destructive actions by one actor
-- within any window_minutes-long span (sliding window over the sorted event times), or
-- >= org_threshold by anyone in the organization within org_window_hours
-- (actor '(organization)', scope 'organization'): an attacker who deletes
-- slowly, or through several accounts, stays under the per-actor threshold
-- forever, not under this one. Actors in allowed_actors (user names or
-- IDs: a planned clean-up's admin) are left out of both.
-- A destructive action is repo.delete, repo.disable (a repository taken
-- offline), spaces.remove_storage and spaces.remove_volumes (a Space's
-- persistent storage or volumes removed: their data is gone): a wipe that
-- disables repositories or destroys Space data instead of deleting counts
-- the same, and a mix of them too. One of them alone is routine (a clean-up,
-- a Space that no longer needs storage); actions lists the types.
-- One actor is one author ID (the user name when the event has none): a
-- rename halfway through a burst does not split it. The finding shows the
-- burst's latest name, and its dedup_key holds the ID, so a rename between
-- two runs does not make the same burst a new finding.
--
-- Framing (README, "Writing a detection"): the events received in [from, to)
-- are judged; the windows around them are counted over every event of the
-- actor received before {to}, whatever its arrival. A burst is a run of
-- deletions no more than window_minutes apart (looked up to a day around the
-- judged events); one finding per burst that has a window of >= threshold
-- deletions holding a judged event. dedup_key is the burst's first deletion.
WITH judged AS (
    SELECT workspaceID, if(authorID != '', authorID, authorUser) AS actorKey, min(eventTime) AS lo, max(eventTime) AS hi
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND eventName IN ('repo.delete', 'repo.disable', 'spaces.remove_storage', 'spaces.remove_volumes') AND NOT hasAny(splitByChar(',', replaceAll({allowed_actors:String}, ' ', '')), [authorUser, authorID])
    GROUP BY workspaceID, actorKey
),
events AS (
    SELECT l.workspaceID AS workspaceID, if(l.authorID != '', l.authorID, l.authorUser) AS actorKey, l.authorUser AS authorUser, l.id AS id, l.eventTime AS eventTime, l.eventName AS eventName, l.rawLog AS rawLog,
           l.receivedAt >= {from:DateTime} AS judged
    FROM huggingface_logs AS l FINAL
    INNER JOIN judged AS j ON l.workspaceID = j.workspaceID AND if(l.authorID != '', l.authorID, l.authorUser) = j.actorKey
    WHERE l.receivedAt < {to:DateTime} AND l.eventName IN ('repo.delete', 'repo.disable', 'spaces.remove_storage', 'spaces.remove_volumes') AND NOT hasAny(splitByChar(',', replaceAll({allowed_actors:String}, ' ', '')), [l.authorUser, l.authorID])
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
      AND eventName IN ('repo.delete', 'repo.disable', 'spaces.remove_storage', 'spaces.remove_volumes') AND NOT hasAny(splitByChar(',', replaceAll({allowed_actors:String}, ' ', '')), [authorUser, authorID])
    GROUP BY workspaceID
),
org_events AS (
    SELECT l.workspaceID AS workspaceID, l.id AS id, l.eventTime AS eventTime, l.eventName AS eventName, l.rawLog AS rawLog,
           l.receivedAt >= {from:DateTime} AS judged
    FROM huggingface_logs AS l FINAL
    INNER JOIN org_judged AS j ON l.workspaceID = j.workspaceID
    WHERE l.receivedAt < {to:DateTime} AND l.eventName IN ('repo.delete', 'repo.disable', 'spaces.remove_storage', 'spaces.remove_volumes') AND NOT hasAny(splitByChar(',', replaceAll({allowed_actors:String}, ' ', '')), [l.authorUser, l.authorID])
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
SELECT
    workspaceID AS organization,
    argMax(authorUser, (eventTime, id)) AS actor,
    'actor' AS scope,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'repo', 'name')) AS repos,
    groupUniqArray(eventName) AS actions,
    arraySort(groupArray(toUInt32(eventTime))) AS times,
    groupArrayIf(toUInt32(eventTime), judged) AS judged_times,
    arrayMax(arrayMap(t -> if(arrayExists(x -> x > t - {window_minutes:UInt32} * 60 AND x <= t, judged_times),
                              arrayCount(u -> u > t - {window_minutes:UInt32} * 60 AND u <= t, times), 0), times)) AS max_in_window,
    concatWithSeparator('|', 'huggingface-mass-repo-deletion', organization, actorKey,
        formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), argMin(id, (eventTime, id))) AS dedup_key
FROM bursts
GROUP BY organization, actorKey, burst
HAVING max_in_window >= {threshold:UInt32}
UNION ALL
SELECT
    workspaceID AS organization,
    '(organization)' AS actor,
    'organization' AS scope,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'repo', 'name')) AS repos,
    groupUniqArray(eventName) AS actions,
    arraySort(groupArray(toUInt32(eventTime))) AS times,
    groupArrayIf(toUInt32(eventTime), judged) AS judged_times,
    arrayMax(arrayMap(t -> if(arrayExists(x -> x > t - {org_window_hours:UInt32} * 3600 AND x <= t, judged_times),
                              arrayCount(u -> u > t - {org_window_hours:UInt32} * 3600 AND u <= t, times), 0), times)) AS max_in_window,
    concatWithSeparator('|', 'huggingface-mass-repo-deletion', organization, actor,
        formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), argMin(id, (eventTime, id))) AS dedup_key
FROM org_bursts
GROUP BY organization, burst
HAVING max_in_window >= {org_threshold:UInt32}
)
ORDER BY first_seen
