package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hfauditlog/huggingfaceauditreceiver/internal/simulator"
)

// detect builds cmd/hfauditdetect, runs it against the demo's ClickHouse as
// a user would (table output), runs it again for JSON, and prints each step
// of the attack next to the detections whose findings hold its events.
func detect(dir, chURL string, attack simulator.Attack, from time.Time) error {
	bin, err := buildDetect(dir)
	if err != nil {
		return err
	}
	args := []string{"-dsn", chURL, "-database", "otel", "-from", from.UTC().Format(time.RFC3339)}
	step("Detections: hfauditdetect %s", strings.Join(args, " "))
	table, err := runDetect(bin, args...)
	if err != nil {
		return err
	}
	fmt.Print(indent(table))

	out, err := runDetect(bin, append(args, "-format", "json")...)
	if err != nil {
		return err
	}
	stepOf := map[string]int{}
	for i, st := range attack.Steps {
		for _, id := range st.EventIDs {
			stepOf[id] = i
		}
	}
	// A detection is shown next to the first step whose events it cites.
	caught := make([][]string, len(attack.Steps))
	shown := map[string]bool{}
	background := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		var f struct {
			Detection string   `json:"detection"`
			Severity  string   `json:"severity"`
			EventIDs  []string `json:"event_ids"`
		}
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			return fmt.Errorf("hfauditdetect -format json: %v", err)
		}
		first := -1
		for _, id := range f.EventIDs {
			if i, ok := stepOf[id]; ok && (first < 0 || i < first) {
				first = i
			}
		}
		switch {
		case first < 0:
			background[f.Detection]++
		case !shown[f.Detection]:
			shown[f.Detection] = true
			caught[first] = append(caught[first], fmt.Sprintf("%s (%s)", f.Detection, f.Severity))
		}
	}
	step("The attack, step by step, and the detections that fired on its events")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "  STORY STEP\tDETECTIONS THAT FIRED")
	missed := 0
	for i, st := range attack.Steps {
		names := caught[i]
		if len(names) == 0 {
			names = []string{"-"}
			missed++
		}
		sort.Strings(names)
		for j, n := range names {
			what := ""
			if j == 0 {
				what = fmt.Sprintf("%d. %s", i+1, st.What)
			}
			fmt.Fprintf(tw, "  %s\t%s\n", what, n)
		}
	}
	tw.Flush()
	fmt.Printf("  %d of %d steps caught by %d detections", len(attack.Steps)-missed, len(attack.Steps), len(shown))
	if len(background) > 0 {
		var names []string
		for n, c := range background {
			names = append(names, fmt.Sprintf("%s ×%d", n, c))
		}
		sort.Strings(names)
		fmt.Printf("; findings on the simulator's random background events: %s", strings.Join(names, ", "))
	}
	fmt.Println()
	return nil
}

// buildDetect builds cmd/hfauditdetect into dir/bin.
func buildDetect(dir string) (string, error) {
	bin := filepath.Join(dir, "bin", "hfauditdetect")
	build := exec.Command("go", "build", "-o", bin, "./cmd/hfauditdetect")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building hfauditdetect: %w", err)
	}
	return bin, nil
}

// runDetect runs the runner; exit status 1 means findings, not failure.
func runDetect(bin string, args ...string) (string, error) {
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		return "", fmt.Errorf("hfauditdetect %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}
