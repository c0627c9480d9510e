// Durations on the command line, in Go's time.ParseDuration syntax as ld-relay takes them
// (`500ms`, `1.5s`, `1m30s`, `2h`), without negative values: the same rules and the same shared
// cases (tests/durations.json) as autoconfig-host and the Python host.

const UNITS = { ns: 1n, us: 1_000n, 'µs': 1_000n, 'μs': 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };
const MAX_NANOS = 1_000_000_000_000_000_000n;

/**
 * Parses a duration into whole milliseconds (sub-millisecond parts are dropped).
 * @param {string} text
 * @returns {number}
 * @throws {RangeError} naming the problem (empty, negative, missing or unknown unit, invalid,
 *   out of range)
 */
export function parseDuration(text) {
  if (typeof text !== 'string' || text === '') throw new RangeError('the duration is empty: use one like 500ms, 1.5s or 1m30s');
  const quoted = JSON.stringify(text);
  if (text.startsWith('-')) throw new RangeError(`${quoted} is negative`);
  let rest = text.startsWith('+') ? text.slice(1) : text;
  if (rest === '0') return 0;
  let total = 0n;
  while (rest !== '') {
    const m = /^([0-9]*)(?:\.([0-9]*))?/.exec(rest);
    const whole = m[1];
    const fraction = m[2] ?? '';
    if (whole === '' && fraction === '') throw new RangeError(`${quoted} is invalid: use a duration like 500ms, 1.5s or 1m30s`);
    rest = rest.slice(m[0].length);
    const unit = /^[^0-9.]*/.exec(rest)[0];
    rest = rest.slice(unit.length);
    if (unit === '') throw new RangeError(`${quoted} has a missing unit (ns, us, ms, s, m or h)`);
    if (/\s/.test(unit)) throw new RangeError(`${quoted} is invalid: use a duration like 500ms, 1.5s or 1m30s`);
    const scale = UNITS[unit];
    if (scale === undefined) throw new RangeError(`${quoted} has an unknown unit ${JSON.stringify(unit)} (use ns, us, ms, s, m or h)`);
    const frac = fraction.slice(0, 18);
    const fracNanos = frac === '' ? 0n : (BigInt(frac) * scale) / 10n ** BigInt(frac.length);
    total += BigInt(whole === '' ? '0' : whole) * scale + fracNanos;
    if (total > MAX_NANOS) throw new RangeError(`${quoted} is out of range`);
  }
  return Number(total / 1_000_000n);
}
