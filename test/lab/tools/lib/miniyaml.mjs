// A small parser for the block-style YAML of kubeconfig and talosconfig files, so the common fake calls do not pay
// for loading the `yaml` package (~50–200 ms per process). Anything outside its subset (anchors, tags, block scalars,
// nested flow collections, multiple documents) throws, and parseConfigYaml falls back to the real parser.
import { yaml } from './core.mjs';

class Unsupported extends Error {}

const ENTRY = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s"'#{}[\],&*!|>-][^:]*?|-[^\s:][^:]*?)\s*:(?:\s+(.*))?$/;

function scalar(s) {
  const v = s.trim();
  if (v === '' || v === '~' || v === 'null') return null;
  if (v[0] === '"') {
    if (!/^"(?:[^"\\]|\\.)*"$/.test(v)) throw new Unsupported(v);
    return JSON.parse(v);
  }
  if (v[0] === "'") {
    if (!/^'(?:[^']|'')*'$/.test(v)) throw new Unsupported(v);
    return v.slice(1, -1).replace(/''/g, "'");
  }
  if (v === '[]') return [];
  if (v === '{}') return {};
  if (v[0] === '[') {
    if (!v.endsWith(']') || /["'[\]{}]/.test(v.slice(1, -1))) throw new Unsupported(v);
    return v.slice(1, -1).split(',').map((x) => scalar(x));
  }
  if (/^[{|>&*!%@`]/.test(v)) throw new Unsupported(v);
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (/^-?(0|[1-9]\d*)(\.\d+)?$/.test(v)) return Number(v);
  return v;
}

function entry(text) {
  const m = ENTRY.exec(text);
  if (!m) return undefined;
  const k = m[1];
  const key = k[0] === '"' ? JSON.parse(k) : k[0] === "'" ? k.slice(1, -1).replace(/''/g, "'") : k;
  return { key, value: m[2] ?? '' };
}

export function parseMini(text) {
  const lines = [];
  let docs = 0;
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*(#.*)?$/.test(raw)) continue;
    if (/^---\s*$/.test(raw)) {
      if (lines.length || docs++) throw new Unsupported('documents');
      continue;
    }
    const lead = /^[ ]*/.exec(raw)[0];
    if (raw[lead.length] === '\t') throw new Unsupported('tab');
    let body = raw.slice(lead.length);
    if (!/["']/.test(body)) body = body.replace(/\s+#.*$/, '');
    lines.push({ indent: lead.length, text: body.trimEnd() });
  }
  let i = 0;
  const isItem = (l) => l.text === '-' || l.text.startsWith('- ');
  function block(indent) {
    return isItem(lines[i]) ? seq(indent) : map(indent);
  }
  function seq(indent) {
    const out = [];
    while (i < lines.length && lines[i].indent === indent && isItem(lines[i])) {
      const rest = lines[i].text.slice(1).trimStart();
      const at = indent + (lines[i].text.length - rest.length);
      if (rest === '') {
        i++;
        out.push(i < lines.length && lines[i].indent > indent ? block(lines[i].indent) : null);
      } else if (isItem({ text: rest })) {
        lines[i] = { indent: at, text: rest };
        out.push(seq(at));
      } else if (entry(rest) && !/^["'[{]/.test(rest.trim()) || /^("[^"]*"|'[^']*')\s*:(\s|$)/.test(rest)) {
        lines[i] = { indent: at, text: rest };
        out.push(map(at));
      } else {
        out.push(scalar(rest));
        i++;
      }
    }
    return out;
  }
  function map(indent) {
    const out = {};
    while (i < lines.length && lines[i].indent === indent && !isItem(lines[i])) {
      const e = entry(lines[i].text);
      if (!e) throw new Unsupported(lines[i].text);
      i++;
      if (e.value === '') {
        const next = lines[i];
        if (next && (next.indent > indent || (next.indent === indent && isItem(next)))) out[e.key] = block(next.indent);
        else out[e.key] = null;
      } else out[e.key] = scalar(e.value);
    }
    return out;
  }
  if (!lines.length) return null;
  const result = block(lines[0].indent);
  if (i !== lines.length) throw new Unsupported(`unparsed line: ${lines[i].text}`);
  return result;
}

/** Parses a kubeconfig/talosconfig: the small parser when it can, the `yaml` package otherwise. */
export async function parseConfigYaml(text) {
  try {
    return parseMini(text);
  } catch {
    const { parse } = await yaml();
    return parse(text);
  }
}
