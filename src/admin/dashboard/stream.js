// The event stream read with fetch() instead of EventSource, because
// EventSource cannot send an Authorization header and the token must stay
// out of URLs and cookies. Parses text/event-stream as the spec does
// (event, data, id; a blank line dispatches), reconnects with Last-Event-ID
// so the server replays what was missed, and treats 5 s of silence (the
// server sends a snapshot every second) as a dead connection.

const SILENCE_MS = 5000;

export function openStream({ url, headers, onMessage, onStatus }) {
  let lastId = '';
  let stopped = false;
  let controller;
  let generation = 0;

  async function run(gen) {
    let delay = 500;
    while (!stopped && gen === generation) {
      controller = new AbortController();
      const signal = controller.signal;
      try {
        const h = { ...headers(), accept: 'text/event-stream' };
        if (lastId) h['last-event-id'] = lastId;
        const res = await fetch(url, { headers: h, cache: 'no-store', signal });
        if (res.status === 401) {
          onStatus('unauthorized', 'the admin token is missing or wrong');
          return;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        onStatus('live');
        delay = 500;
        await read(res.body, controller);
        if (!stopped && gen === generation) onStatus('reconnecting', 'the stream ended');
      } catch (err) {
        if (stopped || gen !== generation) return;
        onStatus('reconnecting', err.name === 'AbortError' ? 'no data for 5 s' : err.message);
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 8000);
    }
  }

  async function read(body, ctl) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let watchdog = setTimeout(() => ctl.abort(), SILENCE_MS);
    let buf = '';
    let event = '';
    let data = [];
    let id;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        clearTimeout(watchdog);
        watchdog = setTimeout(() => ctl.abort(), SILENCE_MS);
        buf += value;
        let nl;
        while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
          if (line === '') {
            if (id !== undefined) lastId = id;
            if (data.length > 0) onMessage(event || 'message', data.join('\n'));
            event = '';
            data = [];
            id = undefined;
            continue;
          }
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let v = colon < 0 ? '' : line.slice(colon + 1);
          if (v.startsWith(' ')) v = v.slice(1);
          if (field === 'data') data.push(v);
          else if (field === 'event') event = v;
          else if (field === 'id' && !v.includes('\0')) id = v;
        }
      }
    } finally {
      clearTimeout(watchdog);
    }
  }

  const start = () => {
    generation++;
    controller?.abort();
    void run(generation);
  };
  start();
  return {
    /** Reconnects now (e.g. with a new token); the last event id is kept. */
    restart: start,
    stop() {
      stopped = true;
      controller?.abort();
    },
  };
}
