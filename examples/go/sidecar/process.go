package sidecar

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The documented exit codes of autoconfig-host, as errors. Wait and Stop return an *ExitError
// that wraps one of them (match with errors.Is), or nil for exit code 0 (a clean shutdown:
// SIGINT, SIGTERM, or the end of the --demo story).
var (
	// ErrInvalidKey: exit code 1, the stream answered 401 or 403 on the first connection.
	ErrInvalidKey = errors.New("autoconfig-host: invalid auto-configuration key")
	// ErrUsage: exit code 2, bad usage or configuration (the sidecar's stderr names the problem).
	ErrUsage = errors.New("autoconfig-host: bad usage or configuration")
	// ErrFatal: exit code 3, another fatal error (see the sidecar's stderr).
	ErrFatal = errors.New("autoconfig-host: fatal error")
	// ErrAbnormalExit: any other exit code, or killed by a signal.
	ErrAbnormalExit = errors.New("autoconfig-host: abnormal exit")
)

// ExitError is how the sidecar ended when that was not a clean shutdown.
type ExitError struct {
	// Code is the exit code, or -1 when a signal killed the process.
	Code int
	// Signal is the signal that killed it (Code -1), else 0.
	Signal syscall.Signal
	// Killed is true when Stop had to kill the process after StopTimeout.
	Killed bool
}

func (e *ExitError) Error() string {
	switch {
	case e.Killed:
		return fmt.Sprintf("%v: killed after it ignored SIGTERM", ErrAbnormalExit)
	case e.Code < 0:
		return fmt.Sprintf("%v: killed by signal %v", ErrAbnormalExit, e.Signal)
	case e.Code == 1 || e.Code == 2 || e.Code == 3:
		return fmt.Sprintf("%v (exit code %d)", e.Unwrap(), e.Code)
	}
	return fmt.Sprintf("%v: exit code %d", ErrAbnormalExit, e.Code)
}

// Unwrap gives ErrInvalidKey, ErrUsage, ErrFatal or ErrAbnormalExit.
func (e *ExitError) Unwrap() error {
	switch e.Code {
	case 1:
		return ErrInvalidKey
	case 2:
		return ErrUsage
	case 3:
		return ErrFatal
	}
	return ErrAbnormalExit
}

// Config says how to run the sidecar.
type Config struct {
	// Path of the autoconfig-host binary; a bare name is looked up in PATH. Default
	// "autoconfig-host".
	Path string
	// Args are its arguments, e.g. {"--stream-uri", uri, "--state-file", path}. They must not
	// contain --key: the key goes in Key.
	Args []string
	// Key is passed to the sidecar in its environment as AUTO_CONFIG_KEY (argv is visible to
	// every user of the machine; the environment is not). Empty: the AUTO_CONFIG_KEY of Env (or
	// of this process) is inherited as it is.
	Key string
	// Env is the sidecar's environment (KEY=value), nil for this process's. Key overrides any
	// AUTO_CONFIG_KEY in it.
	Env []string
	// Dir is its working directory; empty for this process's.
	Dir string
	// Stderr receives the sidecar's logs (keys masked by the sidecar); nil for os.Stderr.
	Stderr io.Writer
	// Logger logs skipped lines when the Handler does not implement LineErrorHandler; nil for
	// the standard logger.
	Logger *log.Logger
	// MaxLineBytes bounds one stdout line; 0 for DefaultMaxLineBytes.
	MaxLineBytes int
	// StopTimeout is how long Stop waits after SIGTERM before it kills the process; 0 for 10 s.
	StopTimeout time.Duration
	// SysProcAttr is passed to the process as it is; nil for none. On Linux,
	// &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} stops the sidecar when this process dies
	// without calling Stop (otherwise it keeps running, unable to write its lines).
	SysProcAttr *syscall.SysProcAttr
}

// Sidecar is a running autoconfig-host.
type Sidecar struct {
	cmd         *exec.Cmd
	stopTimeout time.Duration
	done        chan struct{}
	err         error // set before done is closed

	stopOnce sync.Once
	mu       sync.Mutex
	termSent bool
	killed   bool
}

// Start starts the sidecar and calls h for every line it prints, in order, from one goroutine,
// until the process ends. Use Wait for how it ended and Stop to end it.
func Start(cfg Config, h Handler) (*Sidecar, error) {
	if h == nil {
		return nil, errors.New("sidecar: nil Handler")
	}
	for _, a := range cfg.Args {
		if a == "--key" || strings.HasPrefix(a, "--key=") {
			return nil, errors.New("sidecar: pass the key in Config.Key (the environment), not as --key")
		}
	}
	path := cfg.Path
	if path == "" {
		path = "autoconfig-host"
	}
	cmd := exec.Command(path, cfg.Args...)
	cmd.Dir = cfg.Dir
	cmd.SysProcAttr = cfg.SysProcAttr
	env := cfg.Env
	if env == nil {
		env = os.Environ()
	}
	if cfg.Key != "" {
		env = withoutVar(env, "AUTO_CONFIG_KEY")
		env = append(env, "AUTO_CONFIG_KEY="+cfg.Key)
	}
	cmd.Env = env
	cmd.Stdin = nil // /dev/null
	cmd.Stderr = cfg.Stderr
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("sidecar: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sidecar: cannot start %s: %w", path, err)
	}
	s := &Sidecar{cmd: cmd, stopTimeout: cfg.StopTimeout, done: make(chan struct{})}
	if s.stopTimeout <= 0 {
		s.stopTimeout = 10 * time.Second
	}
	d := NewDecoder(stdout)
	d.MaxLineBytes = cfg.MaxLineBytes
	go func() {
		// Every line is handled before Wait: exec requires the pipe to be drained first.
		readErr := decode(d, h, cfg.Logger)
		if readErr != nil {
			// Keep draining so the sidecar never blocks on a full pipe.
			_, _ = io.Copy(io.Discard, stdout)
		}
		waitErr := cmd.Wait()
		s.err = s.exitError(waitErr)
		if s.err == nil && readErr != nil {
			s.err = fmt.Errorf("sidecar: reading stdout: %w", readErr)
		}
		close(s.done)
	}()
	return s, nil
}

func withoutVar(env []string, name string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

func (s *Sidecar) exitError(err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("sidecar: %w", err)
	}
	out := &ExitError{Code: ee.ExitCode()}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		out.Code = -1
		out.Signal = ws.Signal()
	}
	s.mu.Lock()
	out.Killed = s.killed && out.Code == -1
	termSent := s.termSent
	s.mu.Unlock()
	if termSent && !out.Killed && out.Signal == syscall.SIGTERM {
		// Stopped before it had installed its signal handler (right after the start): the
		// outcome Stop asked for, so as clean as exit code 0.
		return nil
	}
	return out
}

// Pid is the sidecar's process ID.
func (s *Sidecar) Pid() int { return s.cmd.Process.Pid }

// Done is closed once the sidecar has exited and every line it printed has been handled.
func (s *Sidecar) Done() <-chan struct{} { return s.done }

// Wait waits for the sidecar to exit and every line to be handled, and returns how it ended: nil
// for exit code 0, an *ExitError wrapping ErrInvalidKey (1), ErrUsage (2), ErrFatal (3) or
// ErrAbnormalExit, or another error if its output could not be read. It may be called any
// number of times, from any goroutine.
func (s *Sidecar) Wait() error {
	<-s.done
	return s.err
}

// Stop asks the sidecar to shut down (SIGTERM), waits up to StopTimeout for it to exit (then
// kills it), and returns what Wait returns: nil after a clean shutdown (exit code 0, or death by
// that SIGTERM when it came before the sidecar listened for it). Safe to call more than
// once, and after the sidecar has exited (it then just returns how it ended). Do not call it
// from a Handler method: the handler goroutine must keep reading for the sidecar to exit.
func (s *Sidecar) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			return
		default:
		}
		s.mu.Lock()
		s.termSent = true
		s.mu.Unlock()
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		timer := time.NewTimer(s.stopTimeout)
		defer timer.Stop()
		select {
		case <-s.done:
		case <-timer.C:
			s.mu.Lock()
			s.killed = true
			s.mu.Unlock()
			_ = s.cmd.Process.Kill()
		}
	})
	return s.Wait()
}
