import { parseDocument } from 'yaml';

// kubectl argv builders and output parsers: small pure functions, no I/O.
//
//   readyzArgv(server?)            kubectl [--server URL] get --raw /readyz --request-timeout=5s   (API answers?)
//   nodesArgv()                    kubectl get nodes -o json
//   getJsonArgv(kind, name, ns)    kubectl get KIND NAME -n NS -o json --ignore-not-found  (empty stdout ⇔ absent)
//   applyStdinArgv()               kubectl apply -f -         (manifest through stdin: secrets never reach argv)
//   parseNodes(stdout)             → [{ name, ready, reason }]
//   readinessSummary(nodes)        "3/5 nodes Ready (NotReady: a, b)"
//   parseObject(stdout)            JSON object or undefined when --ignore-not-found printed nothing
//   kubeconfigServer(yaml)         the server URL of the (first) cluster entry
//   withKubeconfigServer(yaml, url) the same kubeconfig pointing at another server (comments/order kept)
//   apiServerUrl(ip)               https://IP:6443

export function apiServerUrl(host: string): string {
  return `https://${host}:6443`;
}

export function readyzArgv(server?: string): string[] {
  return ['kubectl', ...(server ? ['--server', server] : []), 'get', '--raw', '/readyz', '--request-timeout=5s'];
}

export function nodesArgv(): string[] {
  return ['kubectl', 'get', 'nodes', '-o', 'json'];
}

export function getJsonArgv(kind: string, name: string, namespace: string): string[] {
  return ['kubectl', 'get', kind, name, '--namespace', namespace, '-o', 'json', '--ignore-not-found'];
}

export function applyStdinArgv(): string[] {
  return ['kubectl', 'apply', '-f', '-'];
}

export function clientVersionArgv(): string[] {
  return ['kubectl', 'version', '--client'];
}

export interface NodeReadiness {
  name: string;
  ready: boolean;
  /** Reason/message of the Ready condition when not Ready. */
  reason?: string;
}

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

export function parseNodes(stdout: string): NodeReadiness[] {
  const list = JSON.parse(stdout || '{}') as { items?: { metadata?: { name?: string }; status?: { conditions?: Condition[] } }[] };
  return (list.items ?? []).map((n) => {
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
    return {
      name: n.metadata?.name ?? '?',
      ready: ready?.status === 'True',
      ...(ready?.status === 'True' ? {} : { reason: ready?.reason ?? ready?.message ?? 'no Ready condition yet' }),
    };
  });
}

/** e.g. "3/5 nodes Ready (not yet: w1, w2)"; `expected` counts nodes that have not registered at all. */
export function readinessSummary(nodes: NodeReadiness[], expected: string[] = []): string {
  const ready = nodes.filter((n) => n.ready).map((n) => n.name);
  const missing = expected.filter((e) => !nodes.some((n) => n.name === e));
  const notReady = [...nodes.filter((n) => !n.ready).map((n) => n.name), ...missing];
  const total = Math.max(nodes.length + missing.length, expected.length);
  return `${ready.length}/${total} nodes Ready${notReady.length ? ` (not yet: ${notReady.join(', ')})` : ''}`;
}

export function parseObject(stdout: string): Record<string, unknown> | undefined {
  return stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : undefined;
}

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

export function parseKubectlVersion(stdout: string): string | undefined {
  return /Client Version:\s*(v\S+)/.exec(stdout)?.[1] ?? /\bv\d+\.\d+\.\d+/.exec(stdout)?.[0];
}
