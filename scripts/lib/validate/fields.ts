import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { REPO_ROOT } from '../core/paths.ts';

// Unknown-field detection for the kinds the kubernetes-models packages cover. Their runtime validators check types,
// enums and required fields but accept any extra key (CRD schemas leave additionalProperties open and the API server
// silently prunes unknown fields), so a typo such as `spec.intervall` or `chart.spec.verison` would pass. The packages'
// type declarations list every field of every type, generated from the same OpenAPI/CRD schemas; this module reads
// them into a field tree and reports keys that are not fields — what `kubectl apply --validate=strict` would reject.
//
//   typeOf(moduleFile, interfaceName)   the field tree of one exported interface (cached; resolves imports lazily)
//   unknownFields(value, type, path)    ["spec.chart.spec.verison", …]

export type FieldType =
  | { t: 'leaf' } // string, number, boolean, literal unions: nothing to descend into
  | { t: 'open' } // any JSON (empty interfaces such as apiextensions JSON, unions of objects)
  | { t: 'array'; of: FieldType | Lazy }
  | { t: 'map'; of: FieldType | Lazy }
  | { t: 'object'; fields: Map<string, FieldType | Lazy> };

/** A reference resolved on first use, so recursive types (JSONSchemaProps, …) cost nothing until reached. */
export interface Lazy {
  t: 'lazy';
  get: () => FieldType;
}

export const NODE_MODULES = join(REPO_ROOT, 'node_modules');
const fileCache = new Map<string, ParsedFile>();
const typeCache = new Map<string, FieldType>();

interface ParsedFile {
  file: string;
  imports: Map<string, string>; // local name → resolved .d.ts file
  interfaces: Map<string, { extends: string[]; body: string }>;
  aliases: Map<string, string>; // exported alias → local interface name
  typeAliases: Map<string, string>; // `export type X = …;` bodies
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

/** "./HelmChartTemplate.js" or "kubernetes-models/apps/v1/Deployment" → absolute .d.ts path. */
function resolveModule(spec: string, fromFile: string): string | undefined {
  const candidates: string[] = [];
  if (spec.startsWith('.')) {
    const base = resolve(dirname(fromFile), spec.replace(/\.js$/, ''));
    candidates.push(`${base}.d.ts`, join(base, 'index.d.ts'));
  } else {
    const parts = spec.split('/');
    const pkgLen = spec.startsWith('@') ? 2 : 1;
    const pkgDir = join(NODE_MODULES, ...parts.slice(0, pkgLen));
    const sub = parts.slice(pkgLen).join('/').replace(/\.js$/, '');
    candidates.push(sub ? join(pkgDir, `${sub}.d.ts`) : join(pkgDir, 'index.d.ts'), join(pkgDir, sub, 'index.d.ts'));
  }
  return candidates.find((c) => existsSync(c));
}

/** Index of the matching closing bracket for text[open] (one of { < ( ). */
function matching(text: string, open: number): number {
  const pairs: Record<string, string> = { '{': '}', '<': '>', '(': ')' };
  const stack: string[] = [];
  for (let i = open; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"') {
      i = text.indexOf('"', i + 1);
      continue;
    }
    if (pairs[ch]) stack.push(pairs[ch]!);
    else if (ch === stack[stack.length - 1]) {
      stack.pop();
      if (stack.length === 0) return i;
    }
  }
  return -1;
}

function parseFile(file: string): ParsedFile {
  const cached = fileCache.get(file);
  if (cached) return cached;
  const text = stripComments(readFileSync(file, 'utf8'));
  const parsed: ParsedFile = { file, imports: new Map(), interfaces: new Map(), aliases: new Map(), typeAliases: new Map() };
  for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    const target = resolveModule(m[2]!, file);
    if (!target) continue;
    for (const name of m[1]!.split(',').map((s) => s.trim()).filter(Boolean)) {
      const [orig, local] = name.split(/\s+as\s+/);
      parsed.imports.set((local ?? orig)!.trim(), target);
    }
  }
  for (const m of text.matchAll(/export interface (\w+)(?:<[^>]*>)?\s*(?:extends ([^{]+))?\{/g)) {
    const open = m.index! + m[0].length - 1;
    const close = matching(text, open);
    parsed.interfaces.set(m[1]!, {
      extends: (m[2] ?? '').split(',').map((s) => s.trim().replace(/<.*$/, '')).filter(Boolean),
      body: text.slice(open + 1, close),
    });
  }
  for (const m of text.matchAll(/export type \{([^}]*)\}/g)) {
    for (const part of m[1]!.split(',')) {
      const [orig, alias] = part.split(/\s+as\s+/).map((s) => s.trim());
      if (orig && alias) parsed.aliases.set(alias, orig);
    }
  }
  for (const m of text.matchAll(/export type (\w+)\s*=\s*([^;]+);/g)) parsed.typeAliases.set(m[1]!, m[2]!.trim());
  fileCache.set(file, parsed);
  return parsed;
}

/** Splits a type body into its top-level `"name"?: Type` members. */
function members(body: string): { name: string; type: string }[] {
  const out: { name: string; type: string }[] = [];
  let i = 0;
  while (i < body.length) {
    const m = /\s*("([^"]+)"|(\w+)|\[[^\]]*\])\??\s*:\s*/y;
    m.lastIndex = i;
    const head = m.exec(body);
    if (!head) {
      i++;
      continue;
    }
    let j = m.lastIndex;
    let depth = 0;
    for (; j < body.length; j++) {
      const ch = body[j]!;
      if (ch === '"') j = body.indexOf('"', j + 1);
      else if ('{<('.includes(ch)) depth++;
      else if ('}>)'.includes(ch)) depth--;
      else if ((ch === ';' || ch === '\n') && depth === 0) break;
    }
    const name = head[2] ?? head[3] ?? head[1]!;
    out.push({ name, type: body.slice(m.lastIndex, j).trim() });
    i = j + 1;
  }
  return out;
}

function lazy(file: ParsedFile, expr: string): FieldType | Lazy {
  let value: FieldType | undefined;
  return { t: 'lazy', get: () => (value ??= typeExpr(file, expr)) };
}

export function resolveLazy(t: FieldType | Lazy): FieldType {
  return t.t === 'lazy' ? t.get() : t;
}

function typeExpr(file: ParsedFile, raw: string): FieldType {
  const expr = raw.trim();
  if (/^(string|number|boolean|null|undefined|never)$/.test(expr) || /^"[^"]*"$/.test(expr) || /\["(kind|apiVersion)"\]$/.test(expr)) return { t: 'leaf' };
  if (/^(any|unknown|object|\{\s*\})$/.test(expr)) return { t: 'open' };
  const arr = /^Array<([\s\S]+)>$/.exec(expr);
  if (arr) return { t: 'array', of: lazy(file, arr[1]!) };
  if (expr.startsWith('{') && matching(expr, 0) === expr.length - 1) {
    const inner = expr.slice(1, -1);
    const index = /^\s*\[key: string\]\s*:\s*([\s\S]+?);?\s*$/.exec(inner);
    if (index) return { t: 'map', of: lazy(file, index[1]!) };
    return objectOf(file, inner, []);
  }
  // Unions: literal unions are leaves; anything else is too loose to check field by field.
  if (/\|/.test(expr)) return expr.split('|').every((p) => /^\s*("[^"]*"|string|number|boolean|null)\s*$/.test(p)) ? { t: 'leaf' } : { t: 'open' };
  if (/^\w+$/.test(expr)) return named(file, expr);
  return { t: 'open' };
}

function objectOf(file: ParsedFile, body: string, bases: string[]): FieldType {
  const fields = new Map<string, FieldType | Lazy>();
  for (const base of bases) {
    if (base === 'TypeMeta') {
      fields.set('apiVersion', { t: 'leaf' });
      fields.set('kind', { t: 'leaf' });
      continue;
    }
    const b = named(file, base);
    if (b.t === 'object') for (const [k, v] of b.fields) fields.set(k, v);
    else return { t: 'open' };
  }
  const list = members(body);
  if (list.some((m) => m.name.startsWith('['))) return { t: 'open' };
  for (const m of list) fields.set(m.name, lazy(file, m.type));
  // An interface without fields is apiextensions' JSON (or RawExtension): any value goes.
  return fields.size === 0 ? { t: 'open' } : { t: 'object', fields };
}

function named(file: ParsedFile, name: string): FieldType {
  const key = `${file.file}#${name}`;
  const hit = typeCache.get(key);
  if (hit) return hit;
  typeCache.set(key, { t: 'open' }); // recursion guard until resolved
  let result: FieldType = { t: 'open' };
  const local = file.aliases.get(name) ?? name;
  const iface = file.interfaces.get(local);
  if (iface) result = objectOf(file, iface.body, iface.extends);
  else if (file.typeAliases.has(local)) result = typeExpr(file, file.typeAliases.get(local)!);
  else if (file.imports.has(name)) result = named(parseFile(file.imports.get(name)!), name);
  typeCache.set(key, result);
  return result;
}

/** The field tree of an exported interface in a .d.ts file (e.g. HelmRelease.d.ts, "IHelmRelease"). */
export function typeOf(dtsFile: string, interfaceName: string): FieldType {
  return named(parseFile(dtsFile), interfaceName);
}

/** Dotted paths of keys in `value` that are not fields of `type`. */
export function unknownFields(value: unknown, type: FieldType | Lazy, path = ''): string[] {
  const t = resolveLazy(type);
  if (value === null || value === undefined) return [];
  if (t.t === 'array' && Array.isArray(value)) return value.flatMap((v, i) => unknownFields(v, t.of, `${path}[${i}]`));
  if (t.t === 'map' && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => unknownFields(v, t.of, path ? `${path}.${k}` : k));
  }
  if (t.t === 'object' && typeof value === 'object' && !Array.isArray(value)) {
    const out: string[] = [];
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const p = path ? `${path}.${k}` : k;
      const f = t.fields.get(k);
      if (!f) out.push(p);
      else out.push(...unknownFields(v, f, p));
    }
    return out;
  }
  return [];
}
