"""The Python README's embedding snippets, run by tests/test_snippets.py, examples/run-tests.sh and test-package.sh."""
import sys

from relay_autoconfig import AutoconfigClient, EnvironmentParams, Runtime, StreamClient, StreamOptions, parse_batch


class Handler:
    def add_environment(self, env: EnvironmentParams) -> None: print("add", env.env_id, env.sdk_key)
    def update_environment(self, env: EnvironmentParams) -> None: print("update", env.env_id, env.version)
    def delete_environment(self, env_id: str) -> None: print("delete", env_id)
    def received_all_environments(self) -> None: print("ready")
    def key_expired(self, env_id: str, old_key: str) -> None: print("expired", env_id, old_key)
    def log(self, level: str, message: str) -> None: print(level, message, file=sys.stderr)


runtime = Runtime()  # the component inside the package, compiled once
client = AutoconfigClient(runtime, Handler())  # fuel + memory limits per call
put = '{"path":"/","data":{"environments":{"e1":{"envId":"e1","sdkKey":{"value":"sdk-1"},"version":1}}}}'
directive = client.on_event("put", put, now=1796000000000)
print(directive.restart, directive.next_deadline)  # None | "reconnect-requested" | "malformed-data"

# The whole client, sans-IO: the component asks for requests, parses the SSE and decides.
stream = StreamClient(runtime, Handler())  # its own instance and state
step = stream.start(StreamOptions(key="rel-key-0001", stream_uri="http://127.0.0.1:8030"), now=1796000000000)
assert step.connect is not None
print("GET", step.connect.url)  # open it with step.connect.headers (never follow redirects), then report:
step = stream.on_response(200, "text/event-stream", None, now=1796000000010)
step = stream.on_body(b"event: put\ndata: " + put.encode() + b"\n\n", now=1796000000020)
print(step.disconnect, step.connect, step.stop, step.next_deadline)  # call on_timeout(now) then

# Batched: each call's callbacks come as one string of JSON lines (exactly the lines autoconfig-host
# prints), once per call, before it returns; the handler only gets log. Much faster on a large put.
def on_batch(text: str) -> None:  # or sys.stdout.write(text) to pass the lines on as they are
    for call in parse_batch(text):
        print("batched", call["op"], call.get("env", {}).get("envId", "-"))  # a dict per callback


batched = StreamClient(runtime, Handler(), batch=on_batch)
batched.start(StreamOptions(key="rel-key-0001", stream_uri="http://127.0.0.1:8030"), now=1796000000000)
batched.on_response(200, "text/event-stream", None, now=1796000000010)
batched.on_body(b"event: put\ndata: " + put.encode() + b"\n\n", now=1796000000020)
