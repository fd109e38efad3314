package procstat

import (
	"os"
	"strings"
	"testing"
)

func TestProcReaders(t *testing.T) {
	hwm, err := StatusKB(os.Getpid(), "VmHWM")
	if err != nil || hwm < 1<<20 {
		t.Fatalf("VmHWM of this process: %d, %v", hwm, err)
	}
	rss, err := StatusKB(os.Getpid(), "VmRSS")
	if err != nil || rss < 1<<20 {
		t.Fatalf("VmRSS of this process: %d, %v", rss, err)
	}
	if _, err := StatusKB(os.Getpid(), "NoSuchField"); err == nil {
		t.Fatal("a missing field is an error")
	}
	for i := 0; i < 3e7; i++ { // burn a little CPU
		_ = strings.Repeat("x", i%3)
	}
	cpu, err := CPUTime(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Fatalf("CPU time of this process: %v, %v", cpu, err)
	}
}
