package sidecar

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func u64(n uint64) *uint64            { return &n }
func envp(e Environment) *Environment { return &e }
func expiring(key string, at *uint64) *ExpiringKey {
	return &ExpiringKey{Key: key, ExpiresAt: at}
}

// Lines exactly as autoconfig-host prints them (from its --demo run and tests/scenarios).
var lineCases = []struct {
	name string
	line string
	want Event
}{
	{
		name: "add",
		line: `{"op":"add","env":{"envId":"production","envKey":"production","envName":"Production","projectKey":"web-shop","projectName":"Web Shop","sdkKey":"sdk-prod-0000-1111","mobileKey":"mob-prod-0000-2222","expiringSdkKey":null,"defaultTtlMinutes":5,"secureMode":true,"version":1}}`,
		want: Event{Op: OpAdd, Env: envp(Environment{
			EnvID: "production", EnvKey: "production", EnvName: "Production", ProjectKey: "web-shop", ProjectName: "Web Shop",
			SDKKey: "sdk-prod-0000-1111", MobileKey: "mob-prod-0000-2222", DefaultTTLMinutes: 5, SecureMode: true, Version: 1,
		})},
	},
	{
		name: "update with an expiring key",
		line: `{"op":"update","env":{"envId":"production","envKey":"production","envName":"Production","projectKey":"web-shop","projectName":"Web Shop","sdkKey":"sdk-prod-0001-7777","mobileKey":"mob-prod-0000-2222","expiringSdkKey":{"key":"sdk-prod-0000-1111","expiresAt":1796041458233},"defaultTtlMinutes":5,"secureMode":true,"version":2}}`,
		want: Event{Op: OpUpdate, Env: envp(Environment{
			EnvID: "production", EnvKey: "production", EnvName: "Production", ProjectKey: "web-shop", ProjectName: "Web Shop",
			SDKKey: "sdk-prod-0001-7777", MobileKey: "mob-prod-0000-2222",
			ExpiringSDKKey: expiring("sdk-prod-0000-1111", u64(1796041458233)), DefaultTTLMinutes: 5, SecureMode: true, Version: 2,
		})},
	},
	{
		name: "expiring key without an expiry (timestamp 0)",
		line: `{"op":"add","env":{"envId":"e","envKey":"","envName":"","projectKey":"","projectName":"","sdkKey":"new","mobileKey":"","expiringSdkKey":{"key":"old","expiresAt":null},"defaultTtlMinutes":0,"secureMode":false,"version":1}}`,
		want: Event{Op: OpAdd, Env: envp(Environment{EnvID: "e", SDKKey: "new", ExpiringSDKKey: expiring("old", nil), Version: 1})},
	},
	{
		name: "extreme integers",
		line: `{"op":"update","env":{"envId":"e","envKey":"","envName":"","projectKey":"","projectName":"","sdkKey":"","mobileKey":"","expiringSdkKey":{"key":"o","expiresAt":18446744073709551615},"defaultTtlMinutes":-9223372036854775808,"secureMode":false,"version":9223372036854775807}}`,
		want: Event{Op: OpUpdate, Env: envp(Environment{EnvID: "e", ExpiringSDKKey: expiring("o", u64(18446744073709551615)),
			DefaultTTLMinutes: -9223372036854775808, Version: 9223372036854775807})},
	},
	{
		name: "unicode and escapes",
		line: `{"op":"add","env":{"envId":"été","envKey":"nul\u0000key","envName":"Prod 🚀","projectKey":"","projectName":"Ünïcødé","sdkKey":"","mobileKey":"tab\tquote\"slash\\","expiringSdkKey":null,"defaultTtlMinutes":0,"secureMode":false,"version":1}}`,
		want: Event{Op: OpAdd, Env: envp(Environment{EnvID: "été", EnvKey: "nul\x00key", EnvName: "Prod 🚀",
			ProjectName: "Ünïcødé", MobileKey: "tab\tquote\"slash\\", Version: 1})},
	},
	{
		name: "delete",
		line: `{"op":"delete","envId":"dev-alice"}`,
		want: Event{Op: OpDelete, EnvID: "dev-alice"},
	},
	{
		name: "ready",
		line: `{"op":"ready"}`,
		want: Event{Op: OpReady},
	},
	{
		name: "key-expired",
		line: `{"op":"key-expired","envId":"production","oldKey":"sdk-prod-0000-1111"}`,
		want: Event{Op: OpKeyExpired, EnvID: "production", OldKey: "sdk-prod-0000-1111"},
	},
	{
		name: "reset",
		line: `{"op":"reset"}`,
		want: Event{Op: OpReset},
	},
	{
		name: "with its newline",
		line: "{\"op\":\"ready\"}\n",
		want: Event{Op: OpReady},
	},
	{
		name: "CRLF and spaces",
		line: "  { \"op\" : \"delete\" , \"envId\" : \"x\" }\r\n",
		want: Event{Op: OpDelete, EnvID: "x"},
	},
	{
		name: "unknown fields are ignored (a newer sidecar)",
		line: `{"op":"key-expired","envId":"e","oldKey":"k","at":1796000000000,"extra":{"a":[1,2]}}`,
		want: Event{Op: OpKeyExpired, EnvID: "e", OldKey: "k"},
	},
}

func TestParseLine(t *testing.T) {
	for _, tc := range lineCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLine([]byte(tc.line))
			if err != nil {
				t.Fatalf("ParseLine: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tc.want)
			}
			// And back: MarshalJSON prints the same object.
			out, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "add" && string(out) != tc.line {
				t.Fatalf("MarshalJSON:\n got %s\nwant %s", out, tc.line)
			}
			again, err := ParseLine(out)
			if err != nil || !reflect.DeepEqual(again, tc.want) {
				t.Fatalf("round trip: %v %#v", err, again)
			}
		})
	}
}

func TestDispatch(t *testing.T) {
	var rec recorder
	for _, tc := range lineCases[:9] {
		ev, err := ParseLine([]byte(tc.line))
		if err != nil {
			t.Fatal(err)
		}
		if err := ev.Dispatch(&rec); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"add production v1", "update production v2 expiring sdk-prod-0000-1111@1796041458233",
		"add e v1 expiring old@nil", "update e v9223372036854775807 expiring o@18446744073709551615",
		"add été v1", "delete dev-alice", "ready", "key-expired production sdk-prod-0000-1111", "reset",
	}
	if !reflect.DeepEqual(rec.calls, want) {
		t.Fatalf("calls:\n got %q\nwant %q", rec.calls, want)
	}
	if err := (Event{Op: "rename"}).Dispatch(&rec); !errors.Is(err, ErrUnknownOp) {
		t.Fatalf("unknown op: %v", err)
	}
}

const validEnv = `{"envId":"e","envKey":"","envName":"","projectKey":"","projectName":"","sdkKey":"s","mobileKey":"","expiringSdkKey":null,"defaultTtlMinutes":0,"secureMode":false,"version":1}`

// envWith replaces (or with value "" removes) one field of validEnv.
func envWith(name, value string) string {
	var fields []string
	for _, kv := range strings.Split(strings.Trim(validEnv, "{}"), ",") {
		if strings.HasPrefix(kv, `"`+name+`":`) {
			if value == "" {
				continue
			}
			kv = `"` + name + `":` + value
		}
		fields = append(fields, kv)
	}
	return "{" + strings.Join(fields, ",") + "}"
}

func TestParseLineMalformed(t *testing.T) {
	cases := []struct{ name, line, says string }{
		{"empty", ``, "not a JSON object"},
		{"not JSON", `op=add`, "not a JSON object"},
		{"truncated", `{"op":"add","env":{"envId":"e"`, "not a JSON object"},
		{"array", `[{"op":"ready"}]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"string", `"ready"`, "not a JSON object"},
		{"two objects", `{"op":"ready"}{"op":"ready"}`, "not a JSON object"},
		{"trailing garbage", `{"op":"ready"} x`, "not a JSON object"},
		{"no op", `{"envId":"e"}`, `missing field "op"`},
		{"op null", `{"op":null}`, `field "op" is null`},
		{"op not a string", `{"op":1}`, `field "op"`},
		{"op in another case", `{"OP":"ready"}`, `missing field "op"`},
		{"add without env", `{"op":"add"}`, `missing field "env"`},
		{"add with env null", `{"op":"add","env":null}`, "env: not a JSON object"},
		{"add with env a string", `{"op":"add","env":"e"}`, "env: not a JSON object"},
		{"update without version", `{"op":"update","env":` + envWith("version", "") + `}`, `missing field "version"`},
		{"field name in another case", `{"op":"update","env":` + strings.Replace(validEnv, `"envId"`, `"envID"`, 1) + `}`, `missing field "envId"`},
		{"without expiringSdkKey", `{"op":"add","env":` + envWith("expiringSdkKey", "") + `}`, `missing field "expiringSdkKey"`},
		{"expiringSdkKey without expiresAt", `{"op":"add","env":` + envWith("expiringSdkKey", `{"key":"o"}`) + `}`, `field "expiringSdkKey": missing field "expiresAt"`},
		{"expiringSdkKey without key", `{"op":"add","env":` + envWith("expiringSdkKey", `{"expiresAt":1}`) + `}`, `field "expiringSdkKey": missing field "key"`},
		{"expiringSdkKey with key null", `{"op":"add","env":` + envWith("expiringSdkKey", `{"key":null,"expiresAt":1}`) + `}`, `field "expiringSdkKey": field "key" is null`},
		{"expiringSdkKey a string (the old form)", `{"op":"add","env":` + envWith("expiringSdkKey", `"o"`) + `}`, `field "expiringSdkKey": not a JSON object`},
		{"sdkKey null", `{"op":"add","env":` + envWith("sdkKey", "null") + `}`, `field "sdkKey" is null`},
		{"version a string", `{"op":"add","env":` + envWith("version", `"1"`) + `}`, `field "version"`},
		{"version a fraction", `{"op":"add","env":` + envWith("version", `1.5`) + `}`, `field "version"`},
		{"version too big", `{"op":"add","env":` + envWith("version", `9223372036854775808`) + `}`, `field "version"`},
		{"defaultTtlMinutes an exponent", `{"op":"add","env":` + envWith("defaultTtlMinutes", `1e3`) + `}`, `field "defaultTtlMinutes"`},
		{"the old field names", `{"op":"add","env":` + strings.NewReplacer(`"projectKey"`, `"projKey"`, `"projectName"`, `"projName"`).Replace(validEnv) + `}`, `missing field "projectKey"`},
		{"secureMode a string", `{"op":"add","env":` + envWith("secureMode", `"true"`) + `}`, `field "secureMode"`},
		{"expiresAt negative", `{"op":"add","env":` + envWith("expiringSdkKey", `{"key":"o","expiresAt":-1}`) + `}`, `field "expiringSdkKey": field "expiresAt"`},
		{"expiresAt a string", `{"op":"add","env":` + envWith("expiringSdkKey", `{"key":"o","expiresAt":"1796000000000"}`) + `}`, `field "expiringSdkKey": field "expiresAt"`},
		{"expiringSdkKey a number", `{"op":"add","env":` + envWith("expiringSdkKey", `7`) + `}`, `field "expiringSdkKey"`},
		{"delete without envId", `{"op":"delete"}`, `missing field "envId"`},
		{"delete with envId a number", `{"op":"delete","envId":7}`, `field "envId"`},
		{"key-expired without oldKey", `{"op":"key-expired","envId":"e"}`, `missing field "oldKey"`},
		{"key-expired with oldKey null", `{"op":"key-expired","envId":"e","oldKey":null}`, `field "oldKey" is null`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := ParseLine([]byte(tc.line))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("want ErrMalformed, got %v (%#v)", err, ev)
			}
			if errors.Is(err, ErrUnknownOp) {
				t.Fatalf("malformed is not unknown op: %v", err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("error %q does not say %q", err, tc.says)
			}
			if !reflect.DeepEqual(ev, Event{}) {
				t.Fatalf("a malformed line gave %#v", ev)
			}
		})
	}
}

func TestParseLineUnknownOp(t *testing.T) {
	for _, line := range []string{`{"op":"rename","envId":"e"}`, `{"op":""}`, `{"op":"Ready"}`, `{"op":"error","message":"x"}`} {
		ev, err := ParseLine([]byte(line))
		if !errors.Is(err, ErrUnknownOp) || errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: want ErrUnknownOp only, got %v", line, err)
		}
		var obj struct{ Op string }
		_ = json.Unmarshal([]byte(line), &obj)
		if ev.Op != Op(obj.Op) || ev.Env != nil || ev.EnvID != "" {
			t.Fatalf("%s: got %#v", line, ev)
		}
		if _, err := json.Marshal(ev); err == nil {
			t.Fatalf("%s: an unknown op must not marshal", line)
		}
	}
}

// Every callback line of the shared scenario corpus (tests/scenarios/*.json, the lines the
// Rust, Node.js and Python hosts print) decodes and prints back to the same JSON object.
func TestScenarioCorpusCalls(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "tests", "scenarios", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files (%v)", err)
	}
	seen := map[Op]int{}
	total := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var scenario struct {
			Steps []struct {
				Expect struct {
					Calls []json.RawMessage `json:"calls"`
				} `json:"expect"`
			} `json:"steps"`
		}
		if err := json.Unmarshal(data, &scenario); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for i, step := range scenario.Steps {
			for j, call := range step.Expect.Calls {
				// The corpus is pretty-printed; the sidecar prints compact lines.
				var line bytes.Buffer
				if err := json.Compact(&line, call); err != nil {
					t.Fatal(err)
				}
				where := fmt.Sprintf("%s step %d call %d", filepath.Base(file), i, j)
				ev, err := ParseLine(line.Bytes())
				if err != nil {
					t.Fatalf("%s: %v\n%s", where, err, line.Bytes())
				}
				out, err := json.Marshal(ev)
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				if !sameJSON(t, out, line.Bytes()) {
					t.Fatalf("%s:\n got %s\nwant %s", where, out, line.Bytes())
				}
				seen[ev.Op]++
				total++
			}
		}
	}
	for _, op := range []Op{OpAdd, OpUpdate, OpDelete, OpReady, OpKeyExpired} {
		if seen[op] == 0 {
			t.Errorf("the corpus has no %s line", op)
		}
	}
	t.Logf("%d lines from %d scenario files: %v", total, len(files), seen)
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	decode := func(data []byte) interface{} {
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		var v interface{}
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	return reflect.DeepEqual(decode(a), decode(b))
}

func TestEnvironmentStringMasksKeys(t *testing.T) {
	ev, err := ParseLine([]byte(lineCases[1].line))
	if err != nil {
		t.Fatal(err)
	}
	x := ev.Env.ExpiringSDKKey
	for _, s := range []string{ev.Env.String(), fmt.Sprint(*ev.Env), fmt.Sprintf("%v %+v %#v", ev.Env, *ev.Env, *ev.Env),
		fmt.Sprintf("%v %+v %#v %#v", *ev.Env, x, *x, x)} {
		for _, key := range []string{"sdk-prod-0001-7777", "mob-prod-0000-2222", "sdk-prod-0000-1111"} {
			if strings.Contains(s, key) {
				t.Fatalf("%q shows the key %s", s, key)
			}
		}
		if !strings.Contains(s, `"...7777"`) || !strings.Contains(s, `"...1111"`) || !strings.Contains(s, "1796041458233") {
			t.Fatalf("%q lacks the masked keys or the expiry", s)
		}
	}
}

// recorder is a Handler (and LineErrorHandler) that writes down every call.
type recorder struct {
	calls []string
	errs  []*LineError
}

func describe(e Environment) string {
	s := fmt.Sprintf("%s v%d", e.EnvID, e.Version)
	if x := e.ExpiringSDKKey; x != nil {
		at := "nil"
		if x.ExpiresAt != nil {
			at = fmt.Sprint(*x.ExpiresAt)
		}
		s += fmt.Sprintf(" expiring %s@%s", x.Key, at)
	}
	return s
}

func (r *recorder) AddEnvironment(e Environment)    { r.calls = append(r.calls, "add "+describe(e)) }
func (r *recorder) UpdateEnvironment(e Environment) { r.calls = append(r.calls, "update "+describe(e)) }
func (r *recorder) DeleteEnvironment(id string)     { r.calls = append(r.calls, "delete "+id) }
func (r *recorder) ReceivedAllEnvironments()        { r.calls = append(r.calls, "ready") }
func (r *recorder) KeyExpired(id, old string)       { r.calls = append(r.calls, "key-expired "+id+" "+old) }
func (r *recorder) Reset()                          { r.calls = append(r.calls, "reset") }
func (r *recorder) LineError(err *LineError)        { r.errs = append(r.errs, err) }

// repoRoot is the repository root: examples/go/sidecar is three levels below it.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// The decoder goes by the struct: every field of Environment, named by its json tag, is required.
func TestEveryEnvironmentFieldIsRequired(t *testing.T) {
	ty := reflect.TypeOf(Environment{})
	for i := 0; i < ty.NumField(); i++ {
		name := ty.Field(i).Tag.Get("json")
		if !strings.Contains(validEnv, `"`+name+`":`) {
			t.Fatalf("validEnv lacks %q", name)
		}
		_, err := ParseLine([]byte(`{"op":"add","env":` + envWith(name, "") + `}`))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), fmt.Sprintf("missing field %q", name)) {
			t.Fatalf("without %q: %v", name, err)
		}
	}
}
