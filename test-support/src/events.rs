//! The stream's JSON, built for tests and benchmarks.

use serde_json::{Value, json};

/// The stream's JSON for environment `id` at `version` (every field set, no expiring key).
pub fn env(id: &str, version: i64) -> Value {
    json!({
        "envId": id,
        "envKey": format!("{id}-key"),
        "envName": format!("{id} name"),
        "projKey": "proj",
        "projName": "Project",
        "sdkKey": {"value": format!("sdk-{id}-{version}")},
        "mobKey": format!("mob-{id}"),
        "defaultTtl": 0,
        "secureMode": false,
        "version": version,
    })
}

/// The data of a `put` of these environments (any JSON values, keyed by their id).
pub fn put_data_of(envs: impl IntoIterator<Item = (String, Value)>) -> String {
    let environments: serde_json::Map<String, Value> = envs.into_iter().collect();
    json!({"path": "/", "data": {"environments": environments}}).to_string()
}

/// The data of a `put` of these `(id, version)` environments.
pub fn put_data(envs: &[(&str, i64)]) -> String {
    put_data_of(
        envs.iter()
            .map(|&(id, version)| (id.to_owned(), env(id, version))),
    )
}

/// The data of a `patch` of environment `id` at `version`.
pub fn patch_data(id: &str, version: i64) -> String {
    json!({"path": format!("/environments/{id}"), "data": env(id, version)}).to_string()
}

/// The data of a `delete` of environment `id` at `version`.
pub fn delete_data(id: &str, version: i64) -> String {
    json!({"path": format!("/environments/{id}"), "version": version}).to_string()
}

/// One SSE event with LF line ends (`data` on one line).
pub fn sse(name: &str, data: &str) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// A `put` SSE event of these `(id, version)` environments.
pub fn put(envs: &[(&str, i64)]) -> String {
    sse("put", &put_data(envs))
}

/// A `patch` SSE event of environment `id` at `version`.
pub fn patch(id: &str, version: i64) -> String {
    sse("patch", &patch_data(id, version))
}

/// A `delete` SSE event of environment `id` at `version`.
pub fn delete(id: &str, version: i64) -> String {
    sse("delete", &delete_data(id, version))
}

/// The data of a `put` of `n` realistic environments (every tenth with an expiring key), for
/// benchmarks. Written by hand rather than with `serde_json` so that building it is cheap.
pub fn put_of(n: usize) -> String {
    let entries: Vec<String> = (0..n)
        .map(|i| {
            let expiring = if i % 10 == 0 {
                format!(r#","expiring":{{"value":"sdk-old-{i:08}-aaaa","timestamp":1900000000000}}"#)
            } else {
                String::new()
            };
            format!(
                r#""env{i:06}":{{"envId":"env{i:06}","envKey":"key-{i}","envName":"Environment {i}","mobKey":"mob-{i:08}-bbbb","projKey":"proj-{p}","projName":"Project {p}","sdkKey":{{"value":"sdk-{i:08}-cccc"{expiring}}},"defaultTtl":5,"secureMode":true,"version":{v}}}"#,
                p = i / 20,
                v = i % 7 + 1
            )
        })
        .collect();
    format!(
        r#"{{"path":"/","data":{{"environments":{{{}}}}}}}"#,
        entries.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_make_valid_json_of_the_documented_shape() {
        let put: Value = serde_json::from_str(&put_of(25)).expect("valid JSON");
        let envs = put["data"]["environments"]
            .as_object()
            .expect("environments");
        assert_eq!(envs.len(), 25);
        assert_eq!(
            envs["env000010"]["sdkKey"]["expiring"]["timestamp"],
            1_900_000_000_000u64
        );
        let patch: Value = serde_json::from_str(&patch_data("e", 3)).expect("valid JSON");
        assert_eq!(patch["path"], "/environments/e");
        assert_eq!(patch["data"]["version"], 3);
        assert_eq!(sse("x", "y"), "event: x\ndata: y\n\n");
    }
}
