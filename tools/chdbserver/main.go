// Command chdbserver serves the ClickHouse HTTP interface on a local address,
// backed by chDB (ClickHouse as a library, loaded with purego, no cgo). It is
// a test and demo tool: it lets the real clickhouse-go client (and so the
// contrib clickhouseexporter) talk to a real ClickHouse engine without a
// ClickHouse server.
//
//	chdbserver -listen 127.0.0.1:0 -data DIR [-lib PATH/libchdb.so]
//
// One data folder belongs to one process: chDB locks it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// npmLib is where the repo's tools/npm/package.json installs libchdb.
const npmLib = "tools/npm/node_modules/@chdb/lib-linux-x64-gnu/libchdb.so"

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (port 0 picks a free port)")
	data := flag.String("data", "", "chDB data folder (required; one process per folder)")
	lib := flag.String("lib", "", "path to libchdb.so (default $CHDB_LIB_PATH, then "+npmLib+" found upward from the executable or working directory)")
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	log.SetPrefix("chdbserver: ")
	if *data == "" {
		fmt.Fprintln(os.Stderr, "chdbserver: -data is required")
		flag.Usage()
		os.Exit(2)
	}
	libPath, err := findLib(*lib)
	if err != nil {
		log.Fatal(err)
	}
	srv, err := Start(libPath, *data, *listen)
	if err != nil {
		log.Fatal(err)
	}
	// Callers parse this exact line.
	fmt.Printf("chdbserver: listening on http://%s\n", srv.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.Printf("got %v, shutting down", s)
	case err := <-srv.done:
		log.Printf("server stopped: %v", err)
	}
	srv.Close()
}

// findLib resolves the -lib flag, $CHDB_LIB_PATH, then the npm install path
// searched upward from the executable's and the working directory.
func findLib(flagVal string) (string, error) {
	if flagVal != "" {
		return flagVal, nil
	}
	if p := os.Getenv("CHDB_LIB_PATH"); p != "" {
		return p, nil
	}
	var starts []string
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(exe))
		}
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for {
			p := filepath.Join(dir, npmLib)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", errors.New("libchdb.so not found: pass -lib, set CHDB_LIB_PATH, or run `npm ci` in tools/npm")
}

// Server is a running chdbserver.
type Server struct {
	conn *Conn
	ln   net.Listener
	http *http.Server
	done chan error
}

// Start loads libchdb, opens dataDir and starts serving on listen. It
// returns once the listener accepts connections.
func Start(libPath, dataDir, listen string) (*Server, error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	lib, err := loadChdb(libPath)
	if err != nil {
		return nil, err
	}
	conn, err := Open(lib, dataDir)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		conn.Close()
		return nil, err
	}
	s := &Server{conn: conn, ln: ln, done: make(chan error, 1)}
	s.http = &http.Server{Handler: &handler{conn: conn}, ReadHeaderTimeout: 30 * time.Second}
	go func() { s.done <- s.http.Serve(ln) }()
	return s, nil
}

// Addr is the address the server listens on (host:port).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops accepting requests, waits briefly for running ones and closes
// the chDB connection so the data folder is unlocked.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.http.Shutdown(ctx)
	s.conn.Close()
}
