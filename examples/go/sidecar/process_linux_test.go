package sidecar

import (
	"syscall"
	"testing"
	"time"
)

// Config.SysProcAttr reaches the process (here: its own process group).
func TestSysProcAttrIsPassed(t *testing.T) {
	h := newSyncRecorder()
	cfg := fakeConfig("wait-term")
	cfg.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	s, err := Start(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.cmd.Process.Kill() }()
	h.await(t, "ready", 20*time.Second)
	pgid, err := syscall.Getpgid(s.Pid())
	if err != nil || pgid != s.Pid() {
		t.Fatalf("pgid %d (%v), pid %d", pgid, err, s.Pid())
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
}
