-- Health of what the pack can see, one finding per organization, event type
-- and problem:
--   unknown_event_type: a type outside the published enum (the catalogue
--       grows) never seen in the organization in the lookback_days before;
--       org.audit_log.export, written for every export call, is known;
--   missing_field: a watched event without the field a detection decides
--       on (the Hub changed the shape of data);
--   raw_missing: a watched event with rawLog empty: the receiver runs with
--       include_raw false, and every rule that reads data is blind.
--
-- Framing (README, "Writing a detection"): the events received in [from, to)
-- are judged; a type's history is looked up in the lookback_days before its
-- first judged event. dedup_key is the detection, the organization, the type,
-- the problem and the finding's first event.
WITH judged AS (
    SELECT workspaceID, authorUser, id, eventTime, eventName, rawLog,
           multiIf(
               NOT has([
        'billing.update_payment_method', 'billing.create_customer',
        'billing.remove_payment_method', 'billing.aws_add', 'billing.aws_remove',
        'billing.gcp_add', 'billing.gcp_remove', 'billing.marketplace_approve',
        'billing.cancel_subscription', 'billing.renew_subscription', 'billing.start_subscription',
        'billing.un_cancel_subscription', 'billing.update_subscription',
        'billing.update_subscription_plan', 'collection.create', 'collection.delete',
        'collection.update_resource_group', 'org.add_user', 'org.change_role', 'org.create',
        'org.delete', 'org.restore', 'org.invite_user', 'org.invite.accept', 'org.invite.email',
        'org.join.from_domain', 'org.join.automatic', 'org.leave', 'org.remove_user', 'org.rename',
        'org.rotate_token', 'org.sso_login', 'org.sso_join', 'org.update_join_settings',
        'org.update_settings', 'org.settings.regions', 'org.settings.profile',
        'org.settings.resource_groups', 'org.settings.publisher_gating',
        'org.settings.inference_providers', 'org.settings.inference_providers.keys.add',
        'org.settings.inference_providers.keys.remove', 'org.settings.inference_providers.usage',
        'org.settings.sso', 'org.settings.sso.enable', 'org.settings.sso.disable',
        'org.settings.security.repo_visibility', 'org.settings.security.2fa.enable',
        'org.settings.security.2fa.disable', 'org.settings.security.auto_join.enable',
        'org.settings.security.auto_join.disable', 'org.settings.security.members_privacy.enable',
        'org.settings.security.members_privacy.disable', 'org.settings.network',
        'org.settings.network.ip_restriction.enable',
        'org.settings.network.ip_restriction.disable',
        'org.settings.network.auth_enforcement.enable',
        'org.settings.network.auth_enforcement.disable', 'org.token_approval.enabled',
        'org.token_approval.disabled', 'org.token_approval.authorization_request',
        'org.token_approval.authorization_request.authorized',
        'org.token_approval.authorization_request.revoked',
        'org.token_approval.authorization_request.denied', 'repo.add_secrets',
        'repo.remove_secrets', 'repo.add_secret', 'repo.update_secret', 'repo.remove_secret',
        'repo.create', 'repo.delete', 'repo.disable', 'repo.removeDisable', 'repo.duplication',
        'repo.delete_doi', 'repo.move', 'repo.update_resource_group', 'repo.update_settings',
        'repo.add_variable', 'repo.update_variable', 'repo.remove_variable', 'repo.add_variables',
        'repo.remove_variables', 'repo.delete_lfs_file', 'repo.add_trusted_publisher',
        'repo.remove_trusted_publisher', 'spaces.add_storage', 'spaces.remove_storage',
        'spaces.set_volumes', 'spaces.remove_volumes', 'spaces.update_hardware',
        'spaces.update_sleep_time', 'resource_group.create', 'resource_group.add_users',
        'resource_group.remove_users', 'resource_group.change_role', 'resource_group.settings',
        'resource_group.delete', 'jobs.create', 'jobs.cancel', 'jobs.update_labels',
        'jobs.update_expose', 'scheduled_job.create', 'scheduled_job.delete',
        'scheduled_job.resume', 'scheduled_job.suspend', 'scheduled_job.run',
        'scheduled_job.update_schedule', 'scheduled_job.update_labels',
        'org.service_account.create', 'org.service_account.delete',
        'org.service_account.token.create', 'org.service_account.token.delete',
        'org.service_account.token.rotate', 'org.service_account.token.update', 'oauth.token',
        'org.audit_log.export'
               ], eventName), 'unknown_event_type',
               eventName IN ('repo.update_settings', 'repo.move', 'repo.duplication', 'org.change_role', 'org.add_user',
                             'org.invite_user', 'resource_group.change_role', 'resource_group.add_users',
                             'spaces.update_hardware', 'billing.update_subscription_plan', 'org.update_settings',
                             'scheduled_job.create', 'scheduled_job.update_schedule') AND rawLog = '', 'raw_missing',
               eventName = 'repo.update_settings' AND NOT JSONHas(rawLog, 'data', 'settings') AND NOT JSONHas(rawLog, 'data', 'private'), 'missing_field',
               eventName IN ('repo.move', 'repo.duplication') AND NOT JSONHas(rawLog, 'data', 'to'), 'missing_field',
               eventName IN ('org.change_role', 'org.add_user', 'org.invite_user', 'resource_group.change_role')
                   AND NOT JSONHas(rawLog, 'data', 'role'), 'missing_field',
               eventName = 'resource_group.add_users'
                   AND NOT arrayExists(x -> JSONHas(x, 'role'), JSONExtractArrayRaw(rawLog, 'data')) AND NOT JSONHas(rawLog, 'data', 'role'), 'missing_field',
               eventName = 'spaces.update_hardware' AND NOT JSONHas(rawLog, 'data', 'hardware', 'to'), 'missing_field',
               eventName = 'billing.update_subscription_plan' AND NOT (JSONHas(rawLog, 'data', 'plan') AND JSONHas(rawLog, 'data', 'previousPlan')), 'missing_field',
               eventName IN ('scheduled_job.create', 'scheduled_job.update_schedule') AND NOT JSONHas(rawLog, 'data', 'schedule'), 'missing_field',
               eventName = 'org.update_settings'
                   AND NOT arrayExists(k -> JSONHas(rawLog, 'data', k), ['sso', 'security', 'network', 'token_approval', 'inference_providers', 'join', 'resource_groups', 'profile', 'publisher_gating', 'regions']), 'missing_field',
               '') AS problem
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
),
problems AS (
    SELECT * FROM judged WHERE problem != ''
),
new_types AS (
    SELECT workspaceID, eventName, min(eventTime) AS lo FROM problems WHERE problem = 'unknown_event_type' GROUP BY workspaceID, eventName
),
seen_types AS (
    SELECT DISTINCT l.workspaceID AS workspaceID, l.eventName AS eventName
    FROM huggingface_logs AS l FINAL
    INNER JOIN new_types AS t ON l.workspaceID = t.workspaceID AND l.eventName = t.eventName
    WHERE l.receivedAt < {to:DateTime}
      AND l.eventTime >= t.lo - toIntervalDay({lookback_days:UInt32}) AND l.eventTime < t.lo
)
SELECT
    workspaceID AS organization,
    any(authorUser) AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    eventName AS event_type,
    problem AS reason,
    concatWithSeparator('|', 'huggingface-audit-health', organization, event_type, reason,
        formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), argMin(id, (eventTime, id))) AS dedup_key
FROM problems
WHERE problem != 'unknown_event_type' OR (workspaceID, eventName) NOT IN (SELECT workspaceID, eventName FROM seen_types)
GROUP BY organization, event_type, reason
ORDER BY first_seen
