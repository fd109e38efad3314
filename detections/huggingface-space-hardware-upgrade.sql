-- A Space moved to hardware that is not a CPU flavor (data.hardware.to, in
-- lower case). An event without data.hardware.to (another shape, or rawLog
-- empty with include_raw false) is reported at Low, reason unknown_shape.
--
-- One finding per event: the events received in [from, to), each judged on
-- its own; dedup_key is the detection, the organization, the actor and the event.
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'repo', 'name')) AS spaces,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'hardware', 'to')) AS hardware,
    if(any(JSONExtractString(rawLog, 'data', 'hardware', 'to')) = '', 'unknown_shape', 'accelerated') AS reason,
    if(reason = 'unknown_shape', 'Low', 'Medium') AS severity,
    concatWithSeparator('|', 'huggingface-space-hardware-upgrade', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM huggingface_logs FINAL
WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
  AND (eventName = 'spaces.update_hardware'
       AND NOT startsWith(lower(JSONExtractString(rawLog, 'data', 'hardware', 'to')), 'cpu'))
GROUP BY organization, actor, id
ORDER BY first_seen
