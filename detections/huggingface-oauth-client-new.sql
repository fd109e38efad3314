-- An OAuth application (tags['oauth.client_id']) used in the organization
-- and never seen there in the lookback_days before its first use judged:
-- a consent-phishing app or an attacker's integration holding members'
-- tokens. An organization with no history is not judged.
--
-- Framing (README, "Writing a detection"): the events received in [from, to)
-- are judged; the baseline is the organization's events in the lookback_days
-- before the client's earliest judged use, whatever their arrival. One
-- finding per client; dedup_key is the client and its first judged event.
WITH judged AS (
    SELECT workspaceID, tags['oauth.client_id'] AS client_id, tags['oauth.name'] AS client_name, authorUser, id, eventTime, actorIP
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND tags['oauth.client_id'] != ''
),
starts AS (
    SELECT workspaceID, client_id, min(eventTime) AS lo FROM judged GROUP BY workspaceID, client_id
),
history AS (
    SELECT s.workspaceID AS workspaceID, s.client_id AS client_id, count() AS n,
           countIf(l.tags['oauth.client_id'] = s.client_id) AS seen
    FROM huggingface_logs AS l FINAL
    INNER JOIN starts AS s ON l.workspaceID = s.workspaceID
    WHERE l.receivedAt < {to:DateTime}
      AND l.eventTime >= s.lo - toIntervalDay({lookback_days:UInt32}) AND l.eventTime < s.lo
    GROUP BY workspaceID, client_id
)
SELECT
    j.workspaceID AS organization,
    argMin(j.authorUser, (j.eventTime, j.id)) AS actor,
    count() AS event_count,
    arraySort(groupArray(j.id)) AS event_ids,
    min(j.eventTime) AS first_seen,
    max(j.eventTime) AS last_seen,
    j.client_id AS oauth_client_id,
    any(j.client_name) AS oauth_client_name,
    groupUniqArray(j.authorUser) AS users,
    groupUniqArray(j.actorIP) AS ips,
    concatWithSeparator('|', 'huggingface-oauth-client-new', organization, oauth_client_id,
        formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), argMin(j.id, (j.eventTime, j.id))) AS dedup_key
FROM judged AS j
INNER JOIN history AS h ON j.workspaceID = h.workspaceID AND j.client_id = h.client_id
WHERE h.n > 0 AND h.seen = 0
GROUP BY organization, oauth_client_id
ORDER BY first_seen
