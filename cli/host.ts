export const DEFAULT_HOST = 'http://127.0.0.1:7070';
export const DEFAULT_PORT = 7070;

/**
 * Turns what a user types for --host / BICYCLE_HOST into a base URL without
 * a trailing slash. Accepts a URL (`http://h:p`, `https://h`), `host:port`,
 * `:port` (meaning 127.0.0.1) or a bare host (port 7070). Throws an Error
 * naming the value when it is none of those.
 */
export function normaliseHost(input: string | undefined): string {
  const raw = (input ?? '').trim();
  if (raw === '') return DEFAULT_HOST;
  let candidate: string;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
    candidate = raw;
  } else if (raw.startsWith(':')) {
    candidate = `http://127.0.0.1${raw}`;
  } else if (/:\d+(\/.*)?$/.test(raw) || raw.startsWith('[')) {
    candidate = `http://${raw}`;
  } else {
    candidate = `http://${raw}:${DEFAULT_PORT}`;
  }
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    throw new Error(`invalid --host "${raw}": expected host:port or http://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`invalid --host "${raw}": only http:// and https:// are supported`);
  }
  if (url.search || url.hash) {
    throw new Error(`invalid --host "${raw}": no query or fragment expected`);
  }
  return url.toString().replace(/\/+$/, '');
}
