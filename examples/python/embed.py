"""The README's Python embedding snippets, run by examples/run-tests.sh."""
from relay_autoconfig import AutoconfigClient, Runtime, StreamClient, StreamOptions


class Handler:
    def add_environment(self, env): print("add", env.env_id, env.sdk_key)
    def update_environment(self, env): print("update", env.env_id, env.version)
    def delete_environment(self, env_id): print("delete", env_id)
    def received_all_environments(self): print("ready")
    def key_expired(self, env_id, old_key): print("expired", env_id, old_key)
    def log(self, level, message): print(level, message)


runtime = Runtime("target/guest/wasm32-wasip2/guest/relay_autoconfig.wasm")  # compile once
client = AutoconfigClient(runtime, Handler())  # fuel + memory limits per call
put = '{"path":"/","data":{"environments":{"e1":{"envId":"e1","sdkKey":{"value":"sdk-1"},"version":1}}}}'
directive = client.on_event("put", put, now=1796000000000)
print(directive.restart, directive.next_deadline)  # None | "reconnect-requested" | "malformed-data"

# The whole client, sans-IO: the component asks for requests, parses the SSE and decides.
stream = StreamClient(runtime, Handler())  # its own instance and state
step = stream.start(StreamOptions(key="rel-key-0001", stream_uri="http://127.0.0.1:8030"), now=1796000000000)
print("GET", step.connect.url)  # open it with step.connect.headers (never follow redirects), then report:
step = stream.on_response(200, "text/event-stream", None, now=1796000000010)
step = stream.on_body(b"event: put\ndata: " + put.encode() + b"\n\n", now=1796000000020)
print(step.disconnect, step.connect, step.stop, step.next_deadline)  # call on_timeout(now) then
