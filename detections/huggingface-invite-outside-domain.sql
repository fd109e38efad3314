-- An invitation (org.invite_user) to an e-mail domain never seen in the
-- organization's invitations and domain joins (org.join.from_domain
-- data.domain) in the lookback_days before it: an outsider let in, the
-- attacker's own address for persistence. Domains compare in lower case. An
-- invitation of a Hub user by name (data.user) has no domain and is left
-- out; one with neither data.email nor data.user (another shape, or rawLog
-- empty) is reported at Low with reason unknown_shape. An organization with no
-- invitation or join in the lookback is not judged.
--
-- Framing (README, "Writing a detection"): one finding per invitation
-- received in the range; the baseline looks back from the organization's
-- earliest judged invitation. dedup_key is the invitation.
WITH judged AS (
    SELECT workspaceID, authorUser, id, eventTime, actorIP,
           JSONExtractString(rawLog, 'data', 'email') AS email,
           JSONExtractString(rawLog, 'data', 'user') AS invited_user,
           lower(splitByChar('@', email)[-1]) AS domain
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND eventName = 'org.invite_user'
),
starts AS (
    SELECT workspaceID, min(eventTime) AS lo FROM judged GROUP BY workspaceID
),
history AS (
    SELECT l.workspaceID AS workspaceID,
           groupUniqArrayIf(lower(if(l.eventName = 'org.invite_user',
               splitByChar('@', JSONExtractString(l.rawLog, 'data', 'email'))[-1],
               JSONExtractString(l.rawLog, 'data', 'domain'))), l.rawLog != '') AS known_domains_all,
           arrayFilter(d -> d != '', known_domains_all) AS known_domains
    FROM huggingface_logs AS l FINAL
    INNER JOIN starts AS s ON l.workspaceID = s.workspaceID
    WHERE l.receivedAt < {to:DateTime}
      AND l.eventTime >= s.lo - toIntervalDay({lookback_days:UInt32}) AND l.eventTime < s.lo
      AND l.eventName IN ('org.invite_user', 'org.join.from_domain')
    GROUP BY workspaceID
)
SELECT
    j.workspaceID AS organization,
    j.authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(j.id)) AS event_ids,
    min(j.eventTime) AS first_seen,
    max(j.eventTime) AS last_seen,
    any(j.email) AS invited,
    any(j.domain) AS invited_domain,
    any(h.known_domains) AS familiar_domains,
    if(invited = '' AND any(j.invited_user) = '', 'unknown_shape', 'outside_domain') AS reason,
    if(reason = 'unknown_shape', 'Low', 'Medium') AS severity,
    concatWithSeparator('|', 'huggingface-invite-outside-domain', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), j.id) AS dedup_key
FROM judged AS j
INNER JOIN history AS h ON j.workspaceID = h.workspaceID
WHERE notEmpty(h.known_domains)
  AND ((j.email != '' AND NOT has(h.known_domains, j.domain)) OR (j.email = '' AND j.invited_user = ''))
GROUP BY organization, actor, j.id
ORDER BY first_seen
