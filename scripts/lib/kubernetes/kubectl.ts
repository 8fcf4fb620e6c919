// kubectl basics: the API server URL, `get --raw /readyz`, `get KIND NAME -o json`, `apply -f -` (manifests through
// stdin: secrets never reach argv), the client version, and `--server` for one control plane when the VIP is down.
// Pure.

export function apiServerUrl(host: string): string {
  return `https://${host}:6443`;
}

export function readyzArgv(server?: string): string[] {
  return ['kubectl', ...(server ? ['--server', server] : []), 'get', '--raw', '/readyz', '--request-timeout=5s'];
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

export function parseObject(stdout: string): Record<string, unknown> | undefined {
  return stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : undefined;
}

export function parseKubectlVersion(stdout: string): string | undefined {
  return /Client Version:\s*(v\S+)/.exec(stdout)?.[1] ?? /\bv\d+\.\d+\.\d+/.exec(stdout)?.[0];
}

/** Inserts `--server URL` after `kubectl` (the kubeconfig's credentials, another address). */
export function withServer(argv: string[], server: string | undefined): string[] {
  if (!server || argv[0] !== 'kubectl') return argv;
  return ['kubectl', '--server', server, ...argv.slice(1)];
}
