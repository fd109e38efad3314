SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    groupArray(id) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(tokenLast4) AS token_last4,
    groupUniqArray(actorIP) AS ips,
    groupUniqArray(tags['user_agent']) AS user_agents
FROM huggingface_logs FINAL
WHERE eventTime >= {from:DateTime} AND eventTime < {to:DateTime}
  AND (eventName = 'org.audit_log.export' AND tags['self_export'] != 'true')
GROUP BY organization, actor
ORDER BY first_seen
