package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/procstat"
	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// The -peer mode measures the receiver's backfill against a peer in one
// run: the filelog receiver with its json_parser operator reading the same
// events as JSON lines. Both collectors run the same pipeline after the
// receiver (batch processor, debug exporter at basic verbosity), one after
// the other (in the reverse order every other round), each measured from
// its start until its debug exporter has counted every record: CPU-seconds
// (user+system) and peak RSS. The receiver keeps its cursor in
// file_storage and then polls the unchanged window a few more times (the
// steady polls), measured apart.

// peerRun is one collector's backfill.
type peerRun struct {
	cpu, steadyCPU time.Duration
	steadyPolls    int
	idleCPU        time.Duration // over o.idle after the backfill
	peakRSS        int64
	profile        string
}

func runPeerComparison(o options) error {
	dir, err := os.MkdirTemp("", "hfauditpeer-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(os.Stderr, "hfauditorgs: run directory %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	// No self-export events: the window stays the same across polls.
	sim, err := simulator.New(simulator.Options{Org: orgName(0), InitialEvents: o.events, Seed: 1, BurstSize: 3, NoSelfExport: true})
	if err != nil {
		return err
	}
	defer sim.Close()
	body := bodySize(sim)
	lines := filepath.Join(dir, "events.jsonl")
	if err := writeLines(lines, sim); err != nil {
		return err
	}
	hubURL, stopHub, err := serve(sim)
	if err != nil {
		return err
	}
	defer stopHub()

	fmt.Printf("window: %d events, body %s; %d rounds, the order of the collectors reversed every other round\n", o.events, mib(body), o.rounds)
	fmt.Printf("%-6s %-9s %-10s %-12s %-10s %-14s %s\n", "round", "side", "cpu-s", "events/cpu-s", "rss/body", "steady cpu-s", "steady/backfill")
	var recvCPU, peerCPU, baseCPU time.Duration
	// CPU by which side ran first in its round (odd rounds: the receiver):
	// of two receiver builds, the one that ran second tended to use less,
	// so each order is reported too.
	orders := [2]string{"peer first", "receiver first"}
	var byOrder [2]struct{ recv, peer time.Duration }
	for round := 1; round <= o.rounds; round++ {
		var base, recv, peer peerRun
		sides := []func() error{
			func() (err error) {
				base, err = runReceiverSide(o, o.baseline, dir, hubURL, sim, round, "baseline")
				return wrap("baseline", err)
			},
			func() (err error) {
				recv, err = runReceiverSide(o, o.collector, dir, hubURL, sim, round, "receiver")
				return wrap("receiver", err)
			},
			func() (err error) {
				peer, err = runPeerSide(o, dir, lines, round)
				return wrap("peer", err)
			},
		}
		if o.baseline == "" {
			sides = sides[1:]
		}
		order := round % 2
		if order == 0 { // even rounds: the peer first
			slices.Reverse(sides)
		}
		for _, run := range sides {
			if err := run(); err != nil {
				return err
			}
		}
		if o.baseline != "" {
			baseCPU += base.cpu
			fmt.Printf("%-6d %-9s %-10.3f %-12.0f %-10.2f %-14.3f\n", round, "baseline", base.cpu.Seconds(),
				float64(o.events)/base.cpu.Seconds(), float64(base.peakRSS)/float64(body), (base.steadyCPU / time.Duration(max(base.steadyPolls, 1))).Seconds())
		}
		perPoll := recv.steadyCPU / time.Duration(max(recv.steadyPolls, 1))
		fmt.Printf("%-6d %-9s %-10.3f %-12.0f %-10.2f %-14.3f %.1f%%\n", round, "receiver", recv.cpu.Seconds(),
			float64(o.events)/recv.cpu.Seconds(), float64(recv.peakRSS)/float64(body), perPoll.Seconds(), 100*perPoll.Seconds()/recv.cpu.Seconds())
		fmt.Printf("%-6d %-9s %-10.3f %-12.0f %-10.2f\n", round, "peer", peer.cpu.Seconds(),
			float64(o.events)/peer.cpu.Seconds(), float64(peer.peakRSS)/float64(body))
		recvCPU += recv.cpu
		peerCPU += peer.cpu
		byOrder[order].recv += recv.cpu
		byOrder[order].peer += peer.cpu
		fmt.Printf("%-6d receiver/peer events per CPU-second: %.2fx (%s)\n", round, peer.cpu.Seconds()/recv.cpu.Seconds(), orders[order])
		if o.idle > 0 {
			fmt.Printf("%-6d receiver idle for %v after the backfill: %.3f CPU-s (%.1f ms a second)\n", round, o.idle, recv.idleCPU.Seconds(),
				1000*recv.idleCPU.Seconds()/o.idle.Seconds())
		}
		if recv.profile != "" {
			fmt.Printf("%-6d receiver CPU profile: %s\n", round, recv.profile)
		}
	}
	// Absolute CPU varies a lot on a shared machine; the totals over all
	// rounds weigh each side alike.
	fmt.Printf("all rounds: receiver/peer events per CPU-second %.2fx (CPU-s %.2f vs %.2f)\n",
		peerCPU.Seconds()/recvCPU.Seconds(), recvCPU.Seconds(), peerCPU.Seconds())
	for _, order := range []int{1, 0} {
		if c := byOrder[order]; c.recv > 0 {
			fmt.Printf("  rounds with the %s: %.2fx (CPU-s %.2f vs %.2f)\n", orders[order], c.peer.Seconds()/c.recv.Seconds(), c.recv.Seconds(), c.peer.Seconds())
		}
	}
	if baseCPU > 0 {
		fmt.Printf("all rounds: baseline/peer %.2fx; receiver CPU %.0f%% of the baseline's\n",
			peerCPU.Seconds()/baseCPU.Seconds(), 100*recvCPU.Seconds()/baseCPU.Seconds())
	}
	return nil
}

func wrap(side string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", side, err)
	}
	return nil
}

// writeLines writes the window as JSON lines, one event a line, newest
// first as the export serves them.
func writeLines(path string, sim *simulator.Server) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	events := sim.EventsJSON()
	for i := len(events) - 1; i >= 0; i-- {
		_, _ = w.Write(events[i])
		_ = w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func runReceiverSide(o options, bin, dir, hubURL string, sim *simulator.Server, round int, name string) (peerRun, error) {
	var run peerRun
	name = fmt.Sprintf("%s-%d", name, round)
	storage := filepath.Join(dir, "storage-"+name)
	if err := os.MkdirAll(storage, 0o700); err != nil {
		return run, err
	}
	pollInterval := "1h"
	if o.steady > 0 {
		pollInterval = "2s"
	}
	extensions := map[string]any{"file_storage": map[string]any{"directory": storage}}
	names := []string{"file_storage"}
	if o.profile {
		run.profile = filepath.Join(dir, name+".pprof")
		extensions["pprof"] = map[string]any{"endpoint": "127.0.0.1:0", "save_to_file": run.profile}
		names = append(names, "pprof")
	}
	cfg := pipelineConfig(map[string]any{
		"huggingfaceaudit": map[string]any{
			"organization": orgName(0), "token": "${env:HF_TOKEN}", "endpoint": hubURL,
			"poll_interval": pollInterval, "storage": "file_storage",
		},
	}, extensions, names)
	calls0 := sim.Calls()
	p, err := startMeasured(bin, dir, name, cfg)
	if err != nil {
		return run, err
	}
	defer p.stop()
	if run.cpu, run.peakRSS, err = measureUntilCounted(p, o); err != nil {
		return run, err
	}
	if o.idle > 0 {
		// Nothing to do until the next poll, an hour away: what the
		// process spends idle (runtime, batch timer, memory returned).
		start, err := procstat.CPUTime(p.pid)
		if err != nil {
			return run, err
		}
		time.Sleep(o.idle)
		end, err := procstat.CPUTime(p.pid)
		if err != nil {
			return run, err
		}
		run.idleCPU = end - start
	}
	if o.steady > 0 {
		// The backfill was the first call; once the simulator has seen
		// steady+1 more, the steady polls between are complete.
		deadline := time.Now().Add(o.timeout)
		for sim.Calls() < calls0+1+o.steady+1 {
			if time.Now().After(deadline) {
				return run, errors.New("timed out waiting for the steady polls")
			}
			if err := p.exitErr(); err != nil {
				return run, err
			}
			time.Sleep(10 * time.Millisecond)
		}
		cpu, err := procstat.CPUTime(p.pid)
		if err != nil {
			return run, err
		}
		run.steadyCPU, run.steadyPolls = cpu-run.cpu, o.steady
	}
	return run, nil
}

func runPeerSide(o options, dir, lines string, round int) (peerRun, error) {
	var run peerRun
	cfg := pipelineConfig(map[string]any{
		"filelog": map[string]any{
			"include":   []string{lines},
			"start_at":  "beginning",
			"operators": []any{map[string]any{"type": "json_parser"}},
		},
	}, nil, nil)
	p, err := startMeasured(o.peer, dir, fmt.Sprintf("peer-%d", round), cfg)
	if err != nil {
		return run, err
	}
	defer p.stop()
	run.cpu, run.peakRSS, err = measureUntilCounted(p, o)
	return run, err
}

// pipelineConfig is a collector configuration: the given receiver, the
// batch processor, the debug exporter; its own logs as JSON at info level
// (the debug exporter logs each batch's record count there).
func pipelineConfig(receivers, extensions map[string]any, extNames []string) map[string]any {
	var recvNames []string
	for name := range receivers {
		recvNames = append(recvNames, name)
	}
	cfg := map[string]any{
		"receivers":  receivers,
		"processors": map[string]any{"batch": map[string]any{}},
		"exporters":  map[string]any{"debug": map[string]any{"verbosity": "basic"}},
		"service": map[string]any{
			"pipelines": map[string]any{"logs": map[string]any{"receivers": recvNames, "processors": []string{"batch"}, "exporters": []string{"debug"}}},
			"telemetry": map[string]any{"metrics": map[string]any{"level": "none"}, "logs": map[string]any{
				"level": "info", "encoding": "json",
				// Every batch's line counts: no sampling.
				"sampling": map[string]any{"enabled": false},
			}},
		},
	}
	if len(extensions) > 0 {
		cfg["extensions"] = extensions
		cfg["service"].(map[string]any)["extensions"] = extNames
	}
	return cfg
}

// startMeasured writes cfg as the configuration of the collector run name
// in dir and starts bin with it (startCollector).
func startMeasured(bin, dir, name string, cfg map[string]any) (*measuredProcess, error) {
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return nil, err
	}
	return startCollector(bin, cfgPath, filepath.Join(dir, name+".log"))
}

// measureUntilCounted follows the collector's log until its debug exporter
// has counted o.events records, then reads the process's CPU time and peak
// RSS. More records than that (a duplicate) is an error.
func measureUntilCounted(p *measuredProcess, o options) (time.Duration, int64, error) {
	path := p.log
	deadline := time.Now().Add(o.timeout)
	var offset int64
	var partial []byte
	count := 0
	for count < o.events {
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("timed out with %d of %d records (log: %s)", count, o.events, path)
		}
		if err := p.exitErr(); err != nil {
			return 0, 0, fmt.Errorf("after %d of %d records, %w", count, o.events, err)
		}
		time.Sleep(20 * time.Millisecond)
		f, err := os.Open(path)
		if err != nil {
			return 0, 0, err
		}
		_, _ = f.Seek(offset, io.SeekStart)
		chunk, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return 0, 0, err
		}
		offset += int64(len(chunk))
		data := append(partial, chunk...)
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			var line struct {
				Msg     string `json:"msg"`
				Records int    `json:"log records"`
				Level   string `json:"level"`
			}
			if json.Unmarshal(data[:i], &line) == nil {
				if line.Msg == "Logs" {
					count += line.Records
				}
				if line.Level == "error" || line.Level == "fatal" {
					return 0, 0, fmt.Errorf("the collector logged an error: %s", data[:i])
				}
			}
			data = data[i+1:]
		}
		partial = append([]byte(nil), data...)
	}
	cpu, err := procstat.CPUTime(p.pid)
	if err != nil {
		return 0, 0, err
	}
	rss, err := procstat.StatusKB(p.pid, "VmHWM")
	if err != nil {
		return 0, 0, err
	}
	if count > o.events {
		return 0, 0, fmt.Errorf("%d records for %d events", count, o.events)
	}
	return cpu, rss, nil
}

var _ http.Handler = (*simulator.Server)(nil)
