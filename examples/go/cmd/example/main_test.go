package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The README's example plays the --demo story against the real autoconfig-host
// ($AUTOCONFIG_HOST_BIN, by default target/debug/autoconfig-host at the repository root).
func TestExampleOnTheDemo(t *testing.T) {
	t.Parallel()
	bin := os.Getenv("AUTOCONFIG_HOST_BIN")
	if bin == "" {
		root, err := filepath.Abs(filepath.Join("..", "..", "..", ".."))
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(root, "target", "debug", "autoconfig-host")
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("SKIP: autoconfig-host not built (%s is missing and AUTOCONFIG_HOST_BIN is unset); "+
				"build it with `cargo build -p autoconfig-host` at the repository root", bin)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-host", bin, "--", "--demo"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	want := `serve dev-alice (Web Shop Alice's sandbox), version 1
serve production (Web Shop Production), version 1
serve staging (Web Shop Staging), version 1
ready: serving [dev-alice production staging]
update staging to version 2
update production to version 2 (the old SDK key still works until it expires)
refuse the old SDK key of production
stop serving dev-alice
update production to version 3
serve qa (Web Shop QA), version 1
ready: serving [production qa staging]
`
	if stdout.String() != want {
		t.Fatalf("stdout:\n%s\nwant:\n%s\nstderr:\n%s", stdout.String(), want, stderr.String())
	}
}

func TestExampleInvalidKeyAndUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-nope"}, &stdout, &stderr); code != 2 {
		t.Fatalf("a bad flag gave %d", code)
	}
	if code := run([]string{"-host", "/nonexistent/autoconfig-host"}, &stdout, &stderr); code != 3 || !strings.Contains(stderr.String(), "cannot start") {
		t.Fatalf("a missing host gave %d: %s", code, stderr.String())
	}
}

// The README's usage snippet is this file's code, line for line.
func TestReadmeSnippetIsThisExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	source, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "```go\n")
	end := strings.Index(text[start+6:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no go snippet in README.md")
	}
	var lines []string
	for _, l := range strings.Split(string(source), "\n") {
		lines = append(lines, strings.TrimSpace(l))
	}
	at := 0
	for _, want := range strings.Split(text[start+6:start+6+end], "\n") {
		want = strings.TrimSpace(want)
		if want == "" {
			continue
		}
		for at < len(lines) && lines[at] != want {
			at++
		}
		if at == len(lines) {
			t.Fatalf("README.md's snippet line %q is not in main.go (in order)", want)
		}
	}
}
