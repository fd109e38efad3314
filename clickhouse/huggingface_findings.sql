-- What hfauditdetect -watch keeps in ClickHouse: the findings, what it has
-- judged (a checkpoint per detection) and what it has delivered (a row per
-- finding and channel). hfauditschema creates them next to huggingface_logs.

-- One row per finding, keyed by dedup_key: a run that finds it again writes
-- a newer version (found_at), the last one is kept.
CREATE TABLE IF NOT EXISTS `{{database}}`.`huggingface_findings`{{on_cluster}}
(
    `dedup_key`        String,
    `detection`        LowCardinality(String),
    `severity`         LowCardinality(String),
    `risk_score`       UInt8,
    `mitre`            Tuple(tactics Array(String), techniques Array(String)),
    `organization`     String,
    `actor`            String,
    `event_count`      UInt64,
    `event_ids`        Array(String),
    `first_seen`       DateTime,
    `last_seen`        DateTime,
    `found_at`         DateTime64(3) DEFAULT now64(3),
    -- The run's judged range (receivedAt for a detection, found_at for an alert).
    `judged_from`      DateTime,
    `judged_to`        DateTime,
    -- 1 when the finding's severity reaches the watcher's min-severity.
    `notify`           Bool,
    -- The row's other columns, each as JSON text.
    `details`          Map(String, String),
    -- The finding as sent to the channels: the -format json object.
    `payload`          String
)
ENGINE = {{engine_findings}}
PARTITION BY toYYYYMM(first_seen)
ORDER BY dedup_key;

-- Judged up to (excluded) checkpoint: one row per detection or alert, the
-- last one written wins.
CREATE TABLE IF NOT EXISTS `{{database}}`.`huggingface_detection_checkpoints`{{on_cluster}}
(
    `detection`   String,
    `checkpoint`  DateTime,
    `updated_at`  DateTime64(3) DEFAULT now64(3)
)
ENGINE = {{engine_checkpoints}}
ORDER BY detection;

-- A finding delivered to a channel (after a 2xx): never sent there again.
CREATE TABLE IF NOT EXISTS `{{database}}`.`huggingface_finding_deliveries`{{on_cluster}}
(
    `dedup_key`  String,
    `channel`    String,
    `sent_at`    DateTime64(3) DEFAULT now64(3)
)
ENGINE = {{engine_deliveries}}
ORDER BY (channel, dedup_key);
