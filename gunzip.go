package huggingfaceauditreceiver // import "github.com/hfauditlog/huggingfaceauditreceiver"

import (
	"compress/flate"
	"errors"
	"io"

	"github.com/klauspost/compress/gzip"
)

// The receiver asks the Hub for a gzip-compressed export (as Go's transport
// would) but decompresses it itself, with klauspost/compress instead of the
// standard library's compress/gzip: decompressing is most of the cost of a
// poll that finds nothing new (see docs/performance.md).

// gunzip opens a gzip stream. A variable so that the benchmarks can compare
// decompressors.
var gunzip = func(r io.Reader) (io.ReadCloser, error) { return gzip.NewReader(r) }

// isGzipError tells a corrupt gzip stream (the Hub sent bad data) from a
// transport failure. (klauspost's errors are the standard library's.)
func isGzipError(err error) bool {
	var corrupt flate.CorruptInputError
	return errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) || errors.As(err, &corrupt)
}
