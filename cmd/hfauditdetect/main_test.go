package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hfauditlog/huggingfaceauditreceiver/detections"
)

// testPack is two detections shaped like the pack's, independent of its content.
var testPack = []detections.Detection{
	{
		Name: "mass-delete", Severity: "High", RiskScore: 70,
		Parameters: []detections.Parameter{
			{Name: "threshold", Type: "UInt32", Default: uint64(10), Description: "deletions"},
			{Name: "window", Default: "3600", Description: "seconds"}, // short form: the SQL gives the type
			{Name: "ignore", Type: "String", Default: "bot", Description: "an actor to ignore"},
		},
		SQL: "SELECT 1 WHERE {from:DateTime} < {to:DateTime} AND {threshold:UInt32} > 0 AND {window:UInt32} > 0 AND {ignore:String} != ''",
	},
	{Name: "sso-off", Severity: "Critical", RiskScore: 90, SQL: "SELECT 1 WHERE {from:DateTime} < {to:DateTime}"},
}

var now = time.Date(2026, 6, 2, 12, 0, 0, 0, time.UTC)

func parse(t *testing.T, args ...string) (config, error) {
	t.Helper()
	return parseArgs(args, testPack, now, io.Discard)
}

func TestParseArgs(t *testing.T) {
	cfg, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.to.Equal(now) || !cfg.from.Equal(now.Add(-time.Hour)) || cfg.database != "otel" || cfg.format != "table" {
		t.Fatalf("defaults: %+v", cfg)
	}
	if len(cfg.jobs) != 2 || cfg.jobs[0].detection.Name != "sso-off" {
		t.Fatalf("want every detection, the riskiest first: %+v", cfg.jobs)
	}
	if p := cfg.jobs[1].params; p["threshold"] != "10" || p["window"] != "3600" || p["ignore"] != "bot" {
		t.Fatalf("defaults of the parameters: %v", p)
	}

	cfg, err = parse(t, "-only", "mass-delete", "-set", "mass-delete.threshold=25", "-set", "mass-delete.ignore=ci bot",
		"-since", "24h", "-to", "2026-06-01T00:00:00Z", "-format", "json", "-database", "sec")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.jobs) != 1 || cfg.jobs[0].params["threshold"] != "25" || cfg.jobs[0].params["ignore"] != "ci bot" || cfg.jobs[0].params["window"] != "3600" {
		t.Fatalf("-only and -set: %+v", cfg.jobs)
	}
	if cfg.from.Format(time.RFC3339) != "2026-05-31T00:00:00Z" || cfg.format != "json" || cfg.database != "sec" {
		t.Fatalf("range or format: %v %v %s", cfg.from, cfg.to, cfg.format)
	}
	cfg, err = parse(t, "-from", "2026-05-01T00:00:00+02:00", "-to", "2026-05-02T00:00:00Z")
	if err != nil || cfg.from.Unix() != time.Date(2026, 4, 30, 22, 0, 0, 0, time.UTC).Unix() {
		t.Fatalf("-from: %v, %v", cfg.from, err)
	}
}

func TestParseArgsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-set", "nope.threshold=3"}, `no detection "nope"`},
		{[]string{"-set", "mass-delete.treshold=3"}, `has no parameter "treshold" (it has: threshold, window, ignore)`},
		{[]string{"-set", "sso-off.threshold=3"}, `has no parameter "threshold" (it has: none)`},
		{[]string{"-set", "mass-delete.threshold=many"}, `threshold is UInt32: "many" is not a valid value`},
		{[]string{"-set", "mass-delete.threshold=-1"}, `is not a valid value`},
		{[]string{"-set", "mass-delete.window=1h"}, `window is UInt32`},
		{[]string{"-set", "mass-delete.threshold=4294967296"}, `threshold is UInt32: out of range`},
		{[]string{"-set", "mass-delete.from=2026-01-01 00:00:00"}, "the time range is set with -from, -to and -since"},
		{[]string{"-set", "mass-delete"}, "want NAME.PARAM=VALUE"},
		{[]string{"-set", "threshold=3"}, "want NAME.PARAM=VALUE"},
		{[]string{"-only", "mass-delete,typo"}, `-only: no detection "typo"`},
		{[]string{"-from", "yesterday"}, "-from:"},
		{[]string{"-to", "2026-06-01"}, "-to:"},
		{[]string{"-from", "2026-06-01T00:00:00Z", "-since", "2h"}, "exclude each other"},
		{[]string{"-from", "2026-06-03T00:00:00Z"}, "the time range is empty"},
		{[]string{"-since", "-1h"}, "want a positive duration"},
		{[]string{"-format", "csv"}, "want table or json"},
		{[]string{"-database", ""}, "-database must not be empty"},
		{[]string{"extra"}, "1 unexpected arguments"},
		{[]string{"-watch", "true", "-slack", "https://hooks.slack.com/services/T0/B0/S3cretTok"}, "3 unexpected arguments after the flags (not shown"},
	} {
		_, err := parse(t, tc.args...)
		if err != nil && strings.Contains(err.Error(), "S3cret") {
			t.Errorf("%q: the error shows a secret: %v", tc.args, err)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
	if _, err := parse(t, "-bogus"); err == nil {
		t.Error("an unknown flag was accepted")
	}
	if _, err := parse(t, "-h"); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

// TestRunFlagErrors checks the exit code and the message of a bad command
// line against the real pack.
func TestRunFlagErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-set", "no-such-detection.x=1"}, &out, &errb); code != exitError || !strings.Contains(errb.String(), `no detection "no-such-detection"`) {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	out.Reset()
	if code := run([]string{"-list"}, &out, &errb); code != exitClean {
		t.Fatalf("-list: exit %d", code)
	}
	pack, err := detections.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range pack {
		if !strings.Contains(out.String(), d.Name+"  (") {
			t.Errorf("-list does not show %s", d.Name)
		}
		for _, p := range d.Parameters {
			if !strings.Contains(out.String(), "-set "+d.Name+"."+p.Name+"=") {
				t.Errorf("-list does not show %s.%s", d.Name, p.Name)
			}
		}
	}
}
