package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/robfig/cron/v3"

	"github.com/hfauditlog/huggingfaceauditreceiver/detections"
)

// watchConfig is what -watch needs beyond the one-shot config.
type watchConfig struct {
	every           time.Duration // 0: each detection on its YAML schedule
	settle          time.Duration
	initialLookback time.Duration
	// maxAge: a finding not delivered within it is given up (never sent to
	// a channel added later either).
	maxAge   time.Duration
	channels []channel
}

// watchJob is one detection or alert of the watcher, with when it runs next.
type watchJob struct {
	job
	alert       bool
	minSeverity string
	schedule    cron.Schedule // nil with -every
	next        time.Time
}

// channelState is a channel and its retry schedule.
type channelState struct {
	ch    channel
	retry *backoff.ExponentialBackOff
	next  time.Time // no attempt before
	// refused are the findings the channel refused (a 4xx), each with its
	// own wait, so one of them does not hold back the others.
	refused map[string]refusal
	// givenUpAfter is the found_at (Unix ms) of the last finding logged as
	// given up after -max-delivery-age; 0 before the first pass.
	givenUpAfter int64
}

// refusal is when a refused finding is tried again.
type refusal struct {
	wait time.Duration
	next time.Time
}

// refusedStatus is an answer that refuses this finding (too large, bad
// request) rather than says the channel is down, busy or broken (its key or
// URL: 401, 403, 404, 410), which holds every finding alike.
func refusedStatus(err error) bool {
	var se *sendError
	if !errors.As(err, &se) || se.status/100 != 4 {
		return false
	}
	switch se.status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusRequestTimeout, http.StatusGone, http.StatusTooManyRequests:
		return false
	}
	return true
}

// watcher runs the detections on their schedules, judging
// [checkpoint, now - settle) each time, stores the findings and delivers
// the new ones (see detections/README.md, "The service").
type watcher struct {
	store store
	// deliveries is the pending and sent state: store, or a test's fake.
	deliveries interface {
		pending(ctx context.Context, channel string, maxAge time.Duration, limit int) ([]pendingFinding, error)
		markSent(ctx context.Context, channel, key string) error
		givenUp(ctx context.Context, channel string, maxAge time.Duration, after int64) ([]givenUpFinding, error)
	}
	cfg      config
	wcfg     watchConfig
	jobs     []*watchJob
	channels []*channelState
	log      *slog.Logger
	now      func() time.Time
	// newBackoff is the retry schedule of a channel (a test shortens it).
	newBackoff func() *backoff.ExponentialBackOff
}

// severityRank orders the severities; an unknown one ranks lowest.
func severityRank(s string) int {
	for i, v := range []string{"Low", "Medium", "High", "Critical"} {
		if strings.EqualFold(v, s) {
			return i + 1
		}
	}
	return 0
}

// defaultBackoff retries a channel after 1s, 2s, 4s ... up to a minute
// between attempts, for as long as it takes: the findings stay pending in
// ClickHouse meanwhile.
func defaultBackoff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     time.Second,
		RandomizationFactor: 0.1,
		Multiplier:          2,
		MaxInterval:         time.Minute,
	}
}

func newWatcher(cfg config, wcfg watchConfig, alerts []job, log *slog.Logger) (*watcher, error) {
	w := &watcher{
		store: store{target: cfg.target, database: cfg.database},
		cfg:   cfg, wcfg: wcfg, log: log, now: time.Now, newBackoff: defaultBackoff,
	}
	w.deliveries = w.store
	add := func(j job, alert bool) error {
		wj := &watchJob{job: j, alert: alert, minSeverity: cfg.minSeverity[j.detection.Name]}
		if wj.minSeverity == "" {
			wj.minSeverity = cfg.defaultMinSeverity
		}
		if wcfg.every == 0 {
			s, err := cron.ParseStandard(j.detection.Schedule)
			if err != nil {
				return fmt.Errorf("detection %s: schedule %q: %v", j.detection.Name, j.detection.Schedule, err)
			}
			wj.schedule = s
		}
		w.jobs = append(w.jobs, wj)
		return nil
	}
	for _, j := range cfg.jobs {
		if err := add(j, false); err != nil {
			return nil, err
		}
	}
	for _, j := range alerts {
		if err := add(j, true); err != nil {
			return nil, err
		}
	}
	for _, ch := range wcfg.channels {
		w.channels = append(w.channels, &channelState{ch: ch})
	}
	return w, nil
}

// run is the service loop. It returns when ctx is done (SIGTERM), after the
// run or delivery in progress; nothing is lost by stopping anywhere, since
// the state is in ClickHouse.
func (w *watcher) run(ctx context.Context) error {
	w.initChannels()
	chans := make([]string, len(w.channels))
	for i, cs := range w.channels {
		chans[i] = cs.ch.ID()
	}
	mode := "schedule"
	if w.wcfg.every > 0 {
		mode = "every " + w.wcfg.every.String()
	}
	w.log.Info("Watching", "detections", len(w.jobs), "runs", mode, "settle", w.wcfg.settle.String(),
		"channels", strings.Join(chans, ","), "clickhouse", w.cfg.target.Endpoint(), "database", w.cfg.database)
	// Every detection runs at start: a restart catches up at once.
	for {
		now := w.now()
		for _, j := range w.jobs {
			if ctx.Err() != nil {
				break
			}
			if j.next.After(now) {
				continue
			}
			if err := w.runJob(ctx, j); err != nil && ctx.Err() == nil {
				w.log.Error("Detection failed; retrying at the next run", "detection", j.detection.Name, "error", err.Error())
			}
			j.next = w.nextRun(j, now)
		}
		w.deliver(ctx)
		if ctx.Err() != nil {
			w.log.Info("Stopped")
			return nil
		}
		wake := w.nextWake()
		t := time.NewTimer(max(time.Until(wake), 10*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// initChannels gives every channel a fresh retry schedule.
func (w *watcher) initChannels() {
	for _, cs := range w.channels {
		cs.retry = w.newBackoff()
		cs.refused = map[string]refusal{}
	}
}

func (w *watcher) nextRun(j *watchJob, now time.Time) time.Time {
	if j.schedule == nil {
		return now.Add(w.wcfg.every)
	}
	return j.schedule.Next(now)
}

// nextWake is the next job's time, or a channel's next retry when sooner.
func (w *watcher) nextWake() time.Time {
	var wake time.Time
	for _, j := range w.jobs {
		if wake.IsZero() || j.next.Before(wake) {
			wake = j.next
		}
	}
	for _, cs := range w.channels {
		if !cs.next.IsZero() && cs.next.After(w.now()) && cs.next.Before(wake) {
			wake = cs.next
		}
	}
	return wake
}

// finishTimeout bounds how long a run that has its findings may take to
// store them and move its checkpoint, stop or not.
const finishTimeout = 30 * time.Second

// runJob judges [checkpoint, now - settle) for one detection, stores what it
// found and moves its checkpoint. A crash before the checkpoint is saved
// judges the range again: the findings are the same (dedup_key), so they
// are neither stored twice nor sent twice.
func (w *watcher) runJob(ctx context.Context, j *watchJob) error {
	name := j.detection.Name
	// The range ends on ClickHouse's clock, the one receivedAt and found_at
	// are written with, whatever the skew of this host's clock.
	serverNow, err := w.store.serverNow(ctx)
	if err != nil {
		return fmt.Errorf("reading ClickHouse's clock: %w", err)
	}
	to := serverNow.Add(-w.wcfg.settle).Truncate(time.Second)
	if j.alert {
		// Alerts read findings this process wrote already.
		to = serverNow.Truncate(time.Second)
	}
	from, ok, err := w.store.checkpoint(ctx, name)
	if err != nil {
		return fmt.Errorf("reading its checkpoint: %w", err)
	}
	if ok && from.After(serverNow) {
		// Only a clock stepped back puts it there: the events received
		// since are before it, and would never be judged. Judge again.
		w.log.Warn("Checkpoint ahead of ClickHouse's clock (was it set back?); judging -initial-lookback again",
			"detection", name, "checkpoint", from.Format(time.RFC3339), "clickhouse_now", serverNow.Format(time.RFC3339))
		ok = false
	}
	if !ok {
		from = to.Add(-w.wcfg.initialLookback)
	}
	// After a long outage the range is judged a day at a time, each with
	// its checkpoint: one query over months could outlast -timeout at
	// every run, on a range that only grows.
	for to.After(from) {
		end := to
		if end.Sub(from) > maxRunRange {
			end = from.Add(maxRunRange)
		}
		if err := w.judge(ctx, j, from, end); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		from = end
	}
	return nil
}

// maxRunRange is the most one query of a run judges.
const maxRunRange = 24 * time.Hour

// judge judges [from, to) for one detection, stores what it found and
// moves its checkpoint to to.
func (w *watcher) judge(ctx context.Context, j *watchJob, from, to time.Time) error {
	start := w.now()
	name := j.detection.Name
	runCfg := w.cfg
	runCfg.from, runCfg.to = from, to
	found, err := query(ctx, runCfg, j.job)
	if err != nil {
		return err
	}
	rows, err := w.rows(found, j, from, to)
	if err != nil {
		return err
	}
	// From here on the run is finished even when a SIGTERM arrives: a stop
	// that cancelled the checkpoint's insert after ClickHouse committed it
	// would leave a judged range without its health line, and one that
	// cancelled it before would judge the range again for nothing.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = r.DedupKey
	}
	known, err := w.store.known(ctx, keys)
	if err != nil {
		return fmt.Errorf("looking up its findings: %w", err)
	}
	fresh := 0
	for _, k := range keys {
		if !known[k] {
			fresh++
		}
	}
	if err := w.store.insertFindings(ctx, rows); err != nil {
		return fmt.Errorf("storing its findings: %w", err)
	}
	if err := w.store.saveCheckpoint(ctx, name, to); err != nil {
		return fmt.Errorf("saving its checkpoint: %w", err)
	}
	w.log.Info("Detection run", "detection", name, "from", from.Format(time.RFC3339), "to", to.Format(time.RFC3339),
		"findings", len(rows), "new", fresh, "duration", w.now().Sub(start).Round(time.Millisecond).String())
	return nil
}

// rows turns a run's findings into rows of huggingface_findings. A row
// without a dedup_key (a detection that breaks the convention) is an error:
// it could not be told apart from the next run's.
func (w *watcher) rows(found []finding, j *watchJob, from, to time.Time) ([]storedRow, error) {
	d := j.detection
	common := map[string]bool{"organization": true, "actor": true, "event_count": true, "event_ids": true,
		"first_seen": true, "last_seen": true, "dedup_key": true}
	out := make([]storedRow, 0, len(found))
	for _, f := range found {
		payload, err := findingJSON(f)
		if err != nil {
			return nil, err
		}
		r := storedRow{
			Detection: d.Name, Severity: f.severity(), RiskScore: d.RiskScore,
			Mitre:      mitre{Tactics: nonNil(d.MitreAttacks), Techniques: nonNil(d.MitreTechniques)},
			JudgedFrom: from.Unix(), JudgedTo: to.Unix(),
			Notify:  severityRank(f.severity()) >= severityRank(j.minSeverity),
			Details: map[string]string{}, Payload: string(payload),
			FirstSeen: f.value("first_seen"), LastSeen: f.value("last_seen"),
		}
		_ = json.Unmarshal(f.value("dedup_key"), &r.DedupKey)
		_ = json.Unmarshal(f.value("organization"), &r.Org)
		_ = json.Unmarshal(f.value("actor"), &r.Actor)
		_ = json.Unmarshal(f.value("event_count"), &r.EventCount)
		_ = json.Unmarshal(f.value("event_ids"), &r.EventIDs)
		if r.DedupKey == "" || r.FirstSeen == nil || r.LastSeen == nil {
			return nil, errors.New("a finding has no dedup_key, first_seen or last_seen")
		}
		for i, c := range f.columns {
			if !common[c] {
				r.Details[c] = string(f.values[i])
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// deliver sends each channel the findings it has not acknowledged, in
// order, until one fails: that channel then waits its backoff, the others
// go on.
func (w *watcher) deliver(ctx context.Context) {
	for _, cs := range w.channels {
		if ctx.Err() != nil || w.now().Before(cs.next) {
			continue
		}
		w.deliverTo(ctx, cs)
	}
}

// deliveryBatch bounds the findings read per channel and pass.
const deliveryBatch = 500

func (w *watcher) deliverTo(ctx context.Context, cs *channelState) {
	id := cs.ch.ID()
	pending, err := w.deliveries.pending(ctx, id, w.wcfg.maxAge, deliveryBatch)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("Reading pending findings failed", "channel", id, "error", err.Error())
		}
		return
	}
	w.logGivenUp(ctx, cs, id)
	for _, f := range pending {
		if ctx.Err() != nil {
			return
		}
		if w.now().Before(cs.refused[f.DedupKey].next) {
			continue
		}
		sendCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := cs.ch.Send(sendCtx, f)
		cancel()
		if err != nil {
			wait := cs.retry.NextBackOff()
			var se *sendError
			if errors.As(err, &se) && se.retryAfter > wait {
				wait = se.retryAfter
			}
			cs.next = w.now().Add(wait)
			if refusedStatus(err) {
				// Tried again after a minute, doubling up to an hour; the
				// next pass starts with the findings after it.
				if cs.refused == nil {
					cs.refused = map[string]refusal{}
				}
				r := cs.refused[f.DedupKey]
				r.wait = min(max(2*r.wait, time.Minute), time.Hour)
				r.next = w.now().Add(r.wait)
				cs.refused[f.DedupKey] = r
			}
			w.log.Warn("Delivery failed; retrying", "channel", id, "detection", f.Detection, "dedup_key", f.DedupKey,
				"error", err.Error(), "retry_in", wait.Round(time.Millisecond).String(), "pending", len(pending))
			return
		}
		cs.retry.Reset()
		cs.next = time.Time{}
		delete(cs.refused, f.DedupKey)
		// A crash here resends this finding once: delivery is at least once.
		if err := w.deliveries.markSent(ctx, id, f.DedupKey); err != nil {
			w.log.Error("Recording a delivery failed; it will be sent again", "channel", id, "dedup_key", f.DedupKey, "error", err.Error())
			return
		}
		w.log.Info("Finding sent", "channel", id, "detection", f.Detection, "dedup_key", f.DedupKey)
	}
}

// logGivenUp logs the findings the channel never acknowledged that passed
// -max-delivery-age since the last pass, asked of the store: the pending
// list is capped (deliveryBatch), and a flood leaves most of them out of it.
func (w *watcher) logGivenUp(ctx context.Context, cs *channelState, id string) {
	if cs.givenUpAfter == 0 {
		// Those given up before the start were logged by the last process.
		cs.givenUpAfter = w.now().Add(-w.wcfg.maxAge).UnixMilli()
	}
	gone, err := w.deliveries.givenUp(ctx, id, w.wcfg.maxAge, cs.givenUpAfter)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("Reading given-up findings failed", "channel", id, "error", err.Error())
		}
		return
	}
	for _, g := range gone {
		w.log.Error("Finding given up: not delivered within -max-delivery-age", "channel", id, "detection", g.Detection,
			"dedup_key", g.DedupKey, "max_delivery_age", w.wcfg.maxAge.String())
		delete(cs.refused, g.DedupKey)
		cs.givenUpAfter = max(cs.givenUpAfter, g.FoundMs)
	}
}

// alertJobs are the correlation alerts with their defaults and overrides.
func alertJobs(alerts []detections.Detection, overrides map[string]map[string]string, disabled map[string]bool) []job {
	var out []job
	for _, a := range alerts {
		if disabled[a.Name] {
			continue
		}
		params := a.Defaults()
		for k, v := range overrides[a.Name] {
			params[k] = v
		}
		out = append(out, job{detection: a, params: params})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].detection.Name < out[j].detection.Name })
	return out
}
