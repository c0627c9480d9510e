// A small strict JSON parser for the scenario files that keeps what JSON.parse loses:
// integers as BigInt (u64 timestamps may exceed 2^53), and the exact source text of every value
// (the Rust runner passes a non-string `data` value to the component as its raw text, byte for
// byte, which matters for size limits).
//
// parse(text) returns a tree of nodes: { kind, value, raw } where kind is 'object' (value: Map
// of key -> node, the last duplicate wins; `duplicate` names the first repeated key, or null), 'array' (value: node[]), 'string', 'integer'
// (BigInt), 'number' (non-integer, as a JS number), 'boolean' or 'null'.

export function parse(text) {
  let i = 0;
  const fail = (msg) => {
    const line = text.slice(0, i).split('\n').length;
    throw new SyntaxError(`${msg} at line ${line} (offset ${i})`);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const value = () => {
    ws();
    const start = i;
    const c = text[i];
    let node;
    if (c === '{') {
      i++;
      const map = new Map();
      let duplicate = null;
      ws();
      if (text[i] === '}') i++;
      else {
        for (;;) {
          ws();
          if (text[i] !== '"') fail('expected a key');
          const key = string();
          // Allowed in JSON (the Rust runner passes raw `data` on as is); `duplicate` lets the
          // scenario decoder reject it where serde would (in the scenario's own structs).
          if (map.has(key) && duplicate === null) duplicate = key;
          ws();
          if (text[i] !== ':') fail('expected `:`');
          i++;
          map.set(key, value());
          ws();
          if (text[i] === ',') i++;
          else if (text[i] === '}') {
            i++;
            break;
          } else fail('expected `,` or `}`');
        }
      }
      node = { kind: 'object', value: map, duplicate };
    } else if (c === '[') {
      i++;
      const items = [];
      ws();
      if (text[i] === ']') i++;
      else {
        for (;;) {
          items.push(value());
          ws();
          if (text[i] === ',') i++;
          else if (text[i] === ']') {
            i++;
            break;
          } else fail('expected `,` or `]`');
        }
      }
      node = { kind: 'array', value: items };
    } else if (c === '"') {
      node = { kind: 'string', value: string() };
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
      if (!m) fail('bad number');
      i += m[0].length;
      node =
        m[2] || m[3]
          ? { kind: 'number', value: Number(m[0]) }
          : { kind: 'integer', value: BigInt(m[0]) };
    } else if (text.startsWith('true', i)) {
      i += 4;
      node = { kind: 'boolean', value: true };
    } else if (text.startsWith('false', i)) {
      i += 5;
      node = { kind: 'boolean', value: false };
    } else if (text.startsWith('null', i)) {
      i += 4;
      node = { kind: 'null', value: null };
    } else {
      fail('expected a value');
    }
    node.raw = text.slice(start, i);
    return node;
  };
  const string = () => {
    const start = i;
    i++;
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text[i];
      if (c === '"') break;
      if (c === '\\') i += 2;
      else if (c < ' ') fail('control character in string');
      else i++;
    }
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const root = value();
  ws();
  if (i !== text.length) fail('trailing characters');
  return root;
}

/** Whether a JS string holds a lone surrogate (not valid Unicode text; serde_json rejects it). */
export function hasLoneSurrogate(s) {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/**
 * A node as canonical JSON text: object keys sorted (by UTF-16 code units) at every level, no
 * whitespace, integers exact, strings escaped as JSON.stringify does. Two JSON values are equal,
 * whatever their key order, when their canonical texts are. Throws on a duplicate key.
 */
export function canonical(node) {
  switch (node.kind) {
    case 'object': {
      if (node.duplicate) throw new Error(`duplicate field \`${node.duplicate}\``);
      const keys = [...node.value.keys()].sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(node.value.get(k))}`).join(',')}}`;
    }
    case 'array':
      return `[${node.value.map(canonical).join(',')}]`;
    case 'string':
      return JSON.stringify(node.value);
    case 'integer':
      return node.value.toString();
    default: // number (as written), boolean, null
      return node.raw.trim();
  }
}
