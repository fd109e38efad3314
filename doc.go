// Package huggingfaceauditreceiver pulls a Hugging Face organization's audit
// log export and emits every audit event as an OpenTelemetry log record.
//
//go:generate mdatagen metadata.yaml
package huggingfaceauditreceiver
