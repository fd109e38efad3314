-- Bulk removal of secrets/variables: >= threshold keys removed by one actor
-- within any window_minutes-long span.
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    groupArray(id) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'repo', 'name')) AS repos,
    groupArray(toUInt32(eventTime)) AS times,
    groupArray(greatest(1, length(JSONExtractArrayRaw(rawLog, 'data', 'keys')))) AS key_counts,
    arrayMax(arrayMap(t -> arraySum(arrayMap((u, k) -> if(u > t - {window_minutes:UInt32} * 60 AND u <= t, k, 0), times, key_counts)), times)) AS max_keys_in_window
FROM huggingface_logs FINAL
WHERE eventTime >= {from:DateTime} - toIntervalMinute({window_minutes:UInt32}) AND eventTime < {to:DateTime}
  AND eventName IN ('repo.remove_secret', 'repo.remove_secrets', 'repo.remove_variable', 'repo.remove_variables')
GROUP BY organization, actor
HAVING max_keys_in_window >= {threshold:UInt32}
ORDER BY first_seen
