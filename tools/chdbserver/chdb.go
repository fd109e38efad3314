package main

// A minimal purego binding to libchdb's C API (chdb.h of chDB 26.x). No cgo:
// purego dlopens the library at run time, so the path can come from a flag.
//
// chDB runs one engine per process and locks its data folder, so the server
// holds exactly one connection and serialises every statement through a mutex
// (an open streaming INSERT also blocks the connection until it is done).

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

type chdbLib struct {
	setSignalHandlersEnabled func(enabled int32)
	connect                  func(argc int32, argv **byte) *unsafe.Pointer
	closeConn                func(conn *unsafe.Pointer)
	queryN                   func(conn unsafe.Pointer, q *byte, qlen uintptr, f *byte, flen uintptr) unsafe.Pointer
	queryWithParamsN         func(conn unsafe.Pointer, q *byte, qlen uintptr, f *byte, flen uintptr, names **byte, nameLens *uintptr, values **byte, valueLens *uintptr, count uintptr) unsafe.Pointer
	streamInsertN            func(conn unsafe.Pointer, q *byte, qlen uintptr, f *byte, flen uintptr) unsafe.Pointer
	streamAppend             func(s unsafe.Pointer, data *byte, n uintptr) int32
	streamDone               func(s unsafe.Pointer) unsafe.Pointer
	streamInsertError        func(s unsafe.Pointer) string
	destroyInsertStream      func(s unsafe.Pointer)
	destroyResult            func(r unsafe.Pointer)
	resultBuffer             func(r unsafe.Pointer) *byte
	resultLength             func(r unsafe.Pointer) uintptr
	resultError              func(r unsafe.Pointer) string
	resultRowsWritten        func(r unsafe.Pointer) uint64
	version                  func() string
}

func loadChdb(path string) (*chdbLib, error) {
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("dlopen %s: %w", path, err)
	}
	l := &chdbLib{}
	syms := []struct {
		fn   any
		name string
	}{
		{&l.setSignalHandlersEnabled, "chdb_set_signal_handlers_enabled"},
		{&l.connect, "chdb_connect"},
		{&l.closeConn, "chdb_close_conn"},
		{&l.queryN, "chdb_query_n"},
		{&l.queryWithParamsN, "chdb_query_with_params_n"},
		{&l.streamInsertN, "chdb_stream_insert_n"},
		{&l.streamAppend, "chdb_stream_append"},
		{&l.streamDone, "chdb_stream_done"},
		{&l.streamInsertError, "chdb_stream_insert_error"},
		{&l.destroyInsertStream, "chdb_destroy_insert_stream"},
		{&l.destroyResult, "chdb_destroy_query_result"},
		{&l.resultBuffer, "chdb_result_buffer"},
		{&l.resultLength, "chdb_result_length"},
		{&l.resultError, "chdb_result_error"},
		{&l.resultRowsWritten, "chdb_result_rows_written"},
		{&l.version, "chdb_version"},
	}
	for _, s := range syms {
		addr, err := purego.Dlsym(h, s.name)
		if err != nil {
			return nil, fmt.Errorf("%s: missing symbol %s (libchdb too old?): %w", path, s.name, err)
		}
		purego.RegisterFunc(s.fn, addr)
	}
	return l, nil
}

// Conn is the process's single chDB connection.
type Conn struct {
	mu   sync.Mutex
	lib  *chdbLib
	conn *unsafe.Pointer // chdb_connection*; nil once closed

	// Session state applied with SET/USE, so that per-request URL settings
	// and the database parameter do not leak into the next request.
	curDB    string
	settings map[string]string
}

// cbytes returns a pointer to b's data (never nil: C sees a valid, empty buffer).
func cbytes(b []byte) *byte {
	if len(b) == 0 {
		return &[]byte{0}[0]
	}
	return &b[0]
}

func cstr(s string) *byte { return &append([]byte(s), 0)[0] }

// Open starts the engine on dataDir.
func Open(lib *chdbLib, dataDir string) (*Conn, error) {
	// Keep Go's own signal handlers: chDB's would break the Go runtime and
	// swallow SIGINT/SIGTERM.
	lib.setSignalHandlersEnabled(0)
	args := []*byte{cstr("clickhouse"), cstr("--path=" + dataDir)}
	p := lib.connect(int32(len(args)), &args[0])
	runtime.KeepAlive(args)
	if p == nil || *p == nil {
		return nil, errors.New("chdb_connect failed (is the data folder locked by another process?)")
	}
	return &Conn{lib: lib, conn: p, curDB: "default", settings: map[string]string{}}, nil
}

// Close closes the connection, which shuts the engine down and unlocks the data folder.
func (c *Conn) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.lib.closeConn(c.conn)
		c.conn = nil
	}
}

// takeResult copies a chdb_result's buffer and frees it.
func (c *Conn) takeResult(r unsafe.Pointer) ([]byte, uint64, error) {
	if r == nil {
		return nil, 0, nil
	}
	defer c.lib.destroyResult(r)
	if msg := c.lib.resultError(r); msg != "" {
		return nil, 0, errors.New(msg)
	}
	var out []byte
	if n := c.lib.resultLength(r); n > 0 {
		if p := c.lib.resultBuffer(r); p != nil {
			out = append([]byte(nil), unsafe.Slice(p, n)...)
		}
	}
	return out, c.lib.resultRowsWritten(r), nil
}

// query runs one statement; the caller holds c.mu.
func (c *Conn) query(sql, format string, params map[string]string) ([]byte, error) {
	if c.conn == nil {
		return nil, exception(1000, "chdbserver is shutting down")
	}
	q, f := []byte(sql), []byte(format)
	var r unsafe.Pointer
	if len(params) == 0 {
		r = c.lib.queryN(*c.conn, cbytes(q), uintptr(len(q)), cbytes(f), uintptr(len(f)))
	} else {
		var names, values []*byte
		var nameLens, valueLens []uintptr
		for k, v := range params {
			kb, vb := []byte(k), []byte(v)
			names, nameLens = append(names, cbytes(kb)), append(nameLens, uintptr(len(kb)))
			values, valueLens = append(values, cbytes(vb)), append(valueLens, uintptr(len(vb)))
		}
		r = c.lib.queryWithParamsN(*c.conn, cbytes(q), uintptr(len(q)), cbytes(f), uintptr(len(f)),
			&names[0], &nameLens[0], &values[0], &valueLens[0], uintptr(len(names)))
		runtime.KeepAlive(names)
		runtime.KeepAlive(values)
	}
	runtime.KeepAlive(q)
	runtime.KeepAlive(f)
	out, _, err := c.takeResult(r)
	return out, err
}

// prepare brings the session to the request's database and settings; the
// caller holds c.mu. Settings are applied with SET and reset with
// SET x = DEFAULT once a later request no longer asks for them.
func (c *Conn) prepare(db string, settings map[string]string) error {
	if db == "" {
		db = "default"
	}
	if db != c.curDB {
		if _, err := c.query("USE "+quoteIdent(db), "TabSeparated", nil); err != nil {
			return err
		}
		c.curDB = db
	}
	for k, old := range c.settings {
		if v, ok := settings[k]; ok && v == old {
			continue
		}
		if _, ok := settings[k]; !ok {
			if _, err := c.query("SET "+quoteIdent(k)+" = DEFAULT", "TabSeparated", nil); err != nil {
				return err
			}
			delete(c.settings, k)
		}
	}
	for k, v := range settings {
		if old, ok := c.settings[k]; ok && old == v {
			continue
		}
		if _, err := c.query("SET "+quoteIdent(k)+" = "+quoteString(v), "TabSeparated", nil); err != nil {
			return err
		}
		c.settings[k] = v
	}
	return nil
}

// Query runs sql with the given default output format.
func (c *Conn) Query(db string, settings map[string]string, sql, format string, params map[string]string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.prepare(db, settings); err != nil {
		return nil, err
	}
	return c.query(sql, format, params)
}

// Insert streams data (in the given input format) into an INSERT statement
// that has no FORMAT clause, with chdb_stream_insert_n/append/done. It
// returns the number of rows written.
func (c *Conn) Insert(db string, settings map[string]string, sql, format string, data io.Reader) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return 0, exception(1000, "chdbserver is shutting down")
	}
	if err := c.prepare(db, settings); err != nil {
		return 0, err
	}
	q, f := []byte(sql), []byte(format)
	s := c.lib.streamInsertN(*c.conn, cbytes(q), uintptr(len(q)), cbytes(f), uintptr(len(f)))
	runtime.KeepAlive(q)
	runtime.KeepAlive(f)
	if s == nil {
		return 0, errors.New("chdb_stream_insert_n returned NULL")
	}
	defer c.lib.destroyInsertStream(s) // cancels the insert unless done
	if msg := c.lib.streamInsertError(s); msg != "" {
		return 0, errors.New(msg)
	}
	buf := make([]byte, 1<<20)
	for {
		n, rerr := io.ReadFull(data, buf)
		if n > 0 {
			if c.lib.streamAppend(s, &buf[0], uintptr(n)) != 0 {
				msg := c.lib.streamInsertError(s)
				if msg == "" {
					msg = "chdb_stream_append failed"
				}
				return 0, errors.New(msg)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return 0, exception(33, "reading request body: %v", rerr)
		}
	}
	_, rows, err := c.takeResult(c.lib.streamDone(s))
	return rows, err
}
