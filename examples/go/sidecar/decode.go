package sidecar

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
)

// DefaultMaxLineBytes bounds one line. An environment's strings come from one stream message
// (at most --max-message-bytes, 16 MiB by default) and JSON escaping can grow control
// characters sixfold, so 128 MiB holds any line the default sidecar prints. Raise it together
// with --max-message-bytes.
const DefaultMaxLineBytes = 128 << 20

// LineError reports a line that was skipped: malformed (wraps ErrMalformed), with an unknown op
// (wraps ErrUnknownOp) or too long (wraps ErrLineTooLong). Decoding goes on with the next line.
type LineError struct {
	// Line is the 1-based line number in the output.
	Line int
	// Text is the line (without its newline), cut to 200 bytes; nil for a line too long. It may
	// contain keys: log it with care.
	Text []byte
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("autoconfig-host output line %d skipped: %v", e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// Decoder reads sidecar lines from a reader, one Event at a time.
type Decoder struct {
	// MaxLineBytes bounds a line (without its newline); longer lines are skipped with a
	// LineError wrapping ErrLineTooLong. 0 means DefaultMaxLineBytes.
	MaxLineBytes int

	r    *bufio.Reader
	line int
	buf  []byte
}

// NewDecoder reads from r. Lines are read with a growing buffer, so big lines cost only their
// own size.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next event. At the end of the input it returns io.EOF. A skipped line
// returns a *LineError: call Next again for the following line. Any other error is the
// reader's. Blank lines are skipped silently.
func (d *Decoder) Next() (Event, error) {
	for {
		line, tooLong, err := d.readLine()
		if err != nil {
			return Event{}, err
		}
		d.line++
		if tooLong {
			return Event{}, &LineError{Line: d.line, Err: fmt.Errorf("%w (over %d bytes)", ErrLineTooLong, d.max())}
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		ev, err := ParseLine(line)
		if err != nil {
			text := line
			if len(text) > 200 {
				text = text[:200]
			}
			return Event{}, &LineError{Line: d.line, Text: append([]byte(nil), text...), Err: err}
		}
		return ev, nil
	}
}

func (d *Decoder) max() int {
	if d.MaxLineBytes > 0 {
		return d.MaxLineBytes
	}
	return DefaultMaxLineBytes
}

// readLine returns the next line without its "\n" (a last line without one counts). A line over
// max() is read to its end and dropped (tooLong).
func (d *Decoder) readLine() (line []byte, tooLong bool, err error) {
	if cap(d.buf) > 1<<20 {
		d.buf = nil // do not keep a big line's buffer forever
	}
	d.buf = d.buf[:0]
	n := 0
	for {
		chunk, err := d.r.ReadSlice('\n')
		n += len(chunk)
		if !tooLong {
			if n-trailingNewline(chunk, err) > d.max() {
				tooLong = true
				d.buf = d.buf[:0]
			} else {
				d.buf = append(d.buf, chunk...)
			}
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(d.buf, []byte("\n")), tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && n > 0:
			return d.buf, tooLong, nil
		default:
			return nil, false, err
		}
	}
}

func trailingNewline(chunk []byte, err error) int {
	if err == nil && len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
		return 1
	}
	return 0
}

// Decode reads sidecar lines from r until its end and calls h for each, in order. Skipped lines
// (malformed, unknown op, too long: see LineError) go to h's LineError method when h implements
// LineErrorHandler, and are logged with the standard logger otherwise; decoding goes on either
// way. It returns nil at the end of r, or the reader's error.
func Decode(r io.Reader, h Handler) error {
	return decode(NewDecoder(r), h, nil)
}

func decode(d *Decoder, h Handler, logger *log.Logger) error {
	for {
		ev, err := d.Next()
		if err == nil {
			// ParseLine only returns known ops, so Dispatch cannot fail here.
			_ = ev.Dispatch(h)
			continue
		}
		var lineErr *LineError
		switch {
		case errors.As(err, &lineErr):
			reportLineError(h, logger, lineErr)
		case errors.Is(err, io.EOF):
			return nil
		default:
			return err
		}
	}
}

func reportLineError(h Handler, logger *log.Logger, err *LineError) {
	if eh, ok := h.(LineErrorHandler); ok {
		eh.LineError(err)
		return
	}
	if logger == nil {
		logger = log.Default()
	}
	// The text is not logged: it may hold SDK keys.
	logger.Print(err.Error())
}
