import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { dashboardProblems, exprKeepsLabel, promqlErrors, runbookAnchors, withGrafanaVariables } from '../../scripts/lib/validate/monitoring.ts';
import { BASE, only, show, validateWith } from './fixture.ts';

// Alert rules parse and name a runbook entry that exists; scrapes select a Service the tree has. Each test breaks one
// thing in a tree that otherwise passes, and expects exactly that to be reported.

const README = `# lab

## When things break

- <a id="runbook-app-down"></a>**AppDown**: look at the pods.

## Testing

- <a id="runbook-elsewhere"></a>not a runbook: outside the section.
`;

const rule = (o: { expr?: string; runbook?: string | null } = {}) => `apiVersion: operator.victoriametrics.com/v1beta1
kind: VMRule
metadata:
  name: app
  namespace: podinfo
spec:
  groups:
    - name: app
      rules:
        - alert: AppDown
          expr: ${JSON.stringify(o.expr ?? 'sum by (cluster, namespace) (up{job="podinfo"}) == 0')}
          for: 5m
${o.runbook === null ? '' : `          annotations:\n            runbook: ${o.runbook ?? 'README.md#runbook-app-down'}\n`}`;

const SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: podinfo-metrics
  namespace: podinfo
  labels:
    app: podinfo
spec:
  selector:
    app: podinfo
  ports:
    - name: http-metrics
      port: 9797
`;

const scrape = (o: { labels?: string; port?: string; namespaces?: string } = {}) => `apiVersion: operator.victoriametrics.com/v1beta1
kind: VMServiceScrape
metadata:
  name: podinfo
  namespace: podinfo
spec:
${o.namespaces ? `  namespaceSelector:\n    matchNames: [${o.namespaces}]\n` : ''}  selector:
    matchLabels:
      ${o.labels ?? 'app: podinfo'}
  endpoints:
    - port: ${o.port ?? 'http-metrics'}
`;

const KZ = 'kubernetes/apps/app/kustomization.yaml';
const SCHEMAS = ['vmrule_v1beta1.json', 'vmservicescrape_v1beta1.json'].map((f) => `schemas/operator.victoriametrics.com/${f}`);

function tree(o: { rule?: string; scrape?: string; readme?: string | null } = {}): Record<string, string | null> {
  return {
    'kubernetes/apps/app/rule.yaml': o.rule ?? rule(),
    'kubernetes/apps/app/service.yaml': SERVICE,
    'kubernetes/apps/app/scrape.yaml': o.scrape ?? scrape(),
    'README.md': o.readme === undefined ? README : o.readme,
    ...Object.fromEntries(SCHEMAS.map((s) => [s, readFileSync(join(REPO_ROOT, s), 'utf8')])),
    [KZ]: BASE[KZ]!.replace('  - helmrelease.yaml', ['  - helmrelease.yaml', '  - rule.yaml', '  - service.yaml', '  - scrape.yaml'].join('\n')),
  };
}

const monitoringFindings = (f: Parameters<typeof only>[0]) => [...only(f, 'alerts'), ...only(f, 'scrapes')];

test('a rule that parses and names an existing runbook entry, and a scrape of a Service in the tree, pass (and their schemas)', async () => {
  const r = await validateWith(tree());
  assert.equal([...monitoringFindings(r.findings), ...only(r.findings, 'schema')], [], show(r.findings));
});

test('an expression that does not parse is reported with the rule and the column', async () => {
  const r = await validateWith(tree({ rule: rule({ expr: 'sum by (namespace) (up{job="podinfo"} == 0' }) }));
  const f = monitoringFindings(r.findings);
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.file, 'kubernetes/apps/app/rule.yaml');
  assert.is(f[0]!.object, 'VMRule podinfo/app');
  assert.match(f[0]!.message, /^rule app\/AppDown: expr does not parse as PromQL: syntax error at column \d+/);
});

test('an alert without a runbook, or with an anchor the section lacks, is reported', async () => {
  const none = await validateWith(tree({ rule: rule({ runbook: null }) }));
  assert.equal(monitoringFindings(none.findings).map((x) => x.message), ['alert app/AppDown names no runbook: add annotation runbook: README.md#<anchor> pointing into "When things break"'], show(none.findings));
  // An anchor outside "When things break" does not count.
  const elsewhere = await validateWith(tree({ rule: rule({ runbook: 'README.md#runbook-elsewhere' }) }));
  const f = monitoringFindings(elsewhere.findings);
  assert.is(f.length, 1, show(elsewhere.findings));
  assert.match(f[0]!.message, 'runbook anchor "runbook-elsewhere" is not in README.md\'s "When things break" section');
  // No README at all: every runbook is missing.
  const noReadme = await validateWith(tree({ readme: null }));
  assert.is(monitoringFindings(noReadme.findings).length, 1, show(noReadme.findings));
});

test('an alert whose expression drops the cluster label is reported, naming the rule and the fix', async () => {
  const r = await validateWith(tree({ rule: rule({ expr: 'sum by (namespace) (up{job="podinfo"}) == 0' }) }));
  assert.equal(monitoringFindings(r.findings).map((x) => x.message), ['alert app/AppDown: its expression drops the cluster label (an aggregation or match without it), so Alertmanager cannot group it by cluster nor the receiver name one: keep it, e.g. sum by (cluster, …)'], show(r.findings));
});

test('the cluster label through an expression: aggregations keep their by labels, one-to-one matches their on labels', () => {
  const keeps = ['up == 0', 'sum by (cluster, job) (up) == 0', 'sum without (pod) (x)', 'topk(3, x)', 'time() - x > 3', 'a / on(node, cluster) b', 'a / on(node) group_left b',
    '(x < 0.1) or predict_linear(y[6h], 86400) < 0', '(time() - a > 26 * 3600) and a > 0', 'histogram_quantile(0.9, sum by (le, cluster) (rate(x[5m])))', '-(x offset 5m) > 1', 'max_over_time(x[1h:5m]) > 1'];
  const drops = ['sum(up) == 0', 'sum by (job) (up) == 0', 'sum without (cluster) (x)', 'count(up == 0) > 1', 'absent(up{job="a"})', 'a / on(node) b', 'a / ignoring(cluster) b',
    'x or vector(0)', 'histogram_quantile(0.9, sum by (le) (rate(x[5m])))'];
  for (const e of keeps) assert.ok(exprKeepsLabel(e), `keeps: ${e}`);
  for (const e of drops) assert.not.ok(exprKeepsLabel(e), `drops: ${e}`);
});

test('a scrape that selects no Service of the tree is reported with its selector and namespaces', async () => {
  const r = await validateWith(tree({ scrape: scrape({ labels: 'app: podinfo-typo' }) }));
  const f = monitoringFindings(r.findings);
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.object, 'VMServiceScrape podinfo/podinfo');
  assert.match(f[0]!.message, 'selects no Service of the tree in namespace podinfo (selector app=podinfo-typo)');
  // The right labels in the wrong namespace select nothing either.
  const wrongNs = await validateWith(tree({ scrape: scrape({ namespaces: 'monitoring' }) }));
  assert.match(monitoringFindings(wrongNs.findings)[0]?.message ?? '', 'in namespace monitoring', show(wrongNs.findings));
});

test("a scrape's endpoint port must be a port name of the Service it selects", async () => {
  const r = await validateWith(tree({ scrape: scrape({ port: 'metrics' }) }));
  const f = monitoringFindings(r.findings);
  assert.is(f.length, 1, show(r.findings));
  assert.match(f[0]!.message, 'endpoint port "metrics" is not a port name of the Service(s) it selects (Service podinfo/podinfo-metrics)');
});

test("a scrape naming a HelmRelease of the tree (app.kubernetes.io/instance) counts as that release's Service", async () => {
  const ok = await validateWith(tree({ scrape: scrape({ labels: 'app.kubernetes.io/instance: podinfo' }) }));
  assert.equal(monitoringFindings(ok.findings), [], show(ok.findings));
  const missing = await validateWith(tree({ scrape: scrape({ labels: 'app.kubernetes.io/instance: grafana' }) }));
  assert.is(monitoringFindings(missing.findings).length, 1, show(missing.findings));
});

test('the VictoriaMetrics kinds are checked against their vendored CRD schemas (an unknown field is an error)', async () => {
  const r = await validateWith(tree({ scrape: scrape().replace('  endpoints:', '  endpoint:') }));
  const f = only(r.findings, 'schema');
  assert.ok(f.some((x) => x.object === 'VMServiceScrape podinfo/podinfo' && /additional properties: endpoint$/.test(x.message)), show(r.findings));
});

test('PromQL through Prometheus\' grammar: valid expressions pass, broken ones name the column', () => {
  for (const e of ['up == 0', 'certmanager_certificate_expiration_timestamp_seconds - time() < 14 * 24 * 3600', 'predict_linear(x[6h], 24 * 3600) < 0', 'a or b and on (x) c']) {
    assert.equal(promqlErrors(e), [], e);
  }
  assert.equal(promqlErrors('up =='), ['syntax error at column 6 (unexpected end)']);
  assert.match(promqlErrors('rate(x[5m]')[0] ?? '', /^syntax error at column/);
});

test('runbook anchors: ids and headings inside "When things break" only', () => {
  const a = runbookAnchors(`## When things break\n\n### Disk full\n- <a id="x-y"></a> text\n\n## Other\n<a id="z"></a>\n`);
  assert.equal([...a].sort(), ['disk-full', 'x-y']);
  assert.equal([...runbookAnchors('# nothing here\n')], []);
});

test('the repository: every rule parses and every alert has its runbook line; every scrape finds its Service', () => {
  // The real tree's rules, read directly: the full validate run covers the rest (test/validate/repo.test.ts).
  const text = readFileSync(join(REPO_ROOT, 'kubernetes/monitoring/alerting/rules.yaml'), 'utf8');
  const exprs = [...text.matchAll(/expr: (.+)/g)].map((m) => m[1]!).filter((e) => e !== '|');
  assert.ok(exprs.length >= 9, `found ${exprs.length} single-line expressions`);
  for (const e of exprs) assert.equal(promqlErrors(e), [], e);
  const anchors = runbookAnchors(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));
  for (const m of text.matchAll(/runbook: README\.md#(.+)/g)) assert.ok(anchors.has(m[1]!), `README lacks ${m[1]}`);
  // Every alert keeps the cluster of its series: Alertmanager groups by it (kubernetes/monitoring/alerting/alertmanager.yaml).
  const rules = (parse(text) as { spec: { groups: { rules: { alert?: string; expr: string }[] }[] } }).spec.groups.flatMap((g) => g.rules);
  for (const r of rules) assert.ok(exprKeepsLabel(r.expr), `${r.alert}: ${r.expr}`);
  const am = readFileSync(join(REPO_ROOT, 'kubernetes/monitoring/alerting/alertmanager.yaml'), 'utf8');
  assert.ok((parse(am) as { spec: { configRawYaml: string } }).spec.configRawYaml.match(/group_by: \[(.*)\]/)?.[1]!.split(', ').includes('cluster'), 'Alertmanager groups by cluster');
  // Flux's own alerts bypass vmagent: the Alert adds the label (event metadata become alert labels).
  const flux = parse(readFileSync(join(REPO_ROOT, 'kubernetes/monitoring/alerting/flux-alerts.yaml'), 'utf8').split(/^---$/m)[1]!) as { kind: string; spec: { eventMetadata?: Record<string, string> } };
  assert.equal([flux.kind, flux.spec.eventMetadata], ['Alert', { cluster: '${CLUSTER_NAME}' }]);
});

// Dashboards as code: a ConfigMap labelled home-ops/grafana-dashboard, mounted by the Grafana release.
const dashboard = (expr: string, uid = 'vm') =>
  JSON.stringify({ title: 'd', panels: [{ type: 'row', title: 'r', panels: [{ title: 'Up', datasource: { uid }, targets: [{ expr }] }] }] });
const GRAFANA = (o: { configMap?: string; provider?: string } = {}) => `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: grafana
  namespace: podinfo
spec:
  interval: 30m
  chart:
    spec:
      chart: grafana
      version: 11.6.1
      sourceRef:
        kind: HelmRepository
        name: podinfo
  values:
    datasources:
      datasources.yaml:
        datasources:
          - { name: VictoriaMetrics, uid: vm, type: prometheus }
    dashboardProviders:
      dashboardproviders.yaml:
        providers:
          - { name: ${o.provider ?? 'platform'}, type: file, options: { path: /var/lib/grafana/dashboards/platform } }
    dashboardsConfigMaps:
      platform: ${o.configMap ?? 'dashboards'}
`;
const DASHBOARD_CM = (json: string) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: dashboards
  namespace: podinfo
  labels:
    home-ops/grafana-dashboard: "true"
data:
  platform.json: ${JSON.stringify(json)}
`;
function dashboardTree(o: { json?: string; configMap?: string; provider?: string } = {}): Record<string, string | null> {
  return {
    ...tree(),
    'kubernetes/apps/app/grafana.yaml': GRAFANA(o),
    'kubernetes/apps/app/dashboards.yaml': DASHBOARD_CM(o.json ?? dashboard('sum by (cluster) (rate(up{cluster=~"$cluster"}[$__rate_interval]))')),
    [KZ]: BASE[KZ]!.replace('  - helmrelease.yaml', ['  - helmrelease.yaml', '  - rule.yaml', '  - service.yaml', '  - scrape.yaml', '  - grafana.yaml', '  - dashboards.yaml'].join('\n')),
  };
}

test('dashboards: every query parses with Grafana\'s variables, names a provisioned data source, and the mounted ConfigMap exists', async () => {
  const ok = await validateWith(dashboardTree());
  assert.equal(only(ok.findings, 'dashboards'), [], show(ok.findings));
  const broken = await validateWith(dashboardTree({ json: dashboard('sum by (cluster) (up', 'prom') }));
  assert.equal(only(broken.findings, 'dashboards').map((f) => [f.file, f.message.replace(/column \d+.*/, 'column N')]), [
    ['kubernetes/apps/app/dashboards.yaml', 'platform.json: panel "Up": data source uid "prom" is not one Grafana provisions (vm)'],
    ['kubernetes/apps/app/dashboards.yaml', 'platform.json: panel "Up": expr does not parse as PromQL: syntax error at column N'],
  ], show(broken.findings));
  const notJson = await validateWith(dashboardTree({ json: '{"panels": [' }));
  assert.match(only(notJson.findings, 'dashboards')[0]?.message ?? '', /^platform\.json: not JSON: /);
  const missing = await validateWith(dashboardTree({ configMap: 'other', provider: 'home-ops' }));
  assert.equal(only(missing.findings, 'dashboards').map((f) => f.message), [
    'dashboardsConfigMaps.platform: no dashboard provider named "platform" in dashboardProviders, so Grafana would not load it',
    'dashboardsConfigMaps.platform: ConfigMap podinfo/other is not in the tree (the pod would not start)',
  ]);
});

test('the repository\'s dashboards: every query parses and names VictoriaMetrics', () => {
  const json = readFileSync(join(REPO_ROOT, 'kubernetes/monitoring/grafana/dashboards/platform.json'), 'utf8');
  assert.equal(dashboardProblems(json, new Set(['victoriametrics'])), []);
  assert.ok((JSON.parse(json) as { panels: unknown[] }).panels.length >= 10);
  assert.not.match(json, '${', 'Flux would substitute ${…}; Grafana variables are written $name');
  assert.is(withGrafanaVariables('rate(x[$__rate_interval])'), 'rate(x[5m])');
});

test.run();
