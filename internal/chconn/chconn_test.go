package chconn

import (
	"flag"
	"io"
	"net/http"
	"testing"
)

func TestTarget(t *testing.T) {
	for _, tc := range []struct {
		name, envUser, envPass string
		args                   []string
		wantUser, wantPass     string
		wantDSN                string
	}{
		{name: "DSN only", args: []string{"-dsn", "http://a:b@h:8123"}, wantDSN: "http://a:b@h:8123"},
		{name: "environment", envUser: "eu", envPass: "ep", args: []string{"-dsn", "http://a:b@h:8123"}, wantUser: "eu", wantPass: "ep", wantDSN: "http://a:b@h:8123"},
		{name: "flags win", envUser: "eu", envPass: "ep", args: []string{"-user", "fu", "-password", "fp"}, wantUser: "fu", wantPass: "fp", wantDSN: "http://127.0.0.1:8123"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(UserEnv, tc.envUser)
			t.Setenv(PasswordEnv, tc.envPass)
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			f := Register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			client := &http.Client{}
			got := f.Target(client)
			if got.User != tc.wantUser || got.Password != tc.wantPass {
				t.Fatalf("user %q password %q, want %q %q", got.User, got.Password, tc.wantUser, tc.wantPass)
			}
			if got.DSN != tc.wantDSN || got.Client != client {
				t.Fatalf("DSN %q, client %p: want %q, %p", got.DSN, got.Client, tc.wantDSN, client)
			}
		})
	}
}
