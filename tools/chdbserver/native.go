package main

import (
	"bytes"
	"errors"
	"io"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// reencodeNative rewrites Native data from the revision-0 layout that chDB
// produces into the layout of protocol revision rev: from revision 1 on each
// block starts with a BlockInfo header, and from 54454 on each column carries
// a "has custom serialization" flag. Column data itself is unchanged, but its
// length is only known by decoding, so blocks are decoded with clickhouse-go's
// own codec and encoded again.
func reencodeNative(raw []byte, rev uint64) ([]byte, error) {
	if rev == 0 {
		return raw, nil
	}
	r := chproto.NewReader(bytes.NewReader(raw))
	var out chproto.Buffer
	for {
		blk := proto.Block{ServerContext: &column.ServerContext{Timezone: time.UTC}}
		if err := blk.Decode(r, 0); err != nil {
			if errors.Is(err, io.EOF) {
				return out.Buf, nil // clean end between blocks
			}
			return nil, err
		}
		if err := blk.Encode(&out, rev); err != nil {
			return nil, err
		}
	}
}
