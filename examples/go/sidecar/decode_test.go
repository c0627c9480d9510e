package sidecar

import (
	"bytes"
	"errors"
	"io"
	"log"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func TestDecodeSkipsBadLinesAndGoesOn(t *testing.T) {
	input := strings.Join([]string{
		`{"op":"add","env":` + validEnv + `}`,
		``,
		`not json`,
		`{"op":"rename","envId":"e"}`,
		`{"op":"delete"}`,
		`   `,
		`{"op":"ready"}`,
		`{"op":"key-expired","envId":"e","oldKey":"k"}`,
		`{"op":"delete","envId":"e"}`,
		`{"op":"reset"}`, // the last line has no newline
	}, "\n")
	var rec recorder
	if err := Decode(strings.NewReader(input), &rec); err != nil {
		t.Fatal(err)
	}
	want := []string{"add e v1", "ready", "key-expired e k", "delete e", "reset"}
	if !reflect.DeepEqual(rec.calls, want) {
		t.Fatalf("calls:\n got %q\nwant %q", rec.calls, want)
	}
	if len(rec.errs) != 3 {
		t.Fatalf("want 3 line errors, got %v", rec.errs)
	}
	for i, w := range []struct {
		line int
		is   error
		text string
	}{{3, ErrMalformed, "not json"}, {4, ErrUnknownOp, `{"op":"rename","envId":"e"}`}, {5, ErrMalformed, `{"op":"delete"}`}} {
		e := rec.errs[i]
		if e.Line != w.line || !errors.Is(e, w.is) || string(e.Text) != w.text {
			t.Errorf("error %d: got line %d %v %q, want line %d %v %q", i, e.Line, e.Err, e.Text, w.line, w.is, w.text)
		}
		if !strings.Contains(e.Error(), "line") {
			t.Errorf("error %d says %q", i, e.Error())
		}
	}
}

// plain has no LineError method: skipped lines are logged instead.
type plain struct{ recorder }

func (plain) LineError() {} // not the LineErrorHandler signature

func TestDecodeLogsWithoutLineErrorHandler(t *testing.T) {
	var logs bytes.Buffer
	old := log.Writer()
	log.SetOutput(&logs)
	defer log.SetOutput(old)
	var h plain
	if err := Decode(strings.NewReader("{\"op\":\"shiny\"}\n{\"op\":\"add\",\"env\":{\"sdkKey\":\"sdk-secret\"}}\n{\"op\":\"ready\"}\n"), &h); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h.calls, []string{"ready"}) {
		t.Fatalf("calls %q", h.calls)
	}
	out := logs.String()
	if !strings.Contains(out, `line 1 skipped: unknown op "shiny"`) || !strings.Contains(out, "line 2 skipped: malformed line") {
		t.Fatalf("log: %q", out)
	}
	if strings.Contains(out, "sdk-secret") {
		t.Fatalf("the log shows a key: %q", out)
	}
}

func TestDecodeBigLines(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("é", 10<<20) // 20 MiB of UTF-8
	line := `{"op":"add","env":` + envWith("envName", `"`+big+`"`) + "}\n"
	var rec recorder
	var got Environment
	h := &captureEnv{recorder: &rec, env: &got}
	// Read through a reader that returns one byte at first and small chunks later, so lines
	// span many reads.
	if err := Decode(io.MultiReader(iotest.OneByteReader(strings.NewReader(line[:100])), strings.NewReader(line[100:]+"{\"op\":\"ready\"}\n")), h); err != nil {
		t.Fatal(err)
	}
	if got.EnvName != big || !reflect.DeepEqual(rec.calls, []string{"add e v1", "ready"}) || len(rec.errs) != 0 {
		t.Fatalf("calls %q, errors %v, name of %d bytes", rec.calls, rec.errs, len(got.EnvName))
	}
}

type captureEnv struct {
	*recorder
	env *Environment
}

func (c *captureEnv) AddEnvironment(e Environment) { *c.env = e; c.recorder.AddEnvironment(e) }

func TestDecoderMaxLineBytes(t *testing.T) {
	ready := `{"op":"ready"}` // 14 bytes
	input := ready + "\n" + `{"op":"delete","envId":"` + strings.Repeat("x", 200000) + `"}` + "\n" + ready + "\n" + ready
	d := NewDecoder(strings.NewReader(input))
	d.MaxLineBytes = 14 // exactly one ready line
	var ops []string
	for {
		ev, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var le *LineError
		if errors.As(err, &le) {
			if !errors.Is(err, ErrLineTooLong) || le.Line != 2 || le.Text != nil {
				t.Fatalf("got %v", err)
			}
			ops = append(ops, "too long")
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, string(ev.Op))
	}
	if want := []string{"ready", "too long", "ready", "ready"}; !reflect.DeepEqual(ops, want) {
		t.Fatalf("got %q, want %q", ops, want)
	}

	// A too-long last line without a newline is reported too.
	d = NewDecoder(strings.NewReader(ready + "\n" + ready + " "))
	d.MaxLineBytes = 14
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("got %v", err)
	}
	if _, err := d.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("got %v", err)
	}
}

func TestDecodeReturnsReadErrors(t *testing.T) {
	boom := errors.New("boom")
	var rec recorder
	err := Decode(io.MultiReader(strings.NewReader("{\"op\":\"ready\"}\n{\"op\":"), iotest.ErrReader(boom)), &rec)
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if !reflect.DeepEqual(rec.calls, []string{"ready"}) {
		t.Fatalf("calls %q", rec.calls)
	}
	// An empty input is no error and no call.
	if err := Decode(strings.NewReader(""), &rec); err != nil || len(rec.calls) != 1 {
		t.Fatalf("%v %q", err, rec.calls)
	}
}
