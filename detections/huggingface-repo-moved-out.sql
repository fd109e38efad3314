-- A repository moved (repo.move) or copied (repo.duplication) to a namespace
-- outside the organization. Names compare in lower case: the Hub writes the
-- organization with its display capitals.
--
-- The destination is data.to, or, when rawLog is empty (include_raw: false)
-- or data has another shape, the repositories of the resources column that
-- the receiver derives from data. An event whose destination cannot be
-- found is still reported, at Medium, with reason unknown_shape.
--
-- Framing (README, "Writing a detection"): one finding per event received
-- in the range; dedup_key is the detection, the organization, the actor and
-- the event.
WITH events AS (
    SELECT workspaceID, authorUser, id, eventTime, eventName, resources,
           JSONExtractString(rawLog, 'data', 'from') AS from_name,
           JSONExtractString(rawLog, 'data', 'to') AS to_name,
           arrayMap(r -> splitByChar(':', r, 2)[2], arrayFilter(r -> match(r, '^(repo|model|dataset|space):'), resources)) AS repos,
           arrayFilter(x -> x != '', arrayConcat([to_name], repos)) AS targets,
           arrayFilter(x -> NOT startsWith(lower(x), concat(lower(workspaceID), '/')), targets) AS outside,
           to_name != '' OR length(arrayDistinct(repos)) >= 2 AS known_destination
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND eventName IN ('repo.move', 'repo.duplication')
)
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    any(eventName) AS event_name,
    any(from_name) AS moved_from,
    any(outside) AS moved_to,
    if(notEmpty(any(outside)), 'outside_namespace', 'unknown_shape') AS reason,
    if(reason = 'unknown_shape', 'Medium', 'High') AS severity,
    concatWithSeparator('|', 'huggingface-repo-moved-out', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM events
WHERE notEmpty(outside) OR NOT known_destination
GROUP BY organization, actor, id
ORDER BY first_seen
