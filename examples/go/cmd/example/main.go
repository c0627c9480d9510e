// Command example is a relay proxy's use of the sidecar package, cut to the bone: it runs
// autoconfig-host, keeps the environments it is told about, and prints what it does.
//
//	AUTO_CONFIG_KEY=... go run ./cmd/example -host ../../target/debug/autoconfig-host
//	go run ./cmd/example -host ../../target/debug/autoconfig-host -- --demo
//
// Arguments after -- go to autoconfig-host. It exits like autoconfig-host (0, 1, 2 or 3).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"

	"example.com/relayautoconfig/sidecar"
)

// proxy is the sidecar.Handler. Its methods run on the sidecar's reading goroutine, one at a
// time; the mutex is for the rest of the proxy (request handlers) reading envs.
type proxy struct {
	mu   sync.Mutex
	envs map[string]sidecar.Environment
	out  io.Writer
	// After a reset, the environments named before the next ready (see Reset).
	resetSeen map[string]bool
}

func (p *proxy) AddEnvironment(env sidecar.Environment) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.envs[env.EnvID] = env
	if p.resetSeen != nil {
		p.resetSeen[env.EnvID] = true
	}
	fmt.Fprintf(p.out, "serve %s (%s %s), version %d\n", env.EnvID, env.ProjectName, env.EnvName, env.Version)
}

func (p *proxy) UpdateEnvironment(env sidecar.Environment) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.envs[env.EnvID] = env
	if p.resetSeen != nil {
		p.resetSeen[env.EnvID] = true
	}
	fmt.Fprintf(p.out, "update %s to version %d", env.EnvID, env.Version)
	if env.ExpiringSDKKey != nil {
		fmt.Fprint(p.out, " (the old SDK key still works until it expires)")
	}
	fmt.Fprintln(p.out)
}

func (p *proxy) DeleteEnvironment(envID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.envs, envID)
	fmt.Fprintf(p.out, "stop serving %s\n", envID)
}

func (p *proxy) ReceivedAllEnvironments() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resetSeen != nil { // a reset is reconciled: drop what the new state did not name
		for id := range p.envs {
			if !p.resetSeen[id] {
				delete(p.envs, id)
			}
		}
		p.resetSeen = nil
	}
	ids := make([]string, 0, len(p.envs))
	for id := range p.envs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Fprintf(p.out, "ready: serving %v\n", ids)
}

func (p *proxy) KeyExpired(envID, oldKey string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if env, ok := p.envs[envID]; ok && env.ExpiringSDKKey != nil && env.ExpiringSDKKey.Key == oldKey {
		env.ExpiringSDKKey = nil
		p.envs[envID] = env
	}
	fmt.Fprintf(p.out, "refuse the old SDK key of %s\n", envID)
}

func (p *proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resetSeen = map[string]bool{} // keep serving; reconcile at the next ready
	fmt.Fprintln(p.out, "reset: reconciling at the next ready")
}

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("example", flag.ContinueOnError)
	flags.SetOutput(stderr)
	host := flags.String("host", "autoconfig-host", "the autoconfig-host binary")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	sc, err := sidecar.Start(sidecar.Config{
		Path:   *host,
		Args:   flags.Args(),                 // e.g. --stream-uri URI --state-file PATH
		Key:    os.Getenv("AUTO_CONFIG_KEY"), // from your configuration: passed in the environment, never argv
		Stderr: stderr,                       // the sidecar's logs
	}, &proxy{envs: map[string]sidecar.Environment{}, out: stdout})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 3
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stop)
	select {
	case <-stop:
		err = sc.Stop() // SIGTERM, then wait: nil after a clean shutdown
	case <-sc.Done():
		err = sc.Wait()
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, sidecar.ErrInvalidKey) { // also ErrUsage, ErrFatal, ErrAbnormalExit
		fmt.Fprintln(stderr, "example: the auto-configuration key was refused")
	} else {
		fmt.Fprintln(stderr, "example:", err)
	}
	var exit *sidecar.ExitError
	if errors.As(err, &exit) && exit.Code > 0 {
		return exit.Code
	}
	return 3
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
