import fc from 'fast-check';

/** The part of JSON Schema (2020-12, as zod's toJSONSchema writes it) that the request schemas use. */
export interface JsonSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean' | 'null';
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  /** `false`: no items past prefixItems (a tuple without a rest). */
  items?: JsonSchema | false;
  /** A tuple's leading items, one schema each (zod's z.tuple). */
  prefixItems?: JsonSchema[];
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  /** Values the schema accepts, for what its other keywords cannot bound (a duration's text). */
  examples?: unknown[];
}

const SMALL = 4;

/** Values the schema accepts (or close to it: refinements a JSON Schema cannot say are not honoured). */
export function validFrom(schema: JsonSchema): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  // Mostly the examples, sometimes what the other keywords allow (which they may not bound).
  if (schema.examples?.length) {
    const { examples, ...rest } = schema;
    return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...examples) }, { weight: 1, arbitrary: validFrom(rest) });
  }
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map(validFrom));
  switch (schema.type) {
    case 'object': {
      const props = schema.properties ?? {};
      const required = new Set(schema.required ?? []);
      const keys = Object.keys(props);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const key of keys) record[key] = validFrom(props[key]!);
      if (keys.length > 0) return fc.record(record, { requiredKeys: keys.filter((k) => required.has(k)) });
      const values = typeof schema.additionalProperties === 'object' ? validFrom(schema.additionalProperties) : fc.string();
      return fc.dictionary(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/), values, { maxKeys: SMALL });
    }
    case 'array': {
      const prefix = schema.prefixItems ?? [];
      if (prefix.length === 0 && schema.items !== false) {
        return fc.array(validFrom(schema.items ?? {}), { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? SMALL, SMALL) });
      }
      // A tuple: its leading items, then (when it has a rest) a few more.
      const rest = schema.items === false ? fc.constant([]) : fc.array(validFrom(schema.items ?? {}), { maxLength: SMALL });
      return fc.tuple(fc.tuple(...prefix.map(validFrom)), rest).map(([head, tail]) => [...head, ...tail]);
    }
    case 'string':
      if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length >= (schema.minLength ?? 0) && s.length <= (schema.maxLength ?? Infinity));
      return fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 16, 16) });
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -1_000_000, max: schema.maximum ?? 1_000_000 });
    case 'number':
      return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    default:
      return fc.jsonValue();
  }
}

/** Edge values a schema's bounds invite: just outside a range, wrong types, huge and odd strings. */
const EDGES = fc.constantFrom<unknown>(-1, 0, 1.5, 65_536, 10_001, 2 ** 53, -0, '', ' ', '1', 'x'.repeat(70_000), '__proto__', 'a b', '\u0000', null, true, [], {}, [null], { '': '' });

/**
 * Requests near the schema's edge: a valid value with one place changed —
 * a field replaced by an edge or any JSON value, an unknown field added, a
 * required field removed — or any JSON at all.
 */
export function nearFrom(schema: JsonSchema): fc.Arbitrary<unknown> {
  const valid = validFrom(schema);
  return fc.oneof(
    { weight: 2, arbitrary: valid },
    { weight: 4, arbitrary: fc.tuple(valid, fc.nat(), fc.oneof(EDGES, fc.jsonValue({ maxDepth: 2 }))).map(([v, i, x]) => replaceOne(v, i, x)) },
    { weight: 1, arbitrary: fc.tuple(valid, fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 })).map(([v, k, x]) => (isObject(v) ? { ...v, [k]: x } : v)) },
    { weight: 1, arbitrary: fc.tuple(valid, fc.nat()).map(([v, i]) => dropOne(v, i)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  );
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Replaces the i-th place (in a walk of the value's nested fields and items) by `x`. */
function replaceOne(value: unknown, i: number, x: unknown): unknown {
  const places = walk(value);
  if (places.length === 0) return x;
  const path = places[i % places.length]!;
  return setAt(value, path, x);
}

function dropOne(value: unknown, i: number): unknown {
  if (!isObject(value)) return value;
  const keys = Object.keys(value);
  if (keys.length === 0) return value;
  const copy = { ...value };
  delete copy[keys[i % keys.length]!];
  return copy;
}

function walk(value: unknown, path: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [];
  if (Array.isArray(value)) value.forEach((v, i) => out.push([...path, i], ...walk(v, [...path, i])));
  else if (isObject(value)) for (const [k, v] of Object.entries(value)) out.push([...path, k], ...walk(v, [...path, k]));
  return out;
}

function setAt(value: unknown, path: Array<string | number>, x: unknown): unknown {
  if (path.length === 0) return x;
  const [head, ...rest] = path;
  if (Array.isArray(value)) return value.map((v, i) => (i === head ? setAt(v, rest, x) : v));
  if (isObject(value)) return { ...value, [head!]: setAt(value[head as string], rest, x) };
  return value;
}
