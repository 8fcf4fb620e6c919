import type { ClusterFacts, Finding } from './diagnose.ts';
import type { ProbeRecord } from './probes.ts';

// The recovery report: a Markdown file a human reads at 2 a.m. (or attaches to an issue). Pure rendering.

function fence(text: string): string {
  const ticks = text.includes('```') ? '````' : '```';
  return `${ticks}\n${text || '(no output)'}\n${ticks}`;
}

export function renderFinding(f: Finding, heading: string): string[] {
  return [
    `${heading} ${f.title}`,
    '',
    `fault: \`${f.id}\``,
    '',
    'evidence:',
    ...f.evidence.map((e) => `- ${e}`),
    '',
    'next:',
    ...f.next.map((n) => `- \`${n}\``),
    '',
  ];
}

export function renderReport(facts: ClusterFacts, findings: Finding[], records: ProbeRecord[], at = new Date()): string {
  const [likely, ...others] = findings;
  const lines: string[] = [`# Emergency recovery report: cluster ${facts.cluster}`, '', `${at.toISOString()}`, ''];
  if (likely) lines.push(...renderFinding(likely, '## Likely fault:'));
  if (others.length) {
    lines.push('## Other findings', '');
    for (const f of others) lines.push(...renderFinding(f, '###'));
  }
  lines.push('## Nodes', '', '| node | ip | role | Talos | version | etcd | API |', '| --- | --- | --- | --- | --- | --- | --- |');
  for (const n of facts.nodes) {
    const etcd = n.role === 'controlplane' ? `${n.etcd?.state ?? '-'}${n.etcd?.health ? `/${n.etcd.health}` : ''}` : '';
    const api = n.role === 'controlplane' ? (n.api === undefined ? '-' : n.api ? 'ready' : 'down') : '';
    lines.push(`| ${n.name} | ${n.ip} | ${n.role} | ${n.talos} | ${n.version ?? '-'} | ${etcd} | ${api} |`);
  }
  lines.push('', `API through the VIP ${facts.vip}: ${facts.vipApi ? 'ready' : 'down'}${facts.apiVia && facts.apiVia !== 'vip' ? `; Kubernetes probes went to ${facts.apiVia}` : ''}`, '');
  if (facts.etcdMembers) {
    lines.push(`etcd members (from ${facts.etcdFrom}): ${facts.etcdMembers.map((m) => `${m.hostname} (${m.id}${m.learner ? ', learner' : ''})`).join(', ') || 'none'}`, '');
  }
  if (facts.k8sNodes) {
    lines.push(`Kubernetes nodes: ${facts.k8sNodes.map((n) => `${n.name} ${n.ready ? 'Ready' : 'NotReady'}`).join(', ') || 'none registered'}`, '');
  }
  if (facts.cilium) {
    const ds = facts.cilium.daemonSet;
    lines.push(`Cilium: daemonset ${ds ? `${ds.ready}/${ds.desired} ready` : 'absent'}; helm release ${facts.cilium.helmStatus ?? 'absent'}`, '');
  }
  if (facts.kustomizations) {
    lines.push('Flux Kustomizations:', '');
    for (const k of facts.kustomizations) {
      lines.push(`- ${k.id}: ${k.suspended ? 'suspended' : k.ready === 'True' ? 'Ready' : `Ready=${k.ready}`}${k.ready !== 'True' && (k.reason || k.message) ? ` (${[k.reason, k.message?.split('\n')[0]].filter(Boolean).join(': ')})` : ''}`);
    }
    lines.push('');
  }
  lines.push('## Probes', '');
  for (const r of records) {
    lines.push(`### ${r.title} (exit ${r.exitCode}, ${r.ms} ms)`, '', `\`${r.command}\``, '', fence(r.output), '');
  }
  return lines.join('\n');
}

/** What the terminal shows: the likely fault, its next commands, the others in one line each. */
export function renderSummary(findings: Finding[], reportFile: string): string {
  const [likely, ...others] = findings;
  if (!likely) return '';
  return [
    '',
    `likely fault: ${likely.title}   [${likely.id}]`,
    ...likely.evidence.slice(0, 8).map((e) => `  - ${e}`),
    'next:',
    ...likely.next.map((n) => `  ${n}`),
    ...(others.length ? ['also found:', ...others.map((f) => `  - ${f.title}   [${f.id}] → ${f.next[0] ?? ''}`)] : []),
    `report: ${reportFile}`,
    '',
  ].join('\n');
}
