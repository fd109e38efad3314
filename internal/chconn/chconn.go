// Package chconn reads where and as whom to reach a ClickHouse HTTP
// interface from a command's flags and the environment, the same way for
// every command of this module (hfauditschema, hfauditdetect).
package chconn // import "github.com/hfauditlog/huggingfaceauditreceiver/internal/chconn"

import (
	"flag"
	"net/http"
	"os"

	"github.com/hfauditlog/huggingfaceauditreceiver/clickhouse"
)

// Environment variables read when -user or -password is not given.
const (
	UserEnv     = "CLICKHOUSE_USER"
	PasswordEnv = "CLICKHOUSE_PASSWORD"
)

// Flags holds the -dsn, -user and -password flags.
type Flags struct {
	dsn, user, password *string
}

// Register defines -dsn, -user and -password on fs.
func Register(fs *flag.FlagSet) *Flags {
	return &Flags{
		dsn:      fs.String("dsn", "http://127.0.0.1:8123", "ClickHouse HTTP interface: http(s)://[user[:password]@]host:8123"),
		user:     fs.String("user", "", "ClickHouse user (overrides the DSN's; default: $"+UserEnv+")"),
		password: fs.String("password", "", "ClickHouse password (overrides the DSN's; default: $"+PasswordEnv+")"),
	}
}

// Target returns the connection the flags describe. The user and the
// password come from -user and -password, else from $CLICKHOUSE_USER and
// $CLICKHOUSE_PASSWORD, else from the DSN. Print it with Target.Endpoint,
// which leaves the credentials out.
func (f *Flags) Target(client *http.Client) clickhouse.Target {
	user, password := *f.user, *f.password
	if user == "" {
		user = os.Getenv(UserEnv)
	}
	if password == "" {
		password = os.Getenv(PasswordEnv)
	}
	return clickhouse.Target{DSN: *f.dsn, User: user, Password: password, Client: client}
}
