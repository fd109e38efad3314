CREATE DATABASE IF NOT EXISTS `otel` ON CLUSTER `audit`;

CREATE TABLE IF NOT EXISTS `otel`.`huggingface_logs_local` ON CLUSTER `audit`
(
    `workspaceID`       LowCardinality(String),
    `sourceID`          LowCardinality(String),
    `sourceType`        LowCardinality(String),
    `sourceTTL`         UInt32 DEFAULT 0,
    `receivedAt`        DateTime,
    `id`                String,
    `eventTime`         DateTime,
    `eventName`         LowCardinality(String),
    `eventID`           String,
    `srcIP`             String,
    `srcASCountryCode`  LowCardinality(String),
    `srcASNumber`       UInt32,
    `srcASOrganization` String,
    `srcCity`           String,
    `srcConnectionType` String,
    `srcISP`            String,
    `srcLatitude`       Float64,
    `srcLongitude`      Float64,
    `srcUserType`       String,
    `dstIP`             String,
    `dstASCountryCode`  LowCardinality(String),
    `dstASNumber`       UInt32,
    `dstASOrganization` String,
    `dstCity`           String,
    `dstConnectionType` String,
    `dstISP`            String,
    `dstLatitude`       Float64,
    `dstLongitude`      Float64,
    `dstUserType`       String,
    `actor`             Map(String, String),
    `tags`              Map(String, String),
    `resources`         Array(String),
    `serviceName`       LowCardinality(String),
    `enrichments`       Array(Tuple(data Map(String, String), name String, provider String, type String, value String)),
    `readOnly`          Bool,
    `rawLog`            String CODEC(ZSTD(3)),
    `auditID`           String,
    `eventType`         LowCardinality(String),
    `message`           String,
    `authorID`          String,
    `authorUser`        String,
    `authorType`        LowCardinality(String),
    `actorIP`           String,
    `locationFormatted` String,
    `locationCountry`   LowCardinality(String),
    `locationCity`      String,
    `tokenType`         LowCardinality(String),
    `tokenID`           String,
    `tokenRole`         LowCardinality(String),
    `tokenLast4`        String,
    `tokenDeleted`      Bool,
    INDEX idx_id id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_author_id authorID TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_actor_ip actorIP TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_token_id tokenID TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_resources resources TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', receivedAt)
PARTITION BY toYYYYMM(eventTime)
ORDER BY (eventType, eventName, eventTime, id)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

ALTER TABLE `otel`.`huggingface_logs_local` ON CLUSTER `audit` MODIFY TTL eventTime + INTERVAL 400 DAY;

ALTER TABLE `otel`.`huggingface_logs_local` ON CLUSTER `audit` MODIFY COLUMN `sourceTTL` UInt32 DEFAULT 400;

CREATE TABLE IF NOT EXISTS `otel`.`huggingface_logs` ON CLUSTER `audit` AS `otel`.`huggingface_logs_local`
ENGINE = Distributed('audit', 'otel', 'huggingface_logs_local', cityHash64(id));

ALTER TABLE `otel`.`huggingface_logs` ON CLUSTER `audit` MODIFY COLUMN `sourceTTL` UInt32 DEFAULT 400;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.`huggingface_logs_mv` ON CLUSTER `audit`
TO `otel`.`huggingface_logs`
AS
-- BEGIN SELECT
WITH
    JSONExtract(LogAttributes['huggingface.ip.enrichment.providers'], 'Array(String)') AS _providers,
    mapFilter((k, v) -> v != '', map(
        'geo.locality.name', LogAttributes['geo.locality.name'],
        'geo.country.iso_code', LogAttributes['geo.country.iso_code'],
        'geo.continent.code', LogAttributes['geo.continent.code'],
        'geo.region.iso_code', LogAttributes['geo.region.iso_code'],
        'geo.postal_code', LogAttributes['geo.postal_code'],
        'geo.location.lat', LogAttributes['geo.location.lat'],
        'geo.location.lon', LogAttributes['geo.location.lon'])) AS _geo,
    mapFilter((k, v) -> v != '', map(
        'huggingface.ip.as.number', LogAttributes['huggingface.ip.as.number'],
        'huggingface.ip.as.organization', LogAttributes['huggingface.ip.as.organization'],
        'huggingface.ip.as.country_code', LogAttributes['huggingface.ip.as.country_code'])) AS _asn,
    mapFilter((k, v) -> v != '', map(
        'huggingface.ip.isp', LogAttributes['huggingface.ip.isp'],
        'huggingface.ip.isp.organization', LogAttributes['huggingface.ip.isp.organization'])) AS _isp,
    mapFilter((k, v) -> v != '', map(
        'huggingface.ip.connection_type', LogAttributes['huggingface.ip.connection_type'],
        'huggingface.ip.user_type', LogAttributes['huggingface.ip.user_type'])) AS _conn
SELECT
    ResourceAttributes['huggingface.organization'] AS workspaceID,
    concat('huggingface/', ResourceAttributes['huggingface.organization']) AS sourceID,
    'huggingface' AS sourceType,
    now() AS receivedAt,
    LogAttributes['log.record.uid'] AS id,
    toDateTime(Timestamp) AS eventTime,
    EventName AS eventName,
    LogAttributes['log.record.uid'] AS eventID,
    LogAttributes['client.address'] AS srcIP,
    LogAttributes['huggingface.ip.as.country_code'] AS srcASCountryCode,
    toUInt32OrZero(LogAttributes['huggingface.ip.as.number']) AS srcASNumber,
    LogAttributes['huggingface.ip.as.organization'] AS srcASOrganization,
    LogAttributes['geo.locality.name'] AS srcCity,
    LogAttributes['huggingface.ip.connection_type'] AS srcConnectionType,
    LogAttributes['huggingface.ip.isp'] AS srcISP,
    toFloat64OrZero(LogAttributes['geo.location.lat']) AS srcLatitude,
    toFloat64OrZero(LogAttributes['geo.location.lon']) AS srcLongitude,
    LogAttributes['huggingface.ip.user_type'] AS srcUserType,
    mapFilter((k, v) -> v != '', map(
        'id', LogAttributes['user.id'],
        'username', LogAttributes['user.name'],
        'type', LogAttributes['huggingface.author.type'],
        'deleted', LogAttributes['huggingface.author.deleted'])) AS actor,
    mapFilter((k, v) -> v != '', map(
        'organization', ResourceAttributes['huggingface.organization'],
        'read_only', if(LogAttributes['huggingface.read_only'] = 'true', 'true', 'false'),
        'self_export', if(LogAttributes['huggingface.self_export'] = 'true', 'true', 'false'),
        'user_agent', LogAttributes['user_agent.original'],
        'oauth.client_id', LogAttributes['huggingface.oauth.client_id'],
        'oauth.name', LogAttributes['huggingface.oauth.name'],
        'scope.name', ScopeName,
        'scope.version', ScopeVersion)) AS tags,
    JSONExtract(LogAttributes['huggingface.resources'], 'Array(String)') AS resources,
    'huggingface' AS serviceName,
    CAST(arrayConcat(
        if(empty(_geo), [], [(_geo, 'srcIP', arrayFirst(p -> match(p, 'enterprise|city|country'), _providers), 'geo', LogAttributes['client.address'])]),
        if(empty(_asn), [], [(_asn, 'srcIP', arrayFirst(p -> match(p, 'asn|isp|enterprise'), _providers), 'asn', LogAttributes['client.address'])]),
        if(empty(_isp), [], [(_isp, 'srcIP', arrayFirst(p -> match(p, 'isp|enterprise'), _providers), 'isp', LogAttributes['client.address'])]),
        if(empty(_conn), [], [(_conn, 'srcIP', arrayFirst(p -> match(p, 'connection|enterprise'), _providers), 'connection', LogAttributes['client.address'])])
    ) AS Array(Tuple(data Map(String, String), name String, provider String, type String, value String))) AS enrichments,
    LogAttributes['huggingface.read_only'] = 'true' AS readOnly,
    LogAttributes['huggingface.raw'] AS rawLog,
    LogAttributes['log.record.uid'] AS auditID,
    splitByChar('.', EventName)[1] AS eventType,
    Body AS message,
    LogAttributes['user.id'] AS authorID,
    LogAttributes['user.name'] AS authorUser,
    LogAttributes['huggingface.author.type'] AS authorType,
    LogAttributes['client.address'] AS actorIP,
    LogAttributes['huggingface.location.formatted'] AS locationFormatted,
    LogAttributes['huggingface.location.country'] AS locationCountry,
    LogAttributes['huggingface.location.city'] AS locationCity,
    LogAttributes['huggingface.token.type'] AS tokenType,
    LogAttributes['huggingface.token.id'] AS tokenID,
    LogAttributes['huggingface.token.role'] AS tokenRole,
    LogAttributes['huggingface.token.last4'] AS tokenLast4,
    LogAttributes['huggingface.token.deleted'] = 'true' AS tokenDeleted
FROM `otel`.`otel_logs`
WHERE ServiceName = 'huggingface' AND LogAttributes['log.record.uid'] != ''
-- END SELECT
;

INSERT INTO `otel`.`huggingface_logs`
(
    workspaceID, sourceID, sourceType, receivedAt, id, eventTime, eventName, eventID,
    srcIP, srcASCountryCode, srcASNumber, srcASOrganization, srcCity, srcConnectionType,
    srcISP, srcLatitude, srcLongitude, srcUserType,
    actor, tags, resources, serviceName, enrichments, readOnly, rawLog, auditID, eventType,
    message, authorID, authorUser, authorType, actorIP, locationFormatted, locationCountry,
    locationCity, tokenType, tokenID, tokenRole, tokenLast4, tokenDeleted
)
SELECT * FROM
(
-- The SELECT of the view above, inserted here by hfauditschema.
WITH
    JSONExtract(LogAttributes['huggingface.ip.enrichment.providers'], 'Array(String)') AS _providers,
    mapFilter((k, v) -> v != '', map(
        'geo.locality.name', LogAttributes['geo.locality.name'],
        'geo.country.iso_code', LogAttributes['geo.country.iso_code'],
        'geo.continent.code', LogAttributes['geo.continent.code'],
        'geo.region.iso_code', LogAttributes['geo.region.iso_code'],
        'geo.postal_code', LogAttributes['geo.postal_code'],
        'geo.location.lat', LogAttributes['geo.location.lat'],
        'geo.location.lon', LogAttributes['geo.location.lon'])) AS _geo,
    mapFilter((k, v) -> v != '', map(
        'huggingface.ip.as.number', LogAttributes['huggingface.ip.as.number'],
        'huggingface.ip.as.organization', LogAttributes['huggingface.ip.as.organization'],
        'huggingface.ip.as.country_code', LogAttributes['huggingface.ip.as.country_code'])) AS _asn,
    mapFilter((k, v) -> v != '', map(
        'huggingface.ip.isp', LogAttributes['huggingface.ip.isp'],
        'huggingface.ip.isp.organization', LogAttributes['huggingface.ip.isp.organization'])) AS _isp,
    mapFilter((k, v) -> v != '', map(
        'huggingface.ip.connection_type', LogAttributes['huggingface.ip.connection_type'],
        'huggingface.ip.user_type', LogAttributes['huggingface.ip.user_type'])) AS _conn
SELECT
    ResourceAttributes['huggingface.organization'] AS workspaceID,
    concat('huggingface/', ResourceAttributes['huggingface.organization']) AS sourceID,
    'huggingface' AS sourceType,
    now() AS receivedAt,
    LogAttributes['log.record.uid'] AS id,
    toDateTime(Timestamp) AS eventTime,
    EventName AS eventName,
    LogAttributes['log.record.uid'] AS eventID,
    LogAttributes['client.address'] AS srcIP,
    LogAttributes['huggingface.ip.as.country_code'] AS srcASCountryCode,
    toUInt32OrZero(LogAttributes['huggingface.ip.as.number']) AS srcASNumber,
    LogAttributes['huggingface.ip.as.organization'] AS srcASOrganization,
    LogAttributes['geo.locality.name'] AS srcCity,
    LogAttributes['huggingface.ip.connection_type'] AS srcConnectionType,
    LogAttributes['huggingface.ip.isp'] AS srcISP,
    toFloat64OrZero(LogAttributes['geo.location.lat']) AS srcLatitude,
    toFloat64OrZero(LogAttributes['geo.location.lon']) AS srcLongitude,
    LogAttributes['huggingface.ip.user_type'] AS srcUserType,
    mapFilter((k, v) -> v != '', map(
        'id', LogAttributes['user.id'],
        'username', LogAttributes['user.name'],
        'type', LogAttributes['huggingface.author.type'],
        'deleted', LogAttributes['huggingface.author.deleted'])) AS actor,
    mapFilter((k, v) -> v != '', map(
        'organization', ResourceAttributes['huggingface.organization'],
        'read_only', if(LogAttributes['huggingface.read_only'] = 'true', 'true', 'false'),
        'self_export', if(LogAttributes['huggingface.self_export'] = 'true', 'true', 'false'),
        'user_agent', LogAttributes['user_agent.original'],
        'oauth.client_id', LogAttributes['huggingface.oauth.client_id'],
        'oauth.name', LogAttributes['huggingface.oauth.name'],
        'scope.name', ScopeName,
        'scope.version', ScopeVersion)) AS tags,
    JSONExtract(LogAttributes['huggingface.resources'], 'Array(String)') AS resources,
    'huggingface' AS serviceName,
    CAST(arrayConcat(
        if(empty(_geo), [], [(_geo, 'srcIP', arrayFirst(p -> match(p, 'enterprise|city|country'), _providers), 'geo', LogAttributes['client.address'])]),
        if(empty(_asn), [], [(_asn, 'srcIP', arrayFirst(p -> match(p, 'asn|isp|enterprise'), _providers), 'asn', LogAttributes['client.address'])]),
        if(empty(_isp), [], [(_isp, 'srcIP', arrayFirst(p -> match(p, 'isp|enterprise'), _providers), 'isp', LogAttributes['client.address'])]),
        if(empty(_conn), [], [(_conn, 'srcIP', arrayFirst(p -> match(p, 'connection|enterprise'), _providers), 'connection', LogAttributes['client.address'])])
    ) AS Array(Tuple(data Map(String, String), name String, provider String, type String, value String))) AS enrichments,
    LogAttributes['huggingface.read_only'] = 'true' AS readOnly,
    LogAttributes['huggingface.raw'] AS rawLog,
    LogAttributes['log.record.uid'] AS auditID,
    splitByChar('.', EventName)[1] AS eventType,
    Body AS message,
    LogAttributes['user.id'] AS authorID,
    LogAttributes['user.name'] AS authorUser,
    LogAttributes['huggingface.author.type'] AS authorType,
    LogAttributes['client.address'] AS actorIP,
    LogAttributes['huggingface.location.formatted'] AS locationFormatted,
    LogAttributes['huggingface.location.country'] AS locationCountry,
    LogAttributes['huggingface.location.city'] AS locationCity,
    LogAttributes['huggingface.token.type'] AS tokenType,
    LogAttributes['huggingface.token.id'] AS tokenID,
    LogAttributes['huggingface.token.role'] AS tokenRole,
    LogAttributes['huggingface.token.last4'] AS tokenLast4,
    LogAttributes['huggingface.token.deleted'] = 'true' AS tokenDeleted
FROM cluster('audit', 'otel', 'otel_logs')
WHERE ServiceName = 'huggingface' AND LogAttributes['log.record.uid'] != ''

)
WHERE id GLOBAL NOT IN (SELECT id FROM `otel`.`huggingface_logs`)
LIMIT 1 BY id;

