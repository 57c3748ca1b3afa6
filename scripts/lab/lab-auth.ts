/**
 * The lab's API token (docs/lab.md, "Tokens"): every lab host listens on a
 * lab address, where bicycled needs a token, so the admin token the first
 * host's `--init` printed is handed to whatever in this process talks to a
 * lab host. Requests made with the global fetch to a lab host get
 * `Authorization: Bearer …` unless they carry one already (a test that
 * sends no token or another one says so with its own header, or with
 * `authorization: ''`); CLI runs get BICYCLE_TOKEN from tokenFor().
 */
const tokens = new Map<string, string>();
let installed = false;

/** Remembers `token` for these origins (`http://10.78.0.1:7070`) and makes sure fetch carries it. */
export function rememberLabToken(origins: readonly string[], token: string): void {
  for (const origin of origins) tokens.set(new URL(origin).origin, token);
  installFetchAuth();
}

/** The lab token for a URL's origin, if it is a lab host's. */
export function tokenFor(url: string): string | undefined {
  try {
    return tokens.get(new URL(url).origin);
  } catch {
    return undefined;
  }
}

/** The first token printed by `bicycled --init` in its output (`bicycled: admin token BAT1-…`), or undefined. */
export function initTokenIn(output: string): string | undefined {
  return /bicycled: admin token (BAT1-[0-9a-f]{16}-[A-Za-z0-9_-]{43})/.exec(output)?.[1];
}

function installFetchAuth(): void {
  if (installed) return;
  installed = true;
  const original = globalThis.fetch;
  globalThis.fetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const token = tokenFor(url);
    if (!token) return original(input, init);
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    if (headers.has('authorization')) {
      // An empty header asks for no token at all.
      if (headers.get('authorization') === '') headers.delete('authorization');
    } else {
      headers.set('authorization', `Bearer ${token}`);
    }
    return original(input, { ...init, headers });
  };
}
