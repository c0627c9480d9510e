package sidecar

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a fake sidecar: with SIDECAR_TEST_HELPER=1 it plays the part its
// arguments name instead of running the tests.
func TestMain(m *testing.M) {
	if os.Getenv("SIDECAR_TEST_HELPER") == "1" {
		os.Exit(fakeSidecar(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeSidecar(args []string) int {
	say := func(line string) { fmt.Println(line) }
	switch args[0] {
	case "lines":
		fmt.Fprintln(os.Stderr, "fake sidecar: starting")
		say(`{"op":"add","env":` + validEnv + `}`)
		say(`{"op":"teleport"}`)
		say(`{"op":"update"}`)
		say(`{"op":"ready"}`)
		key := os.Getenv("AUTO_CONFIG_KEY")
		say(fmt.Sprintf(`{"op":"key-expired","envId":%q,"oldKey":%q}`, strings.Join(args, " "), key))
		say(`{"op":"delete","envId":"e"}`)
		say(`{"op":"reset"}`)
		fmt.Fprintln(os.Stderr, "fake sidecar: done")
		return 0
	case "exit":
		var code int
		fmt.Sscan(args[1], &code)
		say(`{"op":"ready"}`)
		return code
	case "wait-term":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		say(`{"op":"ready"}`)
		select {
		case <-sig:
			say(`{"op":"delete","envId":"after-sigterm"}`)
			return 0
		case <-time.After(30 * time.Second):
			return 9
		}
	case "sleep": // SIGTERM's default action: death by the signal
		say(`{"op":"ready"}`)
		time.Sleep(30 * time.Second)
		return 9
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		say(`{"op":"ready"}`)
		time.Sleep(30 * time.Second)
		return 9
	}
	return 99
}

func fakeConfig(args ...string) Config {
	return Config{
		Path:        os.Args[0],
		Args:        args,
		Env:         append(os.Environ(), "SIDECAR_TEST_HELPER=1"),
		StopTimeout: 5 * time.Second,
	}
}

// waitDone fails the test if the sidecar does not finish in time (and kills it).
func waitDone(t *testing.T, s *Sidecar, within time.Duration) error {
	t.Helper()
	select {
	case <-s.Done():
		return s.Wait()
	case <-time.After(within):
		_ = s.cmd.Process.Kill()
		<-s.Done()
		t.Fatalf("the sidecar did not finish within %v", within)
		return nil
	}
}

// syncRecorder is a recorder safe to read while the sidecar runs; it signals each call.
type syncRecorder struct {
	mu    sync.Mutex
	rec   recorder
	calls chan string
}

func newSyncRecorder() *syncRecorder { return &syncRecorder{calls: make(chan string, 1000)} }

func (s *syncRecorder) do(f func(r *recorder)) {
	s.mu.Lock()
	n := len(s.rec.calls)
	f(&s.rec)
	var added []string
	if len(s.rec.calls) > n {
		added = append(added, s.rec.calls[n:]...)
	}
	s.mu.Unlock()
	for _, c := range added {
		s.calls <- c
	}
}

func (s *syncRecorder) AddEnvironment(e Environment) { s.do(func(r *recorder) { r.AddEnvironment(e) }) }
func (s *syncRecorder) UpdateEnvironment(e Environment) {
	s.do(func(r *recorder) { r.UpdateEnvironment(e) })
}
func (s *syncRecorder) DeleteEnvironment(id string) {
	s.do(func(r *recorder) { r.DeleteEnvironment(id) })
}
func (s *syncRecorder) ReceivedAllEnvironments() {
	s.do(func(r *recorder) { r.ReceivedAllEnvironments() })
}
func (s *syncRecorder) KeyExpired(id, old string) { s.do(func(r *recorder) { r.KeyExpired(id, old) }) }
func (s *syncRecorder) Reset()                    { s.do(func(r *recorder) { r.Reset() }) }
func (s *syncRecorder) LineError(err *LineError)  { s.do(func(r *recorder) { r.LineError(err) }) }

func (s *syncRecorder) snapshot() ([]string, []*LineError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.rec.calls...), append([]*LineError(nil), s.rec.errs...)
}

// await waits for the next call, which must be want.
func (s *syncRecorder) await(t *testing.T, want string, within time.Duration) {
	t.Helper()
	select {
	case got := <-s.calls:
		if got != want {
			t.Fatalf("got call %q, want %q", got, want)
		}
	case <-time.After(within):
		t.Fatalf("no %q call within %v", want, within)
	}
}

func TestStartCallsTheHandlerInOrder(t *testing.T) {
	h := newSyncRecorder()
	var stderr bytes.Buffer
	cfg := fakeConfig("lines", "--stream-uri", "http://127.0.0.1:9")
	cfg.Key = "the-secret-key"
	cfg.Env = append(cfg.Env, "AUTO_CONFIG_KEY=inherited") // Key wins
	cfg.Stderr = &stderr
	s, err := Start(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitDone(t, s, 20*time.Second); err != nil {
		t.Fatalf("exit: %v", err)
	}
	calls, errs := h.snapshot()
	want := []string{"add e v1", "ready", "key-expired lines --stream-uri http://127.0.0.1:9 the-secret-key", "delete e", "reset"}
	if !reflect.DeepEqual(calls, want) {
		t.Fatalf("calls:\n got %q\nwant %q", calls, want)
	}
	if len(errs) != 2 || !errors.Is(errs[0], ErrUnknownOp) || errs[0].Line != 2 || !errors.Is(errs[1], ErrMalformed) || errs[1].Line != 3 {
		t.Fatalf("line errors: %v", errs)
	}
	if got := stderr.String(); got != "fake sidecar: starting\nfake sidecar: done\n" {
		t.Fatalf("stderr: %q", got)
	}
	if err := s.Stop(); err != nil { // after the exit: just the result again
		t.Fatalf("Stop after exit: %v", err)
	}
}

func TestStartInheritsTheKeyWhenConfigHasNone(t *testing.T) {
	h := newSyncRecorder()
	cfg := fakeConfig("lines")
	cfg.Env = append(cfg.Env, "AUTO_CONFIG_KEY=inherited")
	cfg.Stderr = &bytes.Buffer{}
	s, err := Start(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitDone(t, s, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	calls, _ := h.snapshot()
	if len(calls) != 5 || calls[2] != "key-expired lines inherited" {
		t.Fatalf("calls %q", calls)
	}
}

func TestStartRefusesKeyInArgv(t *testing.T) {
	for _, args := range [][]string{{"--key", "k"}, {"--demo", "--key=k"}} {
		if _, err := Start(fakeConfig(args...), newSyncRecorder()); err == nil || !strings.Contains(err.Error(), "Config.Key") {
			t.Fatalf("%q: got %v", args, err)
		}
	}
	if _, err := Start(fakeConfig("lines"), nil); err == nil {
		t.Fatal("a nil handler was accepted")
	}
	cfg := fakeConfig()
	cfg.Path = "/nonexistent/autoconfig-host"
	if _, err := Start(cfg, newSyncRecorder()); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing binary: %v", err)
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		code int
		want error
	}{{0, nil}, {1, ErrInvalidKey}, {2, ErrUsage}, {3, ErrFatal}, {4, ErrAbnormalExit}, {101, ErrAbnormalExit}} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			h := newSyncRecorder()
			s, err := Start(fakeConfig("exit", fmt.Sprint(tc.code)), h)
			if err != nil {
				t.Fatal(err)
			}
			err = waitDone(t, s, 20*time.Second)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("exit 0 gave %v", err)
				}
				return
			}
			var ee *ExitError
			if !errors.Is(err, tc.want) || !errors.As(err, &ee) || ee.Code != tc.code || ee.Killed {
				t.Fatalf("exit %d gave %#v (%v)", tc.code, err, err)
			}
			for _, other := range []error{ErrInvalidKey, ErrUsage, ErrFatal, ErrAbnormalExit} {
				if other != tc.want && errors.Is(err, other) {
					t.Fatalf("exit %d also matches %v", tc.code, other)
				}
			}
			if calls, _ := h.snapshot(); !reflect.DeepEqual(calls, []string{"ready"}) {
				t.Fatalf("lines before the exit were lost: %q", calls)
			}
		})
	}
}

func TestStopSendsSIGTERM(t *testing.T) {
	h := newSyncRecorder()
	s, err := Start(fakeConfig("wait-term"), h)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.cmd.Process.Kill() }()
	h.await(t, "ready", 20*time.Second) // the fake now listens for SIGTERM
	start := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if time.Since(start) > 4*time.Second {
		t.Fatalf("Stop took %v", time.Since(start))
	}
	// The lines printed on the way out were handled before Stop returned.
	if calls, _ := h.snapshot(); !reflect.DeepEqual(calls, []string{"ready", "delete after-sigterm"}) {
		t.Fatalf("calls %q", calls)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestStopKillsAfterStopTimeout(t *testing.T) {
	h := newSyncRecorder()
	cfg := fakeConfig("ignore-term")
	cfg.StopTimeout = 300 * time.Millisecond
	s, err := Start(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.cmd.Process.Kill() }()
	h.await(t, "ready", 20*time.Second)
	start := time.Now()
	err = s.Stop()
	var ee *ExitError
	if !errors.As(err, &ee) || !ee.Killed || ee.Code != -1 || ee.Signal != syscall.SIGKILL || !errors.Is(err, ErrAbnormalExit) {
		t.Fatalf("got %#v (%v)", err, err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Fatalf("Stop took %v", d)
	}
}

func TestStopBeforeTheSidecarListensIsClean(t *testing.T) {
	h := newSyncRecorder()
	s, err := Start(fakeConfig("sleep"), h)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.cmd.Process.Kill() }()
	h.await(t, "ready", 20*time.Second)
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// Death by a SIGTERM nobody asked for is not clean.
	s, err = Start(fakeConfig("sleep"), newSyncRecorder())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.cmd.Process.Kill() }()
	time.Sleep(100 * time.Millisecond)
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	err = waitDone(t, s, 20*time.Second)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != -1 || ee.Signal != syscall.SIGTERM || ee.Killed || !errors.Is(err, ErrAbnormalExit) {
		t.Fatalf("got %#v (%v)", err, err)
	}
}
