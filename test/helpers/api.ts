/** A tiny REST client for tests: answers status and parsed JSON body. */
export interface Answer<T = any> {
  status: number;
  body: T;
}

export async function call<T = any>(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer<T>> {
  const res = await fetch(url + path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed as T };
}

export const api = (url: string) => ({
  get: <T = any>(path: string) => call<T>(url, 'GET', path),
  post: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => call<T>(url, 'POST', path, body, headers),
  patch: <T = any>(path: string, body?: unknown) => call<T>(url, 'PATCH', path, body),
  delete: <T = any>(path: string) => call<T>(url, 'DELETE', path),
});
