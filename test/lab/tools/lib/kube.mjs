// Kubernetes API access shared by the kubectl, helm and flux fakes: which server a client talks to (kubeconfig /
// --server), whether it answers (VIP only after etcd bootstrap, node IPs only while their kube-apiserver runs), and
// whether the client's credentials belong to this cluster.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfigYaml } from './miniyaml.mjs';
import { fingerprint, issuedBy } from './pki.mjs';
import { apiServerOn, reachability, vipHolder } from './world.mjs';

/** Resolves the client config the way client-go does: --kubeconfig, then $KUBECONFIG (first existing), then ~/.kube/config. */
export async function loadKubeconfig({ kubeconfig, context, server, insecure }, env = process.env) {
  let file = kubeconfig;
  // Like client-go: a non-empty $KUBECONFIG replaces ~/.kube/config (missing files in it are skipped).
  if (!file && env.KUBECONFIG) file = env.KUBECONFIG.split(':').find((f) => f && fs.existsSync(f));
  if (!file && !env.KUBECONFIG) {
    const home = env.HOME ?? os.homedir();
    const dflt = path.join(home, '.kube', 'config');
    if (fs.existsSync(dflt)) file = dflt;
  }
  let doc;
  if (file) {
    if (!fs.existsSync(file)) {
      return { error: `error: stat ${file}: no such file or directory` };
    }
    try {
      doc = (await parseConfigYaml(fs.readFileSync(file, 'utf8'))) ?? {};
    } catch (e) {
      return { error: `error: error loading config file "${file}": ${e.message.split('\n')[0]}` };
    }
  }
  const ctxName = context ?? doc?.['current-context'];
  const ctx = doc?.contexts?.find((c) => c.name === ctxName)?.context;
  if (context && !ctx) return { error: `error: context "${context}" does not exist` };
  const cluster = doc?.clusters?.find((c) => c.name === ctx?.cluster)?.cluster ?? (ctx ? undefined : doc?.clusters?.[0]?.cluster);
  const user = doc?.users?.find((u) => u.name === ctx?.user)?.user ?? (ctx ? undefined : doc?.users?.[0]?.user);
  const srv = server ?? cluster?.server ?? 'http://localhost:8080';
  return {
    file,
    server: srv,
    caData: cluster?.['certificate-authority-data'],
    insecure: insecure || cluster?.['insecure-skip-tls-verify'] === true,
    certData: user?.['client-certificate-data'],
    token: user?.token,
    namespace: ctx?.namespace,
  };
}

export function hostPort(server) {
  try {
    const u = new URL(server);
    return { host: u.hostname, port: u.port || (u.protocol === 'http:' ? '80' : '443'), scheme: u.protocol.replace(':', '') };
  } catch {
    return { host: server, port: '443', scheme: 'https' };
  }
}

/**
 * Can a client reach the API at kc.server with kc's credentials? → { ok } or { ok:false, kind, host, port }.
 * kind: refused | noroute | timeout | x509 | unauthorized.
 */
export function apiAccess(st, lab, now, kc) {
  const { host, port, scheme } = hostPort(kc.server);
  const hp = `${host}:${port}`;
  const fail = (kind) => ({ ok: false, kind, host, port, hp });
  if (host === 'localhost' || host === '127.0.0.1') return fail('refused');
  let target;
  if (host === lab.vip) {
    target = vipHolder(st, lab, now);
    if (!target) return fail('refused');
  } else {
    target = Object.values(st.nodes).find((n) => n.ip === host);
    if (!target) return fail('timeout');
    const r = reachability(st, target, now);
    if (!r.up) return fail(r.why === 'absent' ? 'noroute' : r.why === 'unreachable' ? 'timeout' : 'refused');
    if (!apiServerOn(st, lab, target, now)) return fail('refused');
  }
  if (port !== '6443' || scheme !== 'https') return fail('refused');
  const caFp = st.etcd.cluster?.k8sCa;
  if (!kc.insecure) {
    if (!kc.caData || fingerprint(kc.caData) !== caFp) return fail('x509');
  }
  if (!(kc.certData && issuedBy(kc.certData, st.etcd.cluster?.k8sCaCrt)) && !(kc.token && kc.token === st.k8s.token)) return fail('unauthorized');
  return { ok: true, node: target, hp };
}

/** The error kubectl prints for a failed access. */
export function kubectlAccessError(a) {
  switch (a.kind) {
    case 'refused':
      return `The connection to the server ${a.hp} was refused - did you specify the right host or port?`;
    case 'noroute':
      return `Unable to connect to the server: dial tcp ${a.hp}: connect: no route to host`;
    case 'timeout':
      return `Unable to connect to the server: dial tcp ${a.hp}: i/o timeout`;
    case 'x509':
      return 'Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority';
    case 'unauthorized':
      return 'error: You must be logged in to the server (Unauthorized)';
    default:
      return `Unable to connect to the server: ${a.kind}`;
  }
}

/** The Go net error text (what helm and flux wrap). */
export function dialError(a, urlPath = '/version') {
  const url = `https://${a.hp}${urlPath}`;
  switch (a.kind) {
    case 'refused':
      return `Get "${url}": dial tcp ${a.hp}: connect: connection refused`;
    case 'noroute':
      return `Get "${url}": dial tcp ${a.hp}: connect: no route to host`;
    case 'timeout':
      return `Get "${url}": dial tcp ${a.hp}: i/o timeout`;
    case 'x509':
      return `Get "${url}": tls: failed to verify certificate: x509: certificate signed by unknown authority`;
    case 'unauthorized':
      return 'the server has asked for the client to provide credentials';
    default:
      return a.kind;
  }
}

