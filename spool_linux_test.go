package huggingfaceauditreceiver

import (
	"math"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An event of 2 GiB or more does not fit the spool's 32-bit sizes: it is
// refused with an error that fails the pass, not cut short. The event is
// address space only (mapped, never touched), so the test costs no memory.
func TestSpoolRefusesAnEventOver2GiB(t *testing.T) {
	huge, err := syscall.Mmap(-1, 0, math.MaxInt32+1, syscall.PROT_READ, syscall.MAP_ANON|syscall.MAP_PRIVATE|syscall.MAP_NORESERVE)
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Munmap(huge) })

	s := newSpool(100, t.TempDir())
	defer s.close()
	var small, big pendingEvent
	s.add([]byte(`{"_id":"a"}`), &small)
	s.add(huge, &big)
	require.EqualError(t, s.err, "an event of 2147483648 bytes is too large to keep")
	assert.False(t, s.spooled(), "nothing of it was written")
	assert.Zero(t, big.size)
	raws := make([][]byte, 1)
	require.NoError(t, s.load([]pendingEvent{small}, raws))
	assert.Equal(t, `{"_id":"a"}`, string(raws[0]), "what was kept before it is intact")
}
