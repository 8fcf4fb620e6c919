// Flux postBuild variable substitution (kustomize-controller's envsubst), emulated so validation sees what the cluster
// gets: `${VAR}`, `${VAR:=default}` / `${VAR:-default}`, `$${VAR}` for a literal `${VAR}`, and no substitution at all
// in objects annotated kustomize.toolkit.fluxcd.io/substitute: disabled.

export const SUBSTITUTE_ANNOTATION = 'kustomize.toolkit.fluxcd.io/substitute';

// $${…} (escaped) or ${NAME} / ${NAME:=default} / ${NAME:-default}
const VAR = /\$(\$)?\{([_a-zA-Z][_a-zA-Z0-9]*)(?::?([=-])([^}]*))?\}/g;

export interface VarUse {
  name: string;
  hasDefault: boolean;
}

/** The variables a text uses (escaped ones excluded). */
export function varsUsed(text: string): VarUse[] {
  const out: VarUse[] = [];
  for (const m of text.matchAll(VAR)) if (!m[1]) out.push({ name: m[2]!, hasDefault: m[3] !== undefined });
  return out;
}

/** Substitutes like Flux does; an undefined variable without default becomes '' (Flux's behaviour). */
export function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(VAR, (whole, escaped: string | undefined, name: string, op: string | undefined, def: string | undefined) => {
    if (escaped) return whole.slice(1);
    const v = vars[name];
    if (v !== undefined && (v !== '' || op !== '-')) return v;
    return op ? (def ?? '') : '';
  });
}

export function substitutionDisabled(obj: Record<string, unknown>): boolean {
  const ann = (obj.metadata as { annotations?: Record<string, string> } | undefined)?.annotations;
  return ann?.[SUBSTITUTE_ANNOTATION] === 'disabled';
}
