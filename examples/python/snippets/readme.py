# The root README's Python snippet, verbatim below this line; test-package.sh runs it against the installed wheel.
import sys

from relay_autoconfig import AutoconfigClient, EnvironmentParams, Runtime


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
