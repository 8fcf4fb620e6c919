import { parseDocument } from 'yaml';

// Reading and re-pointing a kubeconfig's server (comments and order kept). Pure.

export function kubeconfigServer(yaml: string): string | undefined {
  const doc = parseDocument(yaml);
  const server = doc.getIn(['clusters', 0, 'cluster', 'server']);
  return typeof server === 'string' ? server : undefined;
}

export function withKubeconfigServer(yaml: string, server: string): string {
  const doc = parseDocument(yaml);
  const clusters = doc.get('clusters') as { items?: unknown[] } | undefined;
  const count = clusters?.items?.length ?? 0;
  if (count === 0) throw new Error('kubeconfig has no clusters entry');
  for (let i = 0; i < count; i++) doc.setIn(['clusters', i, 'cluster', 'server'], server);
  return doc.toString();
}
