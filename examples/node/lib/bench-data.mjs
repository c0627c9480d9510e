// Realistic environments for the benchmarks (every field set), shared by bench.mjs and
// bench-host.mjs.

/** The environment `i` at `version`, in the wire format. */
export function environment(i, version = 1) {
  const id = `env${String(i).padStart(6, '0')}`;
  return {
    envId: id, envKey: `key-${i}`, envName: `Environment ${i}`, projKey: `proj-${i % 50}`,
    projName: `Project ${i % 50}`, sdkKey: { value: `sdk-00000000-0000-0000-0000-${String(i).padStart(12, '0')}` },
    mobKey: `mob-00000000-0000-0000-0000-${String(i).padStart(12, '0')}`, defaultTtl: i % 3,
    secureMode: i % 2 === 0, version,
  };
}

/** The data of a `put` of `n` environments. */
export function putJson(n) {
  const environments = {};
  for (let i = 0; i < n; i++) {
    const env = environment(i);
    environments[env.envId] = env;
  }
  return JSON.stringify({ path: '/', data: { environments } });
}

/** The data of a `patch` raising environment `i` to `version`. */
export function patchJson(i, version) {
  const env = environment(i, version);
  return JSON.stringify({ path: `/environments/${env.envId}`, data: env });
}
