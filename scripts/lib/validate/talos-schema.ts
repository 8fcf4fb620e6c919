import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { closest } from 'fastest-levenshtein';

// Talos' own machine-config JSON schema (siderolabs/talos website/content/<minor>/schemas/config.schema.json),
// vendored per Talos minor under schemas/talos.dev/<minor>/. Every document of a rendered patch or merged node config
// is checked against the definition of its kind: the v1alpha1 document (no `kind`) against v1alpha1.Config, the
// others (VolumeConfig, …) against the definition whose apiVersion and kind enums name them. Closed objects
// (additionalProperties: false) make an unknown or misplaced field an error, with the fields allowed there.

type Json = Record<string, unknown>;

export function talosSchemaPath(root: string, talosVersion: string): string {
  const minor = /^v(\d+\.\d+)\./.exec(talosVersion)?.[1] ?? talosVersion;
  return join(root, 'schemas', 'talos.dev', `v${minor}`, 'config.schema.json');
}

/**
 * Where the published schema describes a Go struct that Talos reads from a scalar: v1alpha1.Endpoint wraps a parsed
 * URL (pkg/machinery/config/types/v1alpha1/v1alpha1_types.go: `Endpoint.UnmarshalYAML` reads a string such as `tcp://127.0.0.1:6050/`),
 * but the generator emits it as an empty object, which no real config matches.
 */
const SCHEMA_CORRECTIONS: Record<string, Json> = {
  'v1alpha1.Endpoint': { type: 'string', pattern: '^[a-z][a-z0-9+.-]*://', description: 'An endpoint URL, e.g. tcp://127.0.0.1:6050/ (read from a string by Talos)' },
};

export class TalosSchema {
  private readonly ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
  private readonly defs: Record<string, Json>;
  private readonly id: string;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(
    schema: Json,
    readonly minor: string,
  ) {
    this.id = String(schema.$id);
    this.defs = { ...((schema.$defs ?? {}) as Record<string, Json>), ...SCHEMA_CORRECTIONS };
    this.ajv.addSchema({ ...schema, $defs: this.defs });
  }

  static load(root: string, talosVersion: string): TalosSchema | undefined {
    const file = talosSchemaPath(root, talosVersion);
    if (!existsSync(file)) return undefined;
    return new TalosSchema(JSON.parse(readFileSync(file, 'utf8')) as Json, /^v\d+\.\d+/.exec(talosVersion)?.[0] ?? talosVersion);
  }

  /** The definition a document is checked against, or undefined for a kind this Talos minor does not know. */
  defFor(doc: Json): string | undefined {
    if (doc.kind === undefined) return 'v1alpha1.Config';
    for (const [name, def] of Object.entries(this.defs)) {
      const props = (def.properties ?? {}) as Record<string, { enum?: unknown[] }>;
      if (props.kind?.enum?.includes(doc.kind) && props.apiVersion?.enum?.includes(doc.apiVersion)) return name;
    }
    return undefined;
  }

  /** Problems of one document, each "path: what is wrong"; [] when it conforms. */
  check(doc: Json): string[] {
    const def = this.defFor(doc);
    if (!def) return [`${String(doc.apiVersion ?? '(no apiVersion)')} ${String(doc.kind)}: not a document kind of Talos ${this.minor}`];
    let fn = this.compiled.get(def);
    if (!fn) {
      fn = this.ajv.getSchema(`${this.id}#/$defs/${def}`)!;
      this.compiled.set(def, fn);
    }
    const ok = fn(doc) as boolean;
    if (ok) return [];
    const where = doc.kind === undefined ? '' : `${String(doc.kind)}${doc.name ? ` ${String(doc.name)}` : ''}: `;
    return (fn.errors ?? []).map((e) => {
      const segments = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
      if (e.keyword === 'additionalProperties') {
        const field = String(e.params.additionalProperty);
        const allowed = Object.keys((this.resolve(this.schemaAt(def, segments))?.properties ?? {}) as Json);
        const guess = allowed.length ? closest(field, allowed) : undefined;
        return `${where}${pathText([...segments, field])}: unknown field in Talos ${this.minor}${guess ? `; did you mean "${guess}"?` : ''} (allowed here: ${allowed.join(', ')})`;
      }
      const extra = e.params.allowedValues ? ` (${(e.params.allowedValues as unknown[]).join(', ')})` : '';
      return `${where}${pathText(segments)}: ${e.message ?? 'is invalid'}${extra}`;
    });
  }

  private resolve(node: Json | undefined): Json | undefined {
    let cur = node;
    for (let i = 0; cur && typeof cur.$ref === 'string' && i < 10; i++) cur = this.defs[cur.$ref.replace('#/$defs/', '')];
    return cur;
  }

  /** The schema node at an instance path below a definition (following properties, items and $ref). */
  private schemaAt(def: string, segments: string[]): Json | undefined {
    let cur: Json | undefined = this.defs[def];
    for (const s of segments) {
      cur = this.resolve(cur);
      if (!cur) return undefined;
      if (/^\d+$/.test(s) && cur.items) cur = cur.items as Json;
      else cur = ((cur.properties ?? {}) as Record<string, Json>)[s] ?? (cur.additionalProperties as Json | undefined);
    }
    return cur;
  }
}

/** ["machine", "network", "interfaces", "0", "vlan"] → "machine.network.interfaces[0].vlan" */
export function pathText(segments: string[]): string {
  let out = '';
  for (const s of segments) out += /^\d+$/.test(s) ? `[${s}]` : `${out ? '.' : ''}${s}`;
  return out || '(document)';
}
