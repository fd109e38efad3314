SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    groupArray(id) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(eventName) AS event_names,
    groupUniqArray(actorIP) AS ips
FROM huggingface_logs FINAL
WHERE eventTime >= {from:DateTime} AND eventTime < {to:DateTime}
  AND (eventName IN ('billing.remove_payment_method', 'billing.cancel_subscription',
                     'billing.aws_add', 'billing.gcp_add', 'billing.marketplace_approve'))
GROUP BY organization, actor
ORDER BY first_seen
