import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';

/**
 * A tiny REST client for tests: answers status and parsed JSON body.
 *
 * Every JSON answer is also checked against the OpenAPI document the daemon
 * itself serves (GET /openapi.json, read once per daemon address): its
 * status must be one the document lists for that route and its body must
 * validate against the schema given for that status. A mismatch throws,
 * naming the route, the status and the schema error, so every test that
 * talks to a daemon through this client also tests the document. Answers
 * of a route the document does not have (an unknown path, a 405) and
 * answers that are not JSON (logs, metrics, event streams) are not checked.
 */
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
  let json = false;
  try {
    parsed = text ? JSON.parse(text) : undefined;
    json = text !== '';
  } catch {
    // not JSON: keep the text
  }
  if (json && /^application\/json\b/.test(res.headers.get('content-type') ?? '')) await checkAnswer(url, method, path, res.status, parsed);
  return { status: res.status, body: parsed as T };
}

export const api = (url: string) => ({
  get: <T = any>(path: string) => call<T>(url, 'GET', path),
  post: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => call<T>(url, 'POST', path, body, headers),
  patch: <T = any>(path: string, body?: unknown) => call<T>(url, 'PATCH', path, body),
  delete: <T = any>(path: string) => call<T>(url, 'DELETE', path),
});

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>>;
}

/** One document, compiled once: its paths as patterns, and a validator per (route, method, status) made on first use. */
interface Checker {
  doc: OpenApiDocument;
  ajv: Ajv2020;
  routes: Array<{ path: string; pattern: RegExp }>;
  validators: Map<string, ValidateFunction>;
}

/** By document text: daemons of one build serve the same document, so they share one compiled checker. */
const checkersByDocument = new Map<string, Checker>();
/** By daemon address; null: what answers there serves no OpenAPI document (not a bicycled). */
const checkersByUrl = new Map<string, Checker | null>();

async function checkerFor(url: string): Promise<Checker | null | undefined> {
  if (checkersByUrl.has(url)) return checkersByUrl.get(url);
  let text: string;
  try {
    const res = await fetch(`${url}/openapi.json`);
    text = await res.text();
    if (!res.ok) {
      checkersByUrl.set(url, null);
      return null;
    }
  } catch {
    // The daemon went away between its answer and this read (a test killing it): check its later answers instead.
    return undefined;
  }
  let checker = checkersByDocument.get(text);
  if (!checker) {
    const doc = JSON.parse(text) as OpenApiDocument;
    if (typeof doc.openapi !== 'string') {
      checkersByUrl.set(url, null);
      return null;
    }
    // The document is not a JSON Schema itself (openapi, info, paths): strict off so its other keywords are ignored.
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema(doc, 'openapi.json');
    const routes = Object.keys(doc.paths)
      .map((path) => ({ path, params: (path.match(/\{/g) ?? []).length, pattern: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`) }))
      // A literal segment beats a parameter: /nodes/{id}/promote before a hypothetical /nodes/{id}/{x}.
      .sort((a, b) => a.params - b.params);
    checker = { doc, ajv, routes, validators: new Map() };
    checkersByDocument.set(text, checker);
  }
  checkersByUrl.set(url, checker);
  return checker;
}

/** The JSON pointer of a schema in the document: /paths/~1services~1{name}/get/responses/200/… */
function pointer(segments: string[]): string {
  return segments.map((s) => encodeURIComponent(s.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/');
}

async function checkAnswer(url: string, method: string, requestPath: string, status: number, body: unknown): Promise<void> {
  const checker = await checkerFor(url);
  if (!checker) return;
  const path = requestPath.split('?')[0]!;
  const m = method.toLowerCase();
  const route = checker.routes.find((r) => r.pattern.test(path) && checker.doc.paths[r.path]![m]);
  if (!route) return;
  const where = `${method} ${path} (${m} ${route.path})`;
  const answers = checker.doc.paths[route.path]![m]!.responses;
  const answer = answers[String(status)];
  if (!answer) {
    throw new Error(`${where} answered ${status}, a status /openapi.json does not list for it (it lists ${Object.keys(answers).join(', ')}): ${JSON.stringify(body)}`);
  }
  if (!answer.content?.['application/json']) {
    throw new Error(`${where} answered ${status} with a JSON body, which /openapi.json does not give for that status: ${JSON.stringify(body)}`);
  }
  const key = `${m} ${route.path} ${status}`;
  let validate = checker.validators.get(key);
  if (!validate) {
    validate = checker.ajv.compile({ $ref: `openapi.json#/${pointer(['paths', route.path, m, 'responses', String(status), 'content', 'application/json', 'schema'])}` });
    checker.validators.set(key, validate);
  }
  if (!validate(body)) {
    const text = JSON.stringify(body);
    throw new Error(`${where} ${status}: the answer does not match /openapi.json: ${checker.ajv.errorsText(validate.errors)}; answer: ${text.length > 2000 ? `${text.slice(0, 2000)}…` : text}`);
  }
}
