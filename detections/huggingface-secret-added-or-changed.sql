-- One finding per event: the events received in [from, to), each judged on
-- its own; dedup_key is the detection, the organization, the actor and the event.
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(eventName) AS event_names,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'repo', 'name')) AS repos,
    arrayDistinct(arrayFlatten(groupArray(arrayConcat(
        if(JSONHas(rawLog, 'data', 'key'), [JSONExtractString(rawLog, 'data', 'key')], []),
        JSONExtract(rawLog, 'data', 'keys', 'Array(String)'))))) AS keys,
    concatWithSeparator('|', 'huggingface-secret-added-or-changed', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM huggingface_logs FINAL
WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
  AND (eventName IN ('repo.add_secret', 'repo.update_secret', 'repo.add_secrets',
                     'repo.add_variable', 'repo.update_variable', 'repo.add_variables'))
GROUP BY organization, actor, id
ORDER BY first_seen
