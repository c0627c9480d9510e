package sidecar

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostBinary is the real autoconfig-host: $AUTOCONFIG_HOST_BIN, by default
// target/debug/autoconfig-host at the repository root (`cargo build -p autoconfig-host`). The
// tests that need it skip only when the variable is unset and the default is missing.
func hostBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("AUTOCONFIG_HOST_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("AUTOCONFIG_HOST_BIN=%s: %v", bin, err)
		}
		return bin
	}
	bin := filepath.Join(repoRoot(t), "target", "debug", "autoconfig-host")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("SKIP: autoconfig-host not built (%s is missing and AUTOCONFIG_HOST_BIN is unset); "+
			"build it with `cargo build -p autoconfig-host` at the repository root", bin)
	}
	return bin
}

// hostEnv is this process's environment without the variables autoconfig-host reads, so the
// developer's shell cannot change the tests.
func hostEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name := kv[:strings.IndexByte(kv+"=", '=')]
		switch name {
		case "AUTO_CONFIG_KEY", "STREAM_URI", "RUST_LOG", "AUTOCONFIG_CACHE_DIR", "AUTOCONFIG_STATE_FILE":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// lockedBuffer collects the sidecar's stderr for the failure messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The --demo story (host/src/demo-story.json) arrives callback by callback, in order, and the
// sidecar exits 0 at its end (about 9 s).
func TestEndToEndDemo(t *testing.T) {
	t.Parallel()
	bin := hostBinary(t)
	h := newSyncRecorder()
	var stderr lockedBuffer
	var updated time.Time
	var expiresAt *uint64
	s, err := Start(Config{Path: bin, Args: []string{"--demo"}, Env: hostEnv(), Stderr: &stderr}, &envSpy{syncRecorder: h, onUpdate: func(e Environment) {
		if e.EnvID == "production" && e.Version == 2 {
			updated = time.Now()
			if e.ExpiringSDKKey != nil {
				expiresAt = e.ExpiringSDKKey.ExpiresAt
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.cmd.Process.Kill() }()
	start := time.Now()
	for _, want := range []string{
		"add dev-alice v1",
		"add production v1",
		"add staging v1",
		"ready",
		"update staging v2",
		"update production v2 expiring sdk-prod-0000-1111@", // the expiry is "now + 3 s" at run time
		"key-expired production sdk-prod-0000-1111",
		"delete dev-alice",
		"update production v3",
		"add qa v1",
		"ready",
	} {
		select {
		case got := <-h.calls:
			if got != want && !(strings.HasSuffix(want, "@") && strings.HasPrefix(got, want)) {
				t.Fatalf("got %q, want %q\nstderr:\n%s", got, want, stderr.String())
			}
			if got == "key-expired production sdk-prod-0000-1111" {
				// The old key expires 3 s after the rotation, and the sidecar says so on time.
				if expiresAt == nil {
					t.Fatal("the rotation had no expiry")
				}
				if d := time.Since(updated); d < 2500*time.Millisecond || d > 6*time.Second {
					t.Fatalf("key-expired %v after the rotation, want about 3 s", d)
				}
				if late := time.Now().UnixMilli() - int64(*expiresAt); late < -50 || late > 3000 {
					t.Fatalf("key-expired %d ms after its expiresAt", late)
				}
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no %q within 30 s\nstderr:\n%s", want, stderr.String())
		}
	}
	if err := waitDone(t, s, 20*time.Second); err != nil {
		t.Fatalf("the demo should exit 0: %v\nstderr:\n%s", err, stderr.String())
	}
	if calls, errs := h.snapshot(); len(calls) != 11 || len(errs) != 0 {
		t.Fatalf("extra calls or errors: %q %v", calls, errs)
	}
	t.Logf("the demo story took %v", time.Since(start).Round(time.Millisecond))
}

// envSpy hands the environments to test functions before recording the call (so a test that
// saw the call sees the environment too).
type envSpy struct {
	*syncRecorder
	onAdd, onUpdate func(Environment)
}

func (e *envSpy) AddEnvironment(env Environment) {
	if e.onAdd != nil {
		e.onAdd(env)
	}
	e.syncRecorder.AddEnvironment(env)
}

func (e *envSpy) UpdateEnvironment(env Environment) {
	if e.onUpdate != nil {
		e.onUpdate(env)
	}
	e.syncRecorder.UpdateEnvironment(env)
}

// A stream that answers 401 on the first connection: exit 1, ErrInvalidKey, no callback. The key
// arrives in Authorization through the environment.
func TestEndToEndInvalidKey(t *testing.T) {
	bin := hostBinary(t)
	var mu sync.Mutex
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	}))
	defer srv.Close()
	h := newSyncRecorder()
	var stderr lockedBuffer
	s, err := Start(Config{
		Path: bin, Args: []string{"--stream-uri", srv.URL, "--initial-retry-delay", "100ms"},
		Key: "rel-bad-key-0000", Env: hostEnv(), Stderr: &stderr,
	}, h)
	if err != nil {
		t.Fatal(err)
	}
	err = waitDone(t, s, 30*time.Second)
	var ee *ExitError
	if !errors.Is(err, ErrInvalidKey) || !errors.As(err, &ee) || ee.Code != 1 {
		t.Fatalf("want exit 1 (ErrInvalidKey), got %v\nstderr:\n%s", err, stderr.String())
	}
	if calls, errs := h.snapshot(); len(calls) != 0 || len(errs) != 0 {
		t.Fatalf("callbacks on an invalid key: %q %v", calls, errs)
	}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(auth, []string{"GET /relay_auto_config rel-bad-key-0000"}) {
		t.Fatalf("requests: %q", auth)
	}
	if !strings.Contains(strings.ToLower(stderr.String()), "invalid auto-configuration key") || strings.Contains(stderr.String(), "rel-bad-key-0000") {
		t.Fatalf("stderr should say why and mask the key:\n%s", stderr.String())
	}
}

// Bad usage: exit 2, ErrUsage, with the reason on stderr.
func TestEndToEndUsage(t *testing.T) {
	bin := hostBinary(t)
	for _, tc := range []struct {
		name string
		cfg  Config
		says string
	}{
		{"no key", Config{Args: []string{"--stream-uri", "http://127.0.0.1:9"}}, "no auto-configuration key"},
		{"a duration without a unit", Config{Args: []string{"--initial-retry-delay", "5"}, Key: "k"}, "5"},
		// The reason names the file (its wording is the host's: "cannot read it: No such file ...").
		{"a missing component", Config{Args: []string{"--component", "/nonexistent.wasm"}, Key: "k"}, "/nonexistent.wasm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr lockedBuffer
			cfg := tc.cfg
			cfg.Path, cfg.Env, cfg.Stderr = bin, hostEnv(), &stderr
			s, err := Start(cfg, newSyncRecorder())
			if err != nil {
				t.Fatal(err)
			}
			err = waitDone(t, s, 30*time.Second)
			if !errors.Is(err, ErrUsage) || !strings.Contains(stderr.String(), tc.says) {
				t.Fatalf("want exit 2 (ErrUsage) saying %q, got %v\nstderr:\n%s", tc.says, err, stderr.String())
			}
		})
	}
}

// A live stream: the put arrives, then Stop (SIGTERM) ends the sidecar cleanly (exit 0).
func TestEndToEndStop(t *testing.T) {
	bin := hostBinary(t)
	closed := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "rel-good-key-1234" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		env := `{"envId":"e1","envKey":"prod","envName":"Prod","projKey":"p","projName":"P","sdkKey":{"value":"sdk-1"},"mobKey":"mob-1","defaultTtl":2,"secureMode":true,"version":4}`
		fmt.Fprintf(w, "event: put\ndata: {\"path\":\"/\",\"data\":{\"environments\":{\"e1\":%s}}}\n\n", env)
		w.(http.Flusher).Flush()
		select { // hold the stream open until the sidecar goes or the test ends
		case <-r.Context().Done():
		case <-closed:
		}
	}))
	defer srv.Close()
	defer close(closed)
	h := newSyncRecorder()
	var stderr lockedBuffer
	var got Environment
	s, err := Start(Config{
		Path: bin, Args: []string{"--stream-uri", srv.URL + "/"},
		Key: "rel-good-key-1234", Env: hostEnv(), Stderr: &stderr,
	}, &envSpy{syncRecorder: h, onAdd: func(e Environment) { got = e }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.cmd.Process.Kill() }()
	h.await(t, "add e1 v4", 30*time.Second)
	h.await(t, "ready", 10*time.Second)
	want := Environment{EnvID: "e1", EnvKey: "prod", EnvName: "Prod", ProjectKey: "p", ProjectName: "P", SDKKey: "sdk-1", MobileKey: "mob-1", DefaultTTLMinutes: 2, SecureMode: true, Version: 4}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("env:\n got %#v\nwant %#v", got, want)
	}
	start := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Logf("Stop took %v", time.Since(start).Round(time.Millisecond))
}

// Stop right after Start (the sidecar may not listen for SIGTERM yet) is a clean stop too.
func TestEndToEndStopRightAway(t *testing.T) {
	bin := hostBinary(t)
	var stderr lockedBuffer
	s, err := Start(Config{Path: bin, Args: []string{"--demo"}, Env: hostEnv(), Stderr: &stderr}, newSyncRecorder())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.cmd.Process.Kill() }()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v\nstderr:\n%s", err, stderr.String())
	}
}
