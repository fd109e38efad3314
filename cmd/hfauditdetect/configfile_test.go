package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testConfig = `clickhouse:
  dsn: http://clickhouse:8123
  user: detect
  password: ${env:TEST_CH_PASSWORD}
  database: audit
every: 30s
settle: 2m
min_severity: Medium
channels:
  webhooks:
    - url: ${env:TEST_HOOK_URL}
  slack:
    - url: https://hooks.slack.example/services/${env:TEST_SLACK_TOKEN}
  otlp:
    - endpoint: http://collector:4318/v1/logs
      headers:
        authorization: Bearer ${env:TEST_OTLP_TOKEN}
detections:
  mass-delete:
    min_severity: Critical
    parameters:
      threshold: 25
  sso-off:
    enabled: false
`

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "watch.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFile(t *testing.T) {
	t.Setenv("TEST_CH_PASSWORD", "ch-s3cret")
	t.Setenv("TEST_HOOK_URL", "https://hooks.example/h/hook-s3cret")
	t.Setenv("TEST_SLACK_TOKEN", "slack-s3cret")
	t.Setenv("TEST_OTLP_TOKEN", "otlp-s3cret")
	path := writeConfig(t, testConfig)
	fc, err := readConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Printed, the secrets are redacted (configopaque).
	if s := fmt.Sprintf("%v %+v", fc, fc); strings.Contains(s, "s3cret") {
		t.Errorf("a secret is printed: %s", s)
	}

	cfg, err := parseArgs([]string{"-watch", "-config", path, "-settle", "5s"}, testPack, now, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.target.DSN != "http://clickhouse:8123" || cfg.target.User != "detect" || cfg.target.Password != "ch-s3cret" || cfg.database != "audit" {
		t.Errorf("clickhouse: %+v %s", cfg.target, cfg.database)
	}
	// The flag wins over the file.
	if cfg.wcfg.every != 30*time.Second || cfg.wcfg.settle != 5*time.Second || cfg.defaultMinSeverity != "Medium" {
		t.Errorf("every %v settle %v min %s", cfg.wcfg.every, cfg.wcfg.settle, cfg.defaultMinSeverity)
	}
	if len(cfg.wcfg.channels) != 3 {
		t.Fatalf("%d channels, want webhook, slack and otlp", len(cfg.wcfg.channels))
	}
	if wh := cfg.wcfg.channels[0].(webhook); wh.url != "https://hooks.example/h/hook-s3cret" {
		t.Errorf("webhook URL %q", wh.url)
	}
	if o := cfg.wcfg.channels[2].(otlp); o.headers["authorization"] != "Bearer otlp-s3cret" {
		t.Errorf("otlp headers %v", o.headers)
	}
	if len(cfg.jobs) != 1 || cfg.jobs[0].detection.Name != "mass-delete" || cfg.jobs[0].params["threshold"] != "25" {
		t.Errorf("jobs (sso-off disabled, threshold from the file): %+v", cfg.jobs)
	}
	if cfg.minSeverity["mass-delete"] != "Critical" {
		t.Errorf("per-detection min_severity: %v", cfg.minSeverity)
	}
	// -set wins over the file's parameters.
	cfg, err = parseArgs([]string{"-watch", "-config", path, "-set", "mass-delete.threshold=40"}, testPack, now, io.Discard)
	if err != nil || cfg.jobs[0].params["threshold"] != "40" {
		t.Errorf("-set over the file: %v %+v", err, cfg.jobs)
	}
}

func TestConfigFileErrors(t *testing.T) {
	t.Setenv("TEST_HOOK_URL", "ftp://hooks.example/hook-s3cret")
	for _, tc := range []struct{ name, text, want string }{
		{"unknown key", "channels:\n  webhook:\n    - url: x\n", "webhook"},
		{"bad severity", "min_severity: urgent\n", "min_severity"},
		{"empty url", "channels:\n  webhooks:\n    - url: \"\"\n", "channels.webhooks[0].url is empty"},
		{"unknown detection", "detections:\n  nope:\n    enabled: false\n", "detections.nope"},
		{"bad parameter", "detections:\n  mass-delete:\n    parameters:\n      threshold: many\n", "threshold"},
		{"not a URL", "channels:\n  webhooks:\n    - url: ${env:TEST_HOOK_URL}\n", "want an http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseArgs([]string{"-watch", "-config", writeConfig(t, tc.text)}, testPack, now, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
}

func TestWatchFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-webhook", "http://h/x"}, "-webhook needs -watch"},
		{[]string{"-watch", "-once"}, "exclude each other"},
		{[]string{"-watch", "-since", "2h"}, "one-shot"},
		{[]string{"-watch", "-min-severity", "urgent"}, "-min-severity"},
		{[]string{"-watch", "-settle", "-1s"}, "must not be negative"},
	} {
		if _, err := parse(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
	// -once is today's one-shot run.
	if cfg, err := parse(t, "-once", "-since", "2h"); err != nil || cfg.watch || !cfg.from.Equal(now.Add(-2*time.Hour)) {
		t.Errorf("-once: %v %+v", err, cfg)
	}
	cfg, err := parse(t, "-watch", "-webhook", "http://a/1", "-webhook", "http://a/1", "-webhook", "http://a/2", "-slack", "https://s/x", "-otlp", "http://c:4318/v1/logs")
	if err != nil {
		t.Fatal(err)
	}
	// A channel given twice is one.
	if len(cfg.wcfg.channels) != 4 || cfg.wcfg.settle != time.Minute || cfg.defaultMinSeverity != "High" {
		t.Errorf("channels %d settle %v min %s", len(cfg.wcfg.channels), cfg.wcfg.settle, cfg.defaultMinSeverity)
	}
}

// The deployments' file (deploy/hfauditdetect.yaml) is a valid -config.
func TestDeployConfig(t *testing.T) {
	t.Setenv("CLICKHOUSE_HTTP_ENDPOINT", "http://clickhouse:8123")
	t.Setenv("CLICKHOUSE_USERNAME", "detect")
	t.Setenv("CLICKHOUSE_PASSWORD", "ch-s3cret")
	t.Setenv("HFAUDIT_WEBHOOK_URL", "https://hooks.example/hook-s3cret")
	cfg, err := parseArgs([]string{"-watch", "-config", filepath.Join("..", "..", "deploy", "hfauditdetect.yaml")}, testPack, now, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.target.DSN != "http://clickhouse:8123" || cfg.target.Password != "ch-s3cret" || len(cfg.wcfg.channels) != 1 ||
		cfg.wcfg.every != 0 || cfg.wcfg.settle != time.Minute || cfg.defaultMinSeverity != "High" {
		t.Errorf("%+v", cfg.wcfg)
	}
}
