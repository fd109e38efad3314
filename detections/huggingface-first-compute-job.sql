-- First compute job: jobs.create / scheduled_job.create by an actor with no
-- such event in the lookback_days before the first one judged. Actors are
-- keyed on authorID: a user name can change.
--
-- Framing (README, "Writing a detection"): the events received in [from, to)
-- are judged; the baseline is every job the actor created in the
-- lookback_days before its earliest judged job, whatever its arrival (received
-- before {to}). dedup_key is the actor and the finding's first event.
WITH judged AS (
    SELECT workspaceID, authorID, authorUser, id, eventTime, eventName, rawLog
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND eventName IN ('jobs.create', 'scheduled_job.create')
),
starts AS (
    SELECT workspaceID, authorID, min(eventTime) AS lo FROM judged GROUP BY workspaceID, authorID
),
known AS (
    SELECT DISTINCT l.workspaceID AS workspaceID, l.authorID AS authorID
    FROM huggingface_logs AS l FINAL
    INNER JOIN starts AS s ON l.workspaceID = s.workspaceID AND l.authorID = s.authorID
    WHERE l.receivedAt < {to:DateTime} AND l.eventName IN ('jobs.create', 'scheduled_job.create')
      AND l.eventTime >= s.lo - toIntervalDay({lookback_days:UInt32}) AND l.eventTime < s.lo
)
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(eventName) AS event_names,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'flavor')) AS flavors,
    concatWithSeparator('|', 'huggingface-first-compute-job', organization, actor,
        formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), argMin(id, (eventTime, id))) AS dedup_key
FROM judged
WHERE (workspaceID, authorID) NOT IN (SELECT workspaceID, authorID FROM known)
GROUP BY organization, actor
ORDER BY first_seen
