// Command hfauditdetect runs the Hugging Face detection pack (detections/)
// against the huggingface_logs table of a ClickHouse server and prints what
// fired:
//
//	hfauditdetect -dsn http://clickhouse:8123 -database otel -since 1h
//	hfauditdetect -from 2026-06-01T00:00:00Z -to 2026-06-02T00:00:00Z -format json
//	hfauditdetect -only huggingface-mass-repo-deletion -set huggingface-mass-repo-deletion.threshold=20
//
// Each detection is one POST to the ClickHouse HTTP interface, its SQL as the
// body and its parameters as query parameters (param_from, param_to and the
// ones it declares, defaults overridden with -set). Credentials are read as
// hfauditschema reads them (-user/-password, $CLICKHOUSE_USER and
// $CLICKHOUSE_PASSWORD, the DSN) and never printed.
//
// Exit status: 0 when nothing fired, 1 when a detection returned findings,
// 2 on errors (bad flags, a detection that could not run).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"
	"github.com/hfauditlog/huggingfaceauditreceiver/detections"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/chconn"
)

// Exit codes.
const (
	exitClean    = 0
	exitFindings = 1
	exitError    = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is what the command line asks for.
type config struct {
	target   clickhouse.Target
	database string
	from, to time.Time
	format   string
	list     bool
	// jobs are the selected detections with their parameter values, in
	// output order.
	jobs []job
}

// job is one detection to run and the values of its declared parameters.
type job struct {
	detection detections.Detection
	params    map[string]string
}

func run(args []string, stdout, stderr io.Writer) int {
	pack, err := detections.Load()
	if err != nil {
		fmt.Fprintf(stderr, "hfauditdetect: loading the detection pack: %v\n", err)
		return exitError
	}
	cfg, err := parseArgs(args, pack, time.Now(), stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitClean
	}
	if errors.Is(err, errReported) {
		return exitError // the flag package printed it, with the usage
	}
	if err != nil {
		fmt.Fprintf(stderr, "hfauditdetect: %v\n", err)
		return exitError
	}
	if cfg.list {
		printList(stdout, cfg.jobs)
		return exitClean
	}
	findings, errs := execute(context.Background(), cfg, stderr)
	switch cfg.format {
	case "json":
		if err := printJSON(stdout, findings); err != nil {
			fmt.Fprintf(stderr, "hfauditdetect: %v\n", err)
			return exitError
		}
	default:
		printTable(stdout, cfg, findings, errs)
	}
	switch {
	case errs > 0:
		return exitError
	case len(findings) > 0:
		return exitFindings
	}
	return exitClean
}

// errReported marks an error the flag package has already printed.
var errReported = errors.New("bad command line")

// setFlags collects repeated -set NAME.PARAM=VALUE flags.
type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, " ") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

func parseArgs(args []string, pack []detections.Detection, now time.Time, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("hfauditdetect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conn := chconn.Register(fs)
	database := fs.String("database", clickhouse.DefaultDatabase, "database of the huggingface_logs table")
	from := fs.String("from", "", "start of the range, RFC 3339 (inclusive): judge the events that reached ClickHouse (receivedAt) from then; default: -to minus -since")
	to := fs.String("to", "", "end of the range of receivedAt, RFC 3339 (exclusive); default: now")
	since := fs.Duration("since", time.Hour, "length of the time range ending at -to, when -from is not given")
	only := fs.String("only", "", "comma-separated detection names to run (default: all)")
	var sets setFlags
	fs.Var(&sets, "set", "override a parameter: NAME.PARAM=VALUE (repeatable; see -list)")
	format := fs.String("format", "table", "output: table (for people) or json (one object per finding row)")
	timeout := fs.Duration("timeout", 2*time.Minute, "timeout of each detection's query")
	list := fs.Bool("list", false, "list the detections and their parameters, then exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: hfauditdetect [flags]\n\nRuns the Hugging Face detection pack against huggingface_logs.\nExit status: 0 nothing fired, 1 findings, 2 errors.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config{}, err
		}
		return config{}, fmt.Errorf("%w: %v", errReported, err)
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg := config{target: conn.Target(&http.Client{Timeout: *timeout}), database: *database, format: *format, list: *list}
	if cfg.format != "table" && cfg.format != "json" {
		return config{}, fmt.Errorf("-format %q: want table or json", cfg.format)
	}
	if cfg.database == "" {
		return config{}, errors.New("-database must not be empty")
	}

	var err error
	cfg.to = now
	if *to != "" {
		if cfg.to, err = time.Parse(time.RFC3339, *to); err != nil {
			return config{}, fmt.Errorf("-to: %v (want RFC 3339, such as 2026-06-01T12:00:00Z)", err)
		}
	}
	sinceSet := false
	fs.Visit(func(f *flag.Flag) { sinceSet = sinceSet || f.Name == "since" })
	switch {
	case *from != "" && sinceSet:
		return config{}, errors.New("-from and -since exclude each other")
	case *from != "":
		if cfg.from, err = time.Parse(time.RFC3339, *from); err != nil {
			return config{}, fmt.Errorf("-from: %v (want RFC 3339, such as 2026-06-01T00:00:00Z)", err)
		}
	default:
		if *since <= 0 {
			return config{}, fmt.Errorf("-since %v: want a positive duration", *since)
		}
		cfg.from = cfg.to.Add(-*since)
	}
	if !cfg.from.Before(cfg.to) {
		return config{}, fmt.Errorf("the time range is empty: from %s is not before to %s", cfg.from.Format(time.RFC3339), cfg.to.Format(time.RFC3339))
	}

	byName := map[string]detections.Detection{}
	for _, d := range pack {
		byName[d.Name] = d
	}
	selected := pack
	if *only != "" {
		selected = nil
		seen := map[string]bool{}
		for _, n := range strings.Split(*only, ",") {
			n = strings.TrimSpace(n)
			d, ok := byName[n]
			if !ok {
				return config{}, fmt.Errorf("-only: no detection %q (see -list)", n)
			}
			if !seen[n] {
				seen[n] = true
				selected = append(selected, d)
			}
		}
	}
	overrides, err := parseSets(sets, byName)
	if err != nil {
		return config{}, err
	}
	for _, d := range selected {
		params := d.Defaults()
		for k, v := range overrides[d.Name] {
			params[k] = v
		}
		cfg.jobs = append(cfg.jobs, job{detection: d, params: params})
	}
	// The most severe first, so that a person reads them first.
	sort.SliceStable(cfg.jobs, func(i, j int) bool {
		return cfg.jobs[i].detection.RiskScore > cfg.jobs[j].detection.RiskScore
	})
	return cfg, nil
}

// parseSets checks every -set NAME.PARAM=VALUE against the pack: the
// detection and its parameter must exist and VALUE must be of its type.
func parseSets(sets []string, byName map[string]detections.Detection) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for _, s := range sets {
		key, value, ok := strings.Cut(s, "=")
		name, param, ok2 := strings.Cut(key, ".")
		if !ok || !ok2 || name == "" || param == "" {
			return nil, fmt.Errorf("-set %q: want NAME.PARAM=VALUE", s)
		}
		d, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("-set %q: no detection %q (see -list)", s, name)
		}
		typ, declared := d.ParamType(param)
		if !declared {
			if param == "from" || param == "to" {
				return nil, fmt.Errorf("-set %q: the time range is set with -from, -to and -since", s)
			}
			return nil, fmt.Errorf("-set %q: detection %s has no parameter %q (it has: %s)", s, name, param, paramNames(d))
		}
		if err := checkValue(typ, value); err != nil {
			return nil, fmt.Errorf("-set %q: %s is %s: %v", s, param, typ, err)
		}
		if out[name] == nil {
			out[name] = map[string]string{}
		}
		out[name][param] = value
	}
	return out, nil
}

func paramNames(d detections.Detection) string {
	if len(d.Parameters) == 0 {
		return "none"
	}
	names := make([]string, len(d.Parameters))
	for i, p := range d.Parameters {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// checkValue is detections.CheckValue with an error for people, so a typo
// fails before any query runs.
func checkValue(typ, s string) error {
	err := detections.CheckValue(typ, s)
	if errors.Is(err, strconv.ErrRange) {
		return errors.New("out of range")
	}
	if err != nil {
		return fmt.Errorf("%q is not a valid value", s)
	}
	return nil
}

func printList(w io.Writer, jobs []job) {
	for _, r := range jobs {
		d := r.detection
		fmt.Fprintf(w, "%s  (%s, risk %d, %s)\n    %s\n", d.Name, d.Severity, d.RiskScore, strings.Join(append(append([]string(nil), d.MitreAttacks...), d.MitreTechniques...), " "), d.DisplayName)
		for _, p := range d.Parameters {
			typ, _ := d.ParamType(p.Name)
			fmt.Fprintf(w, "    -set %s.%s=%s  (%s) %s\n", d.Name, p.Name, r.params[p.Name], typ, p.Description)
		}
	}
}
