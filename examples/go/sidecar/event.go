// Package sidecar runs autoconfig-host, the relay-autoconfig sidecar, as a child process and
// turns the JSON lines it prints on stdout into calls of a Handler.
//
// Go cannot host the relay-autoconfig WebAssembly component yet (wazero does not implement the
// component model and wasmtime-go has no component calls), so a Go relay proxy runs the sidecar,
// which embeds the same component under wasmtime, and reads one JSON object per callback:
//
//	{"op":"add","env":ENV}   {"op":"update","env":ENV}   {"op":"delete","envId":"..."}
//	{"op":"ready"}           {"op":"key-expired","envId":"...","oldKey":"..."}
//	{"op":"reset"}
//
// Start runs the sidecar and calls the Handler; Decode and Decoder read the same lines from any
// io.Reader, for proxies that start the process themselves.
//
// ENV is the WIT record environment-params with its field names in camelCase (the Environment
// struct; its json tags are the names):
//
//	{"envId","envKey","envName","projectKey","projectName","sdkKey","mobileKey",
//	 "expiringSdkKey": {"key","expiresAt": ms | null} | null,
//	 "defaultTtlMinutes","secureMode","version"}
//
// Decoding is strict about the documented fields (every field of Environment and ExpiringKey
// must be present with its JSON type; only the pointer fields, expiringSdkKey and expiresAt, may
// be null) and lenient about additions, so a newer sidecar does not break an older proxy:
// unknown fields are ignored, and a line with an unknown "op" is skipped and reported
// (ErrUnknownOp) like a malformed line, never fatal. See Decode for where those reports go.
package sidecar

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Op is the "op" of a line.
type Op string

// The ops autoconfig-host prints.
const (
	OpAdd        Op = "add"         // a new environment: Handler.AddEnvironment
	OpUpdate     Op = "update"      // a changed environment: Handler.UpdateEnvironment
	OpDelete     Op = "delete"      // an environment is gone: Handler.DeleteEnvironment
	OpReady      Op = "ready"       // every environment was received: Handler.ReceivedAllEnvironments
	OpKeyExpired Op = "key-expired" // an old SDK key expired: Handler.KeyExpired
	OpReset      Op = "reset"       // the client lost its state: Handler.Reset
)

// Environment is the ENV object of an add or update line: one environment the proxy must serve.
// It is the WIT record environment-params (the handler import's argument); the JSON names, in
// the json tags, are the WIT names in camelCase. Every field is always present.
type Environment struct {
	EnvID       string `json:"envId"`
	EnvKey      string `json:"envKey"`
	EnvName     string `json:"envName"`
	ProjectKey  string `json:"projectKey"`
	ProjectName string `json:"projectName"`
	SDKKey      string `json:"sdkKey"`
	MobileKey   string `json:"mobileKey"`
	// ExpiringSDKKey is the previous SDK key while it is still valid, or nil. The sidecar sends
	// a key-expired line at its ExpiresAt.
	ExpiringSDKKey    *ExpiringKey `json:"expiringSdkKey"`
	DefaultTTLMinutes int64        `json:"defaultTtlMinutes"`
	SecureMode        bool         `json:"secureMode"`
	Version           int64        `json:"version"`
}

// ExpiringKey is the WIT record expiring-key: an old SDK key that stays valid for a while after
// a key rotation.
type ExpiringKey struct {
	Key string `json:"key"`
	// ExpiresAt is when Key stops being valid, in ms since the Unix epoch, or nil (no expiry
	// announced: the old key stays valid until an update drops it).
	ExpiresAt *uint64 `json:"expiresAt"`
}

// String shows the environment with its keys masked to their last 4 characters, like the
// sidecar's logs, so printing an Environment does not leak credentials. The fields themselves
// hold the full keys.
func (e Environment) String() string {
	expiring := "<nil>"
	if e.ExpiringSDKKey != nil {
		expiring = e.ExpiringSDKKey.String()
	}
	return fmt.Sprintf("{EnvID:%q EnvKey:%q EnvName:%q ProjectKey:%q ProjectName:%q SDKKey:%s MobileKey:%s "+
		"ExpiringSDKKey:%s DefaultTTLMinutes:%d SecureMode:%t Version:%d}",
		e.EnvID, e.EnvKey, e.EnvName, e.ProjectKey, e.ProjectName, mask(e.SDKKey), mask(e.MobileKey),
		expiring, e.DefaultTTLMinutes, e.SecureMode, e.Version)
}

// GoString masks the keys for %#v too.
func (e Environment) GoString() string { return "sidecar.Environment" + e.String() }

// String shows the expiring key masked to its last 4 characters, and its expiry.
func (k ExpiringKey) String() string {
	expires := "<nil>"
	if k.ExpiresAt != nil {
		expires = fmt.Sprint(*k.ExpiresAt)
	}
	return fmt.Sprintf("{Key:%s ExpiresAt:%s}", mask(k.Key), expires)
}

// GoString masks the key for %#v too.
func (k ExpiringKey) GoString() string { return "sidecar.ExpiringKey" + k.String() }

// mask keeps the last 4 characters of a key.
func mask(key string) string {
	r := []rune(key)
	if len(r) <= 4 {
		return fmt.Sprintf("%q", "..."+key)
	}
	return fmt.Sprintf("%q", "..."+string(r[len(r)-4:]))
}

// Event is one decoded line.
type Event struct {
	Op Op
	// Env is set for add and update.
	Env *Environment
	// EnvID is set for delete and key-expired (for add and update it is Env.EnvID).
	EnvID string
	// OldKey is set for key-expired: the SDK key that expired.
	OldKey string
}

// MarshalJSON writes the event exactly as the sidecar prints it (without the newline).
func (e Event) MarshalJSON() ([]byte, error) {
	switch e.Op {
	case OpAdd, OpUpdate:
		if e.Env == nil {
			return nil, fmt.Errorf("sidecar: %s event without an environment", e.Op)
		}
		return json.Marshal(struct {
			Op  Op           `json:"op"`
			Env *Environment `json:"env"`
		}{e.Op, e.Env})
	case OpDelete:
		return json.Marshal(struct {
			Op    Op     `json:"op"`
			EnvID string `json:"envId"`
		}{e.Op, e.EnvID})
	case OpKeyExpired:
		return json.Marshal(struct {
			Op     Op     `json:"op"`
			EnvID  string `json:"envId"`
			OldKey string `json:"oldKey"`
		}{e.Op, e.EnvID, e.OldKey})
	case OpReady, OpReset:
		return json.Marshal(struct {
			Op Op `json:"op"`
		}{e.Op})
	}
	return nil, fmt.Errorf("sidecar: unknown op %q", string(e.Op))
}

// Handler receives the callbacks, one at a time and in the order the sidecar printed them
// (never concurrently). A slow handler slows the sidecar down rather than losing lines.
type Handler interface {
	// AddEnvironment: a new environment (or one deleted earlier and now re-added).
	AddEnvironment(env Environment)
	// UpdateEnvironment: a newer version of an environment already added.
	UpdateEnvironment(env Environment)
	// DeleteEnvironment: stop serving this environment.
	DeleteEnvironment(envID string)
	// ReceivedAllEnvironments: after every full list (a put) from the stream; the proxy now has
	// every environment.
	ReceivedAllEnvironments()
	// KeyExpired: the old SDK key of this environment expired; stop accepting it.
	KeyExpired(envID, oldKey string)
	// Reset: the client lost its state. Keep serving what you have; treat every add/update up
	// to the next ReceivedAllEnvironments as the full list and at that point drop every
	// environment not named since the reset.
	Reset()
}

// LineErrorHandler may be implemented by a Handler to receive the lines that were skipped
// (malformed, unknown op, too long). Without it they are logged.
type LineErrorHandler interface {
	LineError(err *LineError)
}

// Dispatch calls the Handler method for e. An unknown op returns ErrUnknownOp and calls
// nothing.
func (e Event) Dispatch(h Handler) error {
	switch e.Op {
	case OpAdd:
		h.AddEnvironment(*e.Env)
	case OpUpdate:
		h.UpdateEnvironment(*e.Env)
	case OpDelete:
		h.DeleteEnvironment(e.EnvID)
	case OpReady:
		h.ReceivedAllEnvironments()
	case OpKeyExpired:
		h.KeyExpired(e.EnvID, e.OldKey)
	case OpReset:
		h.Reset()
	default:
		return fmt.Errorf("%w %q", ErrUnknownOp, string(e.Op))
	}
	return nil
}

// ErrUnknownOp is wrapped by the error for a line whose "op" this package does not know (a newer
// sidecar). Such lines are skipped, never fatal.
var ErrUnknownOp = errors.New("unknown op")

// ErrMalformed is wrapped by the error for a line that is not a valid sidecar line.
var ErrMalformed = errors.New("malformed line")

// ErrLineTooLong is wrapped by the error for a line longer than the decoder's MaxLineBytes.
var ErrLineTooLong = errors.New("line too long")

// ParseLine decodes one line (without or with its trailing newline). On an unknown op it returns
// the Event with only Op set and an error wrapping ErrUnknownOp; on anything else that is not a
// valid line, an error wrapping ErrMalformed.
func ParseLine(line []byte) (Event, error) {
	ev, err := parseLine(line)
	if err != nil && !errors.Is(err, ErrUnknownOp) {
		return Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return ev, err
}

func parseLine(line []byte) (Event, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return Event{}, fmt.Errorf("not a JSON object: %v", err)
	}
	if obj == nil {
		return Event{}, errors.New("not a JSON object: null")
	}
	var op string
	if err := field(obj, "op", &op); err != nil {
		return Event{}, err
	}
	ev := Event{Op: Op(op)}
	switch ev.Op {
	case OpAdd, OpUpdate:
		raw, ok := obj["env"]
		if !ok {
			return Event{}, fmt.Errorf("%s: missing field \"env\"", op)
		}
		env, err := parseEnvironment(raw)
		if err != nil {
			return Event{}, fmt.Errorf("%s: env: %v", op, err)
		}
		ev.Env = env
	case OpDelete:
		if err := field(obj, "envId", &ev.EnvID); err != nil {
			return Event{}, fmt.Errorf("%s: %v", op, err)
		}
	case OpKeyExpired:
		if err := field(obj, "envId", &ev.EnvID); err != nil {
			return Event{}, fmt.Errorf("%s: %v", op, err)
		}
		if err := field(obj, "oldKey", &ev.OldKey); err != nil {
			return Event{}, fmt.Errorf("%s: %v", op, err)
		}
	case OpReady, OpReset:
	default:
		return ev, fmt.Errorf("%w %q", ErrUnknownOp, op)
	}
	return ev, nil
}

func parseEnvironment(raw json.RawMessage) (*Environment, error) {
	var env Environment
	if err := decodeRecord(raw, reflect.ValueOf(&env).Elem()); err != nil {
		return nil, err
	}
	return &env, nil
}

// decodeRecord decodes a JSON object into the struct dst by the struct's own fields, named by
// their json tags (so no list of fields is kept but the struct): every field is required; a
// pointer field may be null (nil), any other may not; a struct (or pointer to struct) field is
// decoded the same way, recursively. Names match exactly, unlike encoding/json's
// case-insensitive struct matching; unknown members are ignored.
func decodeRecord(raw json.RawMessage, dst reflect.Value) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return errors.New("not a JSON object")
	}
	t := dst.Type()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		fv := dst.Field(i)
		member, ok := obj[name]
		if !ok {
			return fmt.Errorf("missing field %q", name)
		}
		isNull := bytes.Equal(bytes.TrimSpace(member), null)
		if fv.Kind() == reflect.Pointer {
			if isNull {
				continue // nil
			}
			fv.Set(reflect.New(fv.Type().Elem()))
			fv = fv.Elem()
		} else if isNull {
			return fmt.Errorf("field %q is null", name)
		}
		var err error
		if fv.Kind() == reflect.Struct {
			err = decodeRecord(member, fv)
		} else {
			err = json.Unmarshal(member, fv.Addr().Interface())
		}
		if err != nil {
			return fmt.Errorf("field %q: %v", name, err)
		}
	}
	return nil
}

var null = []byte("null")

// field decodes a required, non-null member (names match exactly, unlike encoding/json's
// case-insensitive struct matching).
func field(obj map[string]json.RawMessage, name string, dst interface{}) error {
	raw, ok := obj[name]
	if !ok {
		return fmt.Errorf("missing field %q", name)
	}
	if bytes.Equal(bytes.TrimSpace(raw), null) {
		return fmt.Errorf("field %q is null", name)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("field %q: %v", name, err)
	}
	return nil
}
