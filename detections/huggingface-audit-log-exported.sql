-- One finding per event: the events received in [from, to), each judged on
-- its own; dedup_key is the detection, the organization, the actor and the event.
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(tokenLast4) AS token_last4,
    groupUniqArray(actorIP) AS ips,
    groupUniqArray(tags['user_agent']) AS user_agents,
    concatWithSeparator('|', 'huggingface-audit-log-exported', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM huggingface_logs FINAL
WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
  AND (eventName = 'org.audit_log.export' AND tags['self_export'] != 'true')
  -- The deployment's other log consumers (a second SIEM), by token ID or
  -- last four characters; an export without a token is never allowlisted.
  AND NOT (tokenID != '' AND hasAny(arrayFilter(x -> x NOT IN ('', '-'), splitByChar(',', replaceAll({allowed_tokens:String}, ' ', ''))), [tokenID, tokenLast4]))
GROUP BY organization, actor, id
ORDER BY first_seen
