import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import type { ClusterTree } from './flux.ts';
import { apiGroup, describe, namespaceOf, type Finding, type K8sObject } from './model.ts';

// Monitoring objects, checked offline:
//   - every alerting/recording rule of a VMRule (or PrometheusRule) parses as PromQL, with Prometheus' own grammar
//     (@prometheus-io/lezer-promql, the parser of the Prometheus UI). vmalert evaluates MetricsQL, a superset of
//     PromQL: the rules here stay in the PromQL subset so a typo is caught before vmalert rejects the whole group;
//   - every alert keeps the cluster label of the series it reads (no aggregation or match drops it): Alertmanager
//     groups by it and the receivers name it, for this cluster and for those that ship here;
//   - every alert names its runbook (annotation `runbook: README.md#<anchor>`) and the anchor exists in the README's
//     "When things break" section (an `id="<anchor>"` or a heading there);
//   - every VMServiceScrape (or ServiceMonitor) selects a Service the tree defines, or one a HelmRelease of the tree
//     renders (the selector names the release: app.kubernetes.io/instance = the release name), in the namespaces it
//     looks in; for a Service of the tree, each endpoint's named port exists on it;
//   - every dashboard of ours (ConfigMaps labelled home-ops/grafana-dashboard) is JSON, each panel's query parses as
//     PromQL once Grafana's interval variables stand in, and names a data source Grafana provisions; every ConfigMap
//     the Grafana release mounts (dashboardsConfigMaps) exists and has a provider.

export const RUNBOOK_ANNOTATION = 'runbook';
export const RUNBOOK_SECTION = 'When things break';
const INSTANCE_LABEL = 'app.kubernetes.io/instance';

const RULE_KINDS = new Map([
  ['VMRule', 'operator.victoriametrics.com'],
  ['PrometheusRule', 'monitoring.coreos.com'],
]);
const SCRAPE_KINDS = new Map([
  ['VMServiceScrape', 'operator.victoriametrics.com'],
  ['ServiceMonitor', 'monitoring.coreos.com'],
]);

const isKind = (o: K8sObject, kinds: Map<string, string>) => kinds.get(String(o.kind)) === apiGroup(String(o.apiVersion ?? ''));

/** Syntax errors of one PromQL expression: empty when it parses, else the first error's column and the text there. */
export function promqlErrors(expr: string): string[] {
  const tree = promqlParser.parse(expr);
  const errors: string[] = [];
  tree.iterate({
    enter: (n) => {
      if (!n.type.isError) return;
      const near = expr.slice(n.from, n.from + 20).split('\n')[0] ?? '';
      errors.push(`syntax error at column ${n.from + 1}${near ? ` near "${near}"` : ' (unexpected end)'}`);
    },
  });
  return errors.slice(0, 1);
}

/** The label every alert carries: the cluster whose series fired it (vmagent's externalLabels). */
export const CLUSTER_LABEL = 'cluster';

type SyntaxNode = NonNullable<ReturnType<typeof promqlParser.parse>['topNode']['firstChild']>;

const children = (n: SyntaxNode): SyntaxNode[] => {
  const out: SyntaxNode[] = [];
  for (let c = n.firstChild; c; c = c.nextSibling) out.push(c);
  return out;
};
const EXPR_NODES = new Set(['AggregateExpr', 'BinaryExpr', 'FunctionCall', 'MatrixSelector', 'NumberDurationLiteral', 'OffsetExpr', 'ParenExpr', 'StepInvariantExpr', 'StringLiteral', 'SubqueryExpr', 'UnaryExpr', 'VectorSelector']);
const exprChildren = (n: SyntaxNode) => children(n).filter((c) => EXPR_NODES.has(c.name));
const groupingLabels = (n: SyntaxNode | undefined, expr: string): string[] => {
  const list = n ? children(n).find((c) => c.name === 'GroupingLabels') : undefined;
  return list ? children(list).map((l) => expr.slice(l.from, l.to)) : [];
};
// Aggregations that return input series as they are; functions whose result has none of the input's labels.
const SELECTING_AGGREGATIONS = new Set(['topk', 'bottomk', 'limitk', 'limit_ratio']);
const LABEL_FREE_FUNCTIONS = new Set(['absent', 'absent_over_time', 'vector', 'scalar', 'time']);

/**
 * Whether the result of a (sub)expression keeps `label` of the series it reads: 'scalar' for a number, else true or
 * false. Follows Prometheus' result labels: an aggregation keeps only its `by` labels (all but its `without` ones),
 * a one-to-one `on(...)` match only those, `ignoring(...)` all but those, group_left/group_right the many side's.
 */
function keepsLabel(n: SyntaxNode, expr: string, label: string): boolean | 'scalar' {
  const kids = exprChildren(n);
  switch (n.name) {
    case 'VectorSelector':
    case 'MatrixSelector':
      return true;
    case 'NumberDurationLiteral':
    case 'StringLiteral':
      return 'scalar';
    case 'AggregateExpr': {
      const op = expr.slice(children(n)[0]!.from, children(n)[0]!.to).toLowerCase();
      const body = children(n).find((c) => c.name === 'FunctionCallBody');
      const args = body ? exprChildren(body) : [];
      const inner = keepsLabel(args[args.length - 1]!, expr, label) === true;
      if (SELECTING_AGGREGATIONS.has(op)) return inner;
      const mod = children(n).find((c) => c.name === 'AggregateModifier');
      const names = groupingLabels(mod, expr);
      if (mod?.firstChild?.name === 'By') return inner && names.includes(label);
      if (mod?.firstChild?.name === 'Without') return inner && !names.includes(label);
      return false;
    }
    case 'FunctionCall': {
      const fn = expr.slice(n.from, children(n)[0]!.to).toLowerCase();
      if (LABEL_FREE_FUNCTIONS.has(fn)) return fn === 'scalar' || fn === 'time' ? 'scalar' : false;
      const body = children(n).find((c) => c.name === 'FunctionCallBody');
      const vectors = (body ? exprChildren(body) : []).map((a) => keepsLabel(a, expr, label)).filter((k) => k !== 'scalar');
      return vectors.length === 0 ? 'scalar' : vectors.every((k) => k === true);
    }
    case 'BinaryExpr': {
      const [lhs, rhs] = [keepsLabel(kids[0]!, expr, label), keepsLabel(kids[1]!, expr, label)];
      if (lhs === 'scalar') return rhs;
      if (rhs === 'scalar') return lhs;
      const op = children(n).find((c) => !EXPR_NODES.has(c.name))!.name;
      if (op === 'Or') return lhs && rhs;
      const matching = children(n).find((c) => c.name === 'MatchingModifierClause');
      if (!matching) return lhs;
      const parts = children(matching).map((c) => c.name);
      if (parts.includes('GroupLeft')) return lhs;
      if (parts.includes('GroupRight')) return rhs;
      if (op === 'And' || op === 'Unless') return lhs;
      const names = groupingLabels(matching, expr);
      return lhs && (parts[0] === 'On' ? names.includes(label) : !names.includes(label));
    }
    default:
      // ParenExpr, UnaryExpr, OffsetExpr, StepInvariantExpr, SubqueryExpr: the labels of what they wrap.
      return kids[0] ? keepsLabel(kids[0], expr, label) : 'scalar';
  }
}

/** Whether an alert expression's result still carries `label` (false when an aggregation or a match drops it). */
export function exprKeepsLabel(expr: string, label = CLUSTER_LABEL): boolean {
  const top = promqlParser.parse(expr).topNode;
  const root = top.firstChild;
  return root ? keepsLabel(root, expr, label) !== false : true;
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to '-'. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of the README section "When things break": explicit ids and the slugs of the headings inside it. */
export function runbookAnchors(readme: string): Set<string> {
  const lines = readme.split('\n');
  const start = lines.findIndex((l) => /^##\s/.test(l) && l.replace(/^##\s+/, '').trim() === RUNBOOK_SECTION);
  const anchors = new Set<string>();
  if (start < 0) return anchors;
  for (let i = start + 1; i < lines.length && !/^##\s/.test(lines[i]!); i++) {
    const line = lines[i]!;
    for (const m of line.matchAll(/\bid="([^"]+)"/g)) anchors.add(m[1]!);
    const h = /^#{3,6}\s+(.*)$/.exec(line);
    if (h) anchors.add(slug(h[1]!));
  }
  return anchors;
}

interface RuleSpec {
  alert?: string;
  record?: string;
  expr?: unknown;
  annotations?: Record<string, string>;
}

export function checkAlertRules(tree: ClusterTree, root: string, findings: Finding[]): void {
  const ruleObjects = tree.objects.filter((a) => isKind(a.obj, RULE_KINDS));
  if (ruleObjects.length === 0) return;
  const readmeFile = join(root, 'README.md');
  const anchors = existsSync(readmeFile) ? runbookAnchors(readFileSync(readmeFile, 'utf8')) : new Set<string>();
  for (const a of ruleObjects) {
    const at = { check: 'alerts' as const, ...(a.file ? { file: a.file } : {}), object: describe(a.obj) };
    const groups = ((a.obj.spec as { groups?: { name?: string; rules?: RuleSpec[] }[] } | undefined)?.groups ?? []);
    for (const g of groups) {
      for (const r of g.rules ?? []) {
        const name = `${g.name ?? '(unnamed group)'}/${r.alert ?? r.record ?? '(unnamed rule)'}`;
        const expr = typeof r.expr === 'number' ? String(r.expr) : r.expr;
        if (typeof expr !== 'string' || expr.trim() === '') {
          findings.push({ ...at, message: `rule ${name} has no expr` });
          continue;
        }
        for (const e of promqlErrors(expr)) findings.push({ ...at, message: `rule ${name}: expr does not parse as PromQL: ${e}` });
        if (!r.alert) continue;
        if (promqlErrors(expr).length === 0 && !exprKeepsLabel(expr)) {
          findings.push({ ...at, message: `alert ${name}: its expression drops the ${CLUSTER_LABEL} label (an aggregation or match without it), so Alertmanager cannot group it by cluster nor the receiver name one: keep it, e.g. sum by (${CLUSTER_LABEL}, …)` });
        }
        const runbook = r.annotations?.[RUNBOOK_ANNOTATION];
        if (!runbook) {
          findings.push({ ...at, message: `alert ${name} names no runbook: add annotation ${RUNBOOK_ANNOTATION}: README.md#<anchor> pointing into "${RUNBOOK_SECTION}"` });
          continue;
        }
        const m = /^README\.md#(.+)$/.exec(runbook);
        if (!m) {
          findings.push({ ...at, message: `alert ${name}: runbook "${runbook}" is not README.md#<anchor>` });
        } else if (!anchors.has(m[1]!)) {
          findings.push({ ...at, message: `alert ${name}: runbook anchor "${m[1]}" is not in README.md's "${RUNBOOK_SECTION}" section: add an entry with id="${m[1]}" there` });
        }
      }
    }
  }
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export function selects(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const vals = e.values ?? [];
    if (e.operator === 'In' && !(has && vals.includes(labels[e.key]!))) return false;
    if (e.operator === 'NotIn' && has && vals.includes(labels[e.key]!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** Flux's Helm release name: spec.releaseName, else `<targetNamespace>-<name>` with a targetNamespace, else the name. */
function releaseOf(o: K8sObject): { name: string; namespace: string } {
  const spec = (o.spec ?? {}) as { releaseName?: string; targetNamespace?: string };
  const name = o.metadata?.name ?? '';
  const namespace = spec.targetNamespace ?? namespaceOf(o);
  return { name: spec.releaseName ?? (spec.targetNamespace ? `${spec.targetNamespace}-${name}` : name), namespace };
}

export function checkScrapeTargets(tree: ClusterTree, findings: Finding[]): void {
  const services = tree.objects.filter((a) => a.obj.kind === 'Service' && a.obj.apiVersion === 'v1');
  const releases = tree.objects.filter((a) => a.obj.kind === 'HelmRelease' && apiGroup(String(a.obj.apiVersion ?? '')) === 'helm.toolkit.fluxcd.io').map((a) => releaseOf(a.obj));
  for (const a of tree.objects.filter((x) => isKind(x.obj, SCRAPE_KINDS))) {
    const spec = (a.obj.spec ?? {}) as { selector?: LabelSelector; namespaceSelector?: { any?: boolean; matchNames?: string[] }; endpoints?: { port?: string }[] };
    const own = namespaceOf(a.obj);
    const nsSel = spec.namespaceSelector ?? {};
    const inScope = (ns: string) => nsSel.any === true || (nsSel.matchNames?.length ? nsSel.matchNames.includes(ns) : ns === own);
    const where = nsSel.any ? 'any namespace' : `namespace ${(nsSel.matchNames?.length ? nsSel.matchNames : [own]).join(', ')}`;
    const sel = spec.selector ?? {};
    const at = { check: 'scrapes' as const, ...(a.file ? { file: a.file } : {}), object: describe(a.obj) };
    const matched = services.filter((s) => inScope(namespaceOf(s.obj)) && selects(sel, s.obj.metadata?.labels ?? {}));
    if (matched.length) {
      for (const ep of spec.endpoints ?? []) {
        if (!ep.port) continue;
        const named = matched.some((s) => (((s.obj.spec as { ports?: { name?: string }[] } | undefined)?.ports) ?? []).some((p) => p.name === ep.port));
        if (!named) findings.push({ ...at, message: `endpoint port "${ep.port}" is not a port name of the Service(s) it selects (${matched.map((s) => describe(s.obj)).join(', ')})` });
      }
      continue;
    }
    const instance = sel.matchLabels?.[INSTANCE_LABEL];
    if (instance && releases.some((r) => r.name === instance && inScope(r.namespace))) continue;
    const labels = Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || '(no labels)';
    findings.push({
      ...at,
      message: `selects no Service of the tree in ${where} (selector ${labels}) and no HelmRelease there renders one (${INSTANCE_LABEL} naming a release): it would scrape nothing`,
    });
  }
}

/** Our dashboards as code: ConfigMaps with this label, one JSON dashboard per *.json key. */
export const DASHBOARD_LABEL = 'home-ops/grafana-dashboard';

interface DashboardPanel {
  title?: string;
  datasource?: { uid?: string } | string;
  targets?: { expr?: string; datasource?: { uid?: string } | string }[];
  panels?: DashboardPanel[];
}

/** Grafana's interval variables, where a range or duration goes: a duration stands in so the query parses. */
export function withGrafanaVariables(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, '5m');
}

/** The PromQL problems of one dashboard's JSON text, each naming the panel; `uids`: the data sources Grafana has. */
export function dashboardProblems(json: string, uids: Set<string> | undefined): string[] {
  let dash: { panels?: DashboardPanel[]; templating?: { list?: { name?: string; datasource?: { uid?: string } }[] } };
  try {
    dash = JSON.parse(json) as typeof dash;
  } catch (err) {
    return [`not JSON: ${(err as Error).message}`];
  }
  const out: string[] = [];
  const uidOf = (d: DashboardPanel['datasource']) => (typeof d === 'string' ? d : d?.uid);
  const checkUid = (where: string, d: DashboardPanel['datasource']) => {
    const uid = uidOf(d);
    if (uid && uids && !uid.startsWith('$') && !uids.has(uid)) out.push(`${where}: data source uid "${uid}" is not one Grafana provisions (${[...uids].join(', ')})`);
  };
  const walk = (panels: DashboardPanel[]) => {
    for (const p of panels) {
      const where = `panel "${p.title ?? '(untitled)'}"`;
      checkUid(where, p.datasource);
      for (const t of p.targets ?? []) {
        checkUid(where, t.datasource);
        if (typeof t.expr !== 'string' || !t.expr.trim()) {
          out.push(`${where}: a query without expr`);
          continue;
        }
        for (const e of promqlErrors(withGrafanaVariables(t.expr))) out.push(`${where}: expr does not parse as PromQL: ${e}`);
      }
      walk(p.panels ?? []);
    }
  };
  walk(dash.panels ?? []);
  for (const v of dash.templating?.list ?? []) checkUid(`variable "${v.name ?? ''}"`, v.datasource);
  return out;
}

export function checkDashboards(tree: ClusterTree, findings: Finding[]): void {
  const grafana = tree.objects.find((a) => a.obj.kind === 'HelmRelease' && a.obj.metadata?.name === 'grafana');
  const values = (grafana?.obj.spec as { values?: Record<string, unknown> } | undefined)?.values ?? {};
  const provisioned = (values.datasources as Record<string, { datasources?: { uid?: string }[] }> | undefined)?.['datasources.yaml']?.datasources;
  const uids = provisioned ? new Set(provisioned.map((d) => String(d.uid))) : undefined;
  const configMaps = tree.objects.filter((a) => a.obj.kind === 'ConfigMap');
  for (const a of configMaps.filter((x) => x.obj.metadata?.labels?.[DASHBOARD_LABEL] === 'true')) {
    const at = { check: 'dashboards' as const, ...(a.file ? { file: a.file } : {}), object: describe(a.obj) };
    const data = (a.obj as { data?: Record<string, string> }).data ?? {};
    const keys = Object.keys(data).filter((k) => k.endsWith('.json'));
    if (!keys.length) findings.push({ ...at, message: 'a dashboard ConfigMap without a *.json key' });
    for (const k of keys) for (const problem of dashboardProblems(data[k]!, uids)) findings.push({ ...at, message: `${k}: ${problem}` });
  }
  if (!grafana) return;
  const at = { check: 'dashboards' as const, ...(grafana.file ? { file: grafana.file } : {}), object: describe(grafana.obj) };
  const providers = new Set(
    ((values.dashboardProviders as Record<string, { providers?: { name?: string }[] }> | undefined)?.['dashboardproviders.yaml']?.providers ?? []).map((p) => String(p.name)),
  );
  const ns = namespaceOf(grafana.obj);
  for (const [provider, name] of Object.entries((values.dashboardsConfigMaps as Record<string, string> | undefined) ?? {})) {
    if (!providers.has(provider)) findings.push({ ...at, message: `dashboardsConfigMaps.${provider}: no dashboard provider named "${provider}" in dashboardProviders, so Grafana would not load it` });
    if (!configMaps.some((c) => c.obj.metadata?.name === name && namespaceOf(c.obj) === ns)) {
      findings.push({ ...at, message: `dashboardsConfigMaps.${provider}: ConfigMap ${ns}/${name} is not in the tree (the pod would not start)` });
    }
  }
}
