// A sans-IO Server-Sent Events parser (WHATWG HTML "server-sent events"): push decoded text in
// chunks split anywhere, get back the parsed items in order.
//
// - LF, CR and CRLF line ends (a CRLF split across two chunks counts once), a leading BOM,
//   `:` comments, a field with no colon, one optional space after the colon, multi-line `data`
//   joined with "\n", `id` (ignored if it holds NUL), `retry` (digits only);
// - an event is dispatched on a blank line if it has data; its type is "" when the block had no
//   `event:` field (not "message" as in a browser);
// - a partial event at the end of a connection is discarded by resetConnection();
// - an event whose data exceeds maxEventChars is dropped and reported as { type: 'oversized' }.
//
// Items: { type: 'event', event, data, id } | { type: 'comment', text } | { type: 'retry', ms }
//        | { type: 'oversized', event }

export class SseParser {
  constructor({ lastEventId = '', maxEventChars = 16 * 1024 * 1024 + 1024 } = {}) {
    this.lastEventId = lastEventId.includes('\0') ? '' : lastEventId;
    this.maxEventChars = maxEventChars;
    this.resetConnection();
  }

  /** Starts a new response body: drops a partial line or event; keeps the last event id. */
  resetConnection() {
    this.line = '';
    this.lineCut = false;
    this.pendingCR = false;
    this.atStart = true;
    this.data = '';
    this.dataChars = 0;
    this.eventType = '';
    this.idBuffer = this.lastEventId;
    this.oversized = false;
  }

  /** Feeds the next chunk of decoded text; returns the items completed by it. */
  push(text) {
    const items = [];
    if (this.atStart && text.length > 0) {
      this.atStart = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let i = 0;
    if (this.pendingCR && text.length > 0) {
      this.pendingCR = false;
      if (text[0] === '\n') i = 1;
    }
    while (i < text.length) {
      let j = i;
      while (j < text.length && text[j] !== '\n' && text[j] !== '\r') j++;
      if (j === text.length) {
        this.#appendLine(text.slice(i));
        break;
      }
      this.#appendLine(text.slice(i, j));
      const line = this.line;
      const cut = this.lineCut;
      this.line = '';
      this.lineCut = false;
      this.#processLine(line, cut, items);
      if (text[j] === '\r') {
        if (j + 1 < text.length) {
          i = text[j + 1] === '\n' ? j + 2 : j + 1;
        } else {
          this.pendingCR = true;
          i = j + 1;
        }
      } else {
        i = j + 1;
      }
    }
    return items;
  }

  #appendLine(s) {
    // Bound memory: a line longer than the event limit (plus room for the field name) is cut.
    if (this.line.length + s.length > this.maxEventChars + 64) {
      s = s.slice(0, Math.max(0, this.maxEventChars + 64 - this.line.length));
      this.lineCut = true;
    }
    this.line += s;
  }

  #processLine(line, cut, items) {
    if (line === '') {
      this.#dispatch(items);
      return;
    }
    if (line[0] === ':') {
      items.push({ type: 'comment', text: line.slice(1).replace(/^ /, '') });
      return;
    }
    const colon = line.indexOf(':');
    let field = line;
    let value = '';
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value[0] === ' ') value = value.slice(1);
    }
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        if (cut || this.oversized || this.dataChars + value.length + 1 > this.maxEventChars) {
          this.oversized = true;
          this.data = '';
        } else {
          this.data += value + '\n';
          this.dataChars += value.length + 1;
        }
        break;
      case 'id':
        if (!value.includes('\0')) this.idBuffer = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) items.push({ type: 'retry', ms: Number(value) });
        break;
      default:
        break;
    }
  }

  #dispatch(items) {
    this.lastEventId = this.idBuffer;
    if (this.oversized) {
      items.push({ type: 'oversized', event: this.eventType });
    } else if (this.dataChars > 0) {
      items.push({
        type: 'event',
        event: this.eventType,
        data: this.data.slice(0, -1),
        id: this.lastEventId === '' ? null : this.lastEventId,
      });
    }
    this.data = '';
    this.dataChars = 0;
    this.eventType = '';
    this.oversized = false;
  }
}
