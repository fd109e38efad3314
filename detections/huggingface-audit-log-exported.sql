-- An export by anything but this collector, one finding per event; and the
-- collector's own token and owner exporting from a client address its own
-- exports never used in the lookback_days before (reason new_address), one
-- finding per address. The receiver marks an export as its own
-- (tags['self_export']) by token last four, owner and User-Agent product,
-- all of which a thief of the collector's token reproduces (no User-Agent
-- counts as ours); the address is what tells them apart, and the receiver
-- keeps the first self export from every address each day for this, even with
-- drop_self_exports. Addresses compare as IPv6 (an IPv4-mapped address is
-- its IPv4 one). A self export without an address, or in an organization
-- with no located self export in the lookback (a fresh install), is not
-- judged.
--
-- Framing (README, "Writing a detection"): the events received in [from, to)
-- are judged; the self exports' baseline is the lookback_days before the
-- organization's earliest judged self export, whatever their arrival.
-- dedup_key is the detection, the organization, the actor and the event
-- (new_address: its first event).
WITH judged AS (
    SELECT workspaceID, authorUser, id, eventTime, tokenID, tokenLast4, actorIP, tags,
           tags['self_export'] = 'true' AS self,
           ifNull(toString(toIPv6OrNull(actorIP)), actorIP) AS address
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND eventName = 'org.audit_log.export'
),
starts AS (
    SELECT workspaceID, min(eventTime) AS lo FROM judged WHERE self AND actorIP != '' GROUP BY workspaceID
),
self_history AS (
    SELECT l.workspaceID AS workspaceID,
           groupUniqArray(ifNull(toString(toIPv6OrNull(l.actorIP)), l.actorIP)) AS known_addresses
    FROM huggingface_logs AS l FINAL
    INNER JOIN starts AS s ON l.workspaceID = s.workspaceID
    WHERE l.receivedAt < {to:DateTime} AND l.eventName = 'org.audit_log.export' AND l.tags['self_export'] = 'true'
      AND l.actorIP != ''
      AND l.eventTime >= s.lo - toIntervalDay({lookback_days:UInt32}) AND l.eventTime < s.lo
    GROUP BY workspaceID
),
flagged AS (
    SELECT j.*, h.known_addresses AS known_addresses,
           if(j.self, 'new_address', 'other_client') AS reason
    FROM judged AS j
    LEFT JOIN self_history AS h ON j.workspaceID = h.workspaceID
    WHERE NOT j.self
       OR (j.actorIP != '' AND notEmpty(h.known_addresses) AND NOT has(h.known_addresses, j.address))
)
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
    reason,
    any(known_addresses) AS collector_addresses,
    concatWithSeparator('|', 'huggingface-audit-log-exported', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'),
        argMin(id, (eventTime, id))) AS dedup_key
FROM flagged
-- The deployment's other log consumers (a second SIEM), by token ID or
-- last four characters; an export without a token is never allowlisted.
WHERE NOT (NOT self AND tokenID != '' AND hasAny(arrayFilter(x -> x NOT IN ('', '-'), splitByChar(',', replaceAll({allowed_tokens:String}, ' ', ''))), [tokenID, tokenLast4]))
GROUP BY organization, actor, reason, if(reason = 'new_address', address, id)
ORDER BY first_seen
