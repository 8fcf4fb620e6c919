import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { REPO_ROOT } from '../core/paths.ts';
import { NODE_MODULES, typeOf, unknownFields, type FieldType } from './fields.ts';
import { splitApiVersion } from './model.ts';

// Schema validation of one Kubernetes object. Two sources, one result shape:
//   - maintained npm packages (kubernetes-models for Kubernetes itself, @kubernetes-models/{flux-cd,cert-manager,
//     external-secrets,sealed-secrets,gateway-api}): their validators check types, enums, patterns and required fields; their type
//     declarations give the field lists for unknown-field errors (fields.ts);
//   - vendored JSON schemas under schemas/<group>/<kind>_<version>.json for the other custom resources (README there).
// A kind with neither is an error: nothing reaches the cluster unchecked.

/** npm package holding the models of an API group. */
function packageFor(group: string): string | undefined {
  // Before the *.k8s.io rule: Gateway API is a CRD group, not part of Kubernetes itself.
  if (group === 'gateway.networking.k8s.io') return '@kubernetes-models/gateway-api';
  if (group === '' || /^[a-z0-9]+$/.test(group) || group.endsWith('.k8s.io')) return 'kubernetes-models';
  if (group.endsWith('.toolkit.fluxcd.io')) return '@kubernetes-models/flux-cd';
  if (group === 'cert-manager.io' || group === 'acme.cert-manager.io') return '@kubernetes-models/cert-manager';
  if (group === 'external-secrets.io' || group === 'generators.external-secrets.io') return '@kubernetes-models/external-secrets';
  if (group === 'bitnami.com') return '@kubernetes-models/sealed-secrets';
  return undefined;
}

interface ModelSchema {
  source: string;
  fields: () => FieldType;
  validate: (obj: Record<string, unknown>) => Promise<string[]>;
}

const modelCache = new Map<string, ModelSchema | null>();
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
const jsonCache = new Map<string, ValidateFunction | null>();

function modelSchema(apiVersion: string, kind: string): ModelSchema | null {
  const key = `${apiVersion}/${kind}`;
  if (modelCache.has(key)) return modelCache.get(key)!;
  const { group, version } = splitApiVersion(apiVersion);
  const pkg = packageFor(group);
  let result: ModelSchema | null = null;
  if (pkg) {
    const sub = group === '' ? version : `${group}/${version}`;
    const dts = join(NODE_MODULES, pkg, sub, `${kind}.d.ts`);
    if (existsSync(dts)) {
      let fields: FieldType | undefined;
      result = {
        source: `${pkg} (${sub}/${kind})`,
        fields: () => (fields ??= typeOf(dts, `I${kind}`)),
        validate: async (obj) => {
          // One kind's module, not the version's index: importing all of core/v1 costs over a second.
          const mod = (await import(`${pkg}/${sub}/${kind}`)) as Record<string, new (d: unknown) => { validate(): void }>;
          const Model = mod[kind];
          if (!Model) return [`${pkg} has no model for ${kind}`];
          try {
            new Model(obj).validate();
            return [];
          } catch (err) {
            const e = err as { errors?: { instancePath?: string; message?: string; params?: Record<string, unknown> }[]; message: string };
            if (Array.isArray(e.errors) && e.errors.length) return e.errors.map((x) => ajvMessage(x));
            return [e.message];
          }
        },
      };
    }
  }
  modelCache.set(key, result);
  return result;
}

export function ajvMessage(e: { instancePath?: string; message?: string; params?: Record<string, unknown> }): string {
  const path = (e.instancePath ?? '').replace(/^\//, '').replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.') || '(object)';
  const extra = e.params?.additionalProperty ? `: ${String(e.params.additionalProperty)}` : e.params?.allowedValues ? ` (${(e.params.allowedValues as unknown[]).join(', ')})` : '';
  return `${path} ${e.message ?? 'is invalid'}${extra}`;
}

export function vendoredSchemaPath(root: string, apiVersion: string, kind: string): string {
  const { group, version } = splitApiVersion(apiVersion);
  return join(root, 'schemas', group, `${kind.toLowerCase()}_${version}.json`);
}

function jsonSchema(file: string): ValidateFunction | null {
  if (jsonCache.has(file)) return jsonCache.get(file)!;
  const fn = existsSync(file) ? ajv.compile(JSON.parse(readFileSync(file, 'utf8')) as object) : null;
  jsonCache.set(file, fn);
  return fn;
}

let objectMeta: FieldType | undefined;
function metadataFields(): FieldType {
  return (objectMeta ??= typeOf(join(NODE_MODULES, '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta.d.ts'), 'IObjectMeta'));
}

export interface SchemaResult {
  /** Where the schema came from, or undefined when there is none. */
  source?: string;
  problems: string[];
}

/** Validates one object (after Flux substitution) against its kind's schema. */
export async function validateObject(obj: Record<string, unknown>, root = REPO_ROOT): Promise<SchemaResult> {
  const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
  const kind = typeof obj.kind === 'string' ? obj.kind : '';
  if (!apiVersion || !kind) return { problems: ['has no apiVersion or kind'] };
  const model = modelSchema(apiVersion, kind);
  if (model) {
    const problems = await model.validate(obj);
    for (const f of unknownFields(obj, model.fields())) problems.push(`${f}: unknown field`);
    return { source: model.source, problems };
  }
  const file = vendoredSchemaPath(root, apiVersion, kind);
  const fn = jsonSchema(file);
  if (fn) {
    const problems = fn(obj) ? [] : (fn.errors ?? []).map((e) => ajvMessage(e));
    for (const f of unknownFields(obj.metadata, metadataFields(), 'metadata')) problems.push(`${f}: unknown field`);
    return { source: file.slice(root.length + 1), problems };
  }
  return {
    problems: [
      `no schema for ${apiVersion} ${kind}: not in the kubernetes-models packages and no ${vendoredSchemaPath('', apiVersion, kind).slice(1)} (see schemas/README.md)`,
    ],
  };
}
