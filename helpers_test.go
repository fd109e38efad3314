package huggingfaceauditreceiver

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

func mustMarshalLogs(t *testing.T, logs plog.Logs) []byte {
	t.Helper()
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(logs)
	require.NoError(t, err)
	return b
}

func mustUnmarshalLogs(t *testing.T, b []byte) plog.Logs {
	t.Helper()
	logs, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(b)
	require.NoError(t, err)
	return logs
}
