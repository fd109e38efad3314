-- Mass repository deletion: >= threshold repo.delete by one actor within any
-- window_minutes-long span (sliding window over the sorted event times).
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    groupArray(id) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'repo', 'name')) AS repos,
    arraySort(groupArray(toUInt32(eventTime))) AS times,
    arrayMax(arrayMap(t -> arrayCount(u -> u > t - {window_minutes:UInt32} * 60 AND u <= t, times), times)) AS max_in_window
FROM huggingface_logs FINAL
WHERE eventTime >= {from:DateTime} - toIntervalMinute({window_minutes:UInt32}) AND eventTime < {to:DateTime}
  AND eventName = 'repo.delete'
GROUP BY organization, actor
HAVING max_in_window >= {threshold:UInt32}
ORDER BY first_seen
