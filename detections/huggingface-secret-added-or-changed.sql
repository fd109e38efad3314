SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    groupArray(id) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(eventName) AS event_names,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'repo', 'name')) AS repos,
    arrayDistinct(arrayFlatten(groupArray(arrayConcat(
        if(JSONHas(rawLog, 'data', 'key'), [JSONExtractString(rawLog, 'data', 'key')], []),
        JSONExtract(rawLog, 'data', 'keys', 'Array(String)'))))) AS keys
FROM huggingface_logs FINAL
WHERE eventTime >= {from:DateTime} AND eventTime < {to:DateTime}
  AND (eventName IN ('repo.add_secret', 'repo.update_secret', 'repo.add_secrets',
                     'repo.add_variable', 'repo.update_variable', 'repo.add_variables'))
GROUP BY organization, actor
ORDER BY first_seen
