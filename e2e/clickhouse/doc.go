// Package clickhouse is the end-to-end test of the huggingface_logs
// schema: simulator -> receiver -> contrib clickhouseexporter -> chdbserver
// (ClickHouse 26.7 embedded) -> huggingface_logs. It lives in its own module
// so that the receiver's module does not depend on the exporter.
package clickhouse
