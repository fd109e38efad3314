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
//
// With -watch it is a service instead (watch.go): it runs each detection on
// its schedule over [checkpoint, now - settle), stores the findings in
// huggingface_findings, runs the correlation alerts over them, and sends
// each new finding to the channels (-webhook, -slack, -otlp, or -config).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
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

	// watch runs the service (-watch) with wcfg and the alerts.
	watch  bool
	wcfg   watchConfig
	alerts []job
	// defaultMinSeverity is the least severity that notifies;
	// minSeverity overrides it per detection (from -config).
	defaultMinSeverity string
	minSeverity        map[string]string
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
	alerts, err := detections.LoadAlerts()
	if err != nil {
		fmt.Fprintf(stderr, "hfauditdetect: loading the alerts: %v\n", err)
		return exitError
	}
	cfg, err := parseArgsAlerts(args, pack, alerts, time.Now(), stderr)
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
		printList(stdout, append(cfg.jobs, cfg.alerts...))
		return exitClean
	}
	if cfg.watch {
		return runWatch(cfg, stderr)
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
	return parseArgsAlerts(args, pack, nil, now, stderr)
}

func parseArgsAlerts(args []string, pack, alerts []detections.Detection, now time.Time, stderr io.Writer) (config, error) {
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
	watch := fs.Bool("watch", false, "run as a service: each detection on its schedule, findings stored and sent to the channels")
	once := fs.Bool("once", false, "run once over the range and exit (the default without -watch)")
	every := fs.Duration("every", 0, "with -watch: run every detection at this interval instead of its YAML schedule")
	settle := fs.Duration("settle", time.Minute, "with -watch: judge up to now minus this, for inserts still in flight")
	initialLookback := fs.Duration("initial-lookback", time.Hour, "with -watch: what a detection's first run judges, before now minus -settle")
	maxAge := fs.Duration("max-delivery-age", 24*time.Hour, "with -watch: give up sending a finding found longer ago")
	var webhooks setFlags
	fs.Var(&webhooks, "webhook", "with -watch: POST each new finding as JSON to this URL (repeatable; secret, never logged)")
	slackURL := fs.String("slack", "", "with -watch: Slack incoming-webhook URL (secret, never logged)")
	otlpURL := fs.String("otlp", "", "with -watch: OTLP/HTTP logs URL, such as http://collector:4318/v1/logs")
	minSeverity := fs.String("min-severity", "High", "with -watch: least severity that notifies (Low, Medium, High, Critical); every finding is stored")
	configPath := fs.String("config", "", "with -watch: YAML file for ClickHouse, the channels and per-detection overrides (${env:NAME} expanded)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: hfauditdetect [flags]\n\nRuns the Hugging Face detection pack against huggingface_logs, once or as a service (-watch).\nExit status: 0 nothing fired, 1 findings, 2 errors.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config{}, err
		}
		return config{}, fmt.Errorf("%w: %v", errReported, err)
	}
	if fs.NArg() > 0 {
		// Not shown: after a boolean flag given "true" apart, the rest of
		// the command line (a -password, a -slack URL) lands here.
		return config{}, fmt.Errorf("%d unexpected arguments after the flags (not shown: they may hold a secret); a boolean flag takes its value after '=', as -watch=true", fs.NArg())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg := config{target: conn.Target(&http.Client{Timeout: *timeout}), database: *database, format: *format, list: *list,
		watch: *watch, defaultMinSeverity: *minSeverity, minSeverity: map[string]string{}}
	if *watch && *once {
		return config{}, errors.New("-watch and -once exclude each other")
	}
	if !*watch {
		for _, f := range []string{"every", "settle", "initial-lookback", "max-delivery-age", "webhook", "slack", "otlp", "min-severity", "config"} {
			if set[f] {
				return config{}, fmt.Errorf("-%s needs -watch", f)
			}
		}
	} else {
		for _, f := range []string{"from", "to", "since", "format"} {
			if set[f] {
				return config{}, fmt.Errorf("-%s is for one-shot runs: -watch judges from each detection's checkpoint", f)
			}
		}
	}
	var fc fileConfig
	if *configPath != "" {
		var err error
		if fc, err = readConfigFile(*configPath); err != nil {
			return config{}, err
		}
		applyFileConfig(&cfg, fc, set, every, settle, initialLookback, maxAge)
	}
	cfg.wcfg.every, cfg.wcfg.settle, cfg.wcfg.initialLookback, cfg.wcfg.maxAge = *every, *settle, *initialLookback, *maxAge
	if *watch {
		if err := watchChannels(&cfg, fc, webhooks, *slackURL, *otlpURL, *timeout); err != nil {
			return config{}, err
		}
		if cfg.wcfg.every < 0 || cfg.wcfg.settle < 0 || cfg.wcfg.initialLookback <= 0 || cfg.wcfg.maxAge <= 0 {
			return config{}, errors.New("-every and -settle must not be negative, -initial-lookback and -max-delivery-age must be positive")
		}
		if severityRank(cfg.defaultMinSeverity) == 0 {
			return config{}, fmt.Errorf("-min-severity %q: want Low, Medium, High or Critical", cfg.defaultMinSeverity)
		}
	}
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
	for _, a := range alerts {
		byName[a.Name] = a
	}
	disabled := map[string]bool{}
	var fileSets []string
	for name, o := range fc.Detections {
		if _, ok := byName[name]; !ok {
			return config{}, fmt.Errorf("-config: detections.%s: no such detection or alert (see -list)", name)
		}
		if o.Enabled != nil && !*o.Enabled {
			disabled[name] = true
		}
		if o.MinSeverity != "" {
			cfg.minSeverity[name] = o.MinSeverity
		}
		for p, v := range o.Parameters {
			fileSets = append(fileSets, fmt.Sprintf("%s.%s=%v", name, p, v))
		}
	}
	sort.Strings(fileSets)
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
	// The file's parameters first: -set wins.
	overrides, err := parseSets(append(fileSets, sets...), byName)
	if err != nil {
		return config{}, err
	}
	for _, d := range selected {
		if disabled[d.Name] {
			continue
		}
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
	// The alerts read the watcher's findings: -watch runs them, -list shows them.
	if *only == "" {
		cfg.alerts = alertJobs(alerts, overrides, disabled)
	}
	return cfg, nil
}

// applyFileConfig takes the -config file's settings that no flag set.
func applyFileConfig(cfg *config, fc fileConfig, set map[string]bool, every, settle, initialLookback, maxAge *time.Duration) {
	ch := fc.ClickHouse
	if ch.DSN != "" && !set["dsn"] {
		cfg.target.DSN = string(ch.DSN)
	}
	if ch.User != "" && !set["user"] {
		cfg.target.User = ch.User
	}
	if ch.Password != "" && !set["password"] {
		cfg.target.Password = string(ch.Password)
	}
	if ch.Database != "" && !set["database"] {
		cfg.database = ch.Database
	}
	if fc.Every != 0 && !set["every"] {
		*every = fc.Every
	}
	for _, f := range []struct {
		flag string
		file *time.Duration
		dst  *time.Duration
	}{{"settle", fc.Settle, settle}, {"initial-lookback", fc.InitialLookback, initialLookback}, {"max-delivery-age", fc.MaxDeliveryAge, maxAge}} {
		if f.file != nil && !set[f.flag] {
			*f.dst = *f.file
		}
	}
	if fc.MinSeverity != "" && !set["min-severity"] {
		cfg.defaultMinSeverity = fc.MinSeverity
	}
}

// watchChannels builds the channels of the flags and of the -config file.
// Two channels with the same URL are one.
func watchChannels(cfg *config, fc fileConfig, webhooks []string, slackURL, otlpURL string, timeout time.Duration) error {
	client := &http.Client{Timeout: timeout, CheckRedirect: sameOriginRedirects}
	var chans []channel
	for _, u := range webhooks {
		chans = append(chans, webhook{url: u, client: client})
	}
	for _, w := range fc.Channels.Webhooks {
		chans = append(chans, webhook{url: string(w.URL), client: client})
	}
	if slackURL != "" {
		chans = append(chans, slack{url: slackURL, client: client})
	}
	for _, s := range fc.Channels.Slack {
		chans = append(chans, slack{url: string(s.URL), client: client})
	}
	if otlpURL != "" {
		chans = append(chans, otlp{url: otlpURL, client: client})
	}
	for _, o := range fc.Channels.OTLP {
		h := map[string]string{}
		for k, v := range o.Headers {
			h[k] = string(v)
		}
		chans = append(chans, otlp{url: string(o.Endpoint), headers: h, client: client})
	}
	seen := map[string]bool{}
	for i, c := range chans {
		u := channelURL(c)
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			// The URL is a secret: name the channel, not the URL.
			return fmt.Errorf("channel %d (%s): want an http(s) URL", i+1, c.ID())
		}
		if !seen[c.ID()] {
			seen[c.ID()] = true
			cfg.wcfg.channels = append(cfg.wcfg.channels, c)
		}
	}
	return nil
}

// channelURL is the URL a channel posts to.
func channelURL(c channel) string {
	switch c := c.(type) {
	case webhook:
		return c.url
	case slack:
		return c.url
	case otlp:
		return c.url
	}
	return ""
}

// runWatch runs the watcher until SIGTERM or SIGINT.
func runWatch(cfg config, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	w, err := newWatcher(cfg, cfg.wcfg, cfg.alerts, log)
	if err != nil {
		fmt.Fprintf(stderr, "hfauditdetect: %v\n", err)
		return exitError
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// The tables must exist: say how to create them rather than fail each run.
	if _, _, err := w.store.checkpoint(ctx, "-"); err != nil {
		fmt.Fprintf(stderr, "hfauditdetect: reading %s.%s at %s: %v\n", cfg.database, clickhouse.CheckpointsTable, cfg.target.Endpoint(), err)
		var se *clickhouse.ServerError
		if errors.As(err, &se) && (strings.Contains(se.Message, "UNKNOWN_TABLE") || strings.Contains(se.Message, "UNKNOWN_DATABASE")) {
			fmt.Fprintf(stderr, "hfauditdetect: create the watcher's tables with hfauditschema first\n")
		}
		return exitError
	}
	if err := w.run(ctx); err != nil {
		fmt.Fprintf(stderr, "hfauditdetect: %v\n", err)
		return exitError
	}
	return exitClean
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
