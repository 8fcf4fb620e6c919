import type { ClusterConfig } from '../config/load.ts';
import type { OpsContext } from '../core/context.ts';
import type { RemoteHost } from '../ssh/remote.ts';

// SNI passthrough on the VPS: nginx's stream module reads the TLS server name (ssl_preread) and forwards the whole
// connection, still encrypted, to the cluster's ingress over the tailnet; the cluster's certificate reaches the
// client. This tool owns exactly one file (vps.nginx.file) and keeps the one before it as FILE.previous.
// cluster:destroy removes it (only when its first line says it is this cluster's):
//   cat FILE ; mv FILE FILE.previous ; nginx -t
//     fails → mv FILE.previous FILE; nginx is not reloaded and keeps serving
//   nginx -s reload ; rm -f FILE.previous
//
//   cat FILE                                   what is there now (missing: first run)
//   (same content → nothing else: no write, no reload)
//   cp -p FILE FILE.previous                   keep the previous file
//   tee FILE.new < content ; mv FILE.new FILE  write
//   nginx -t                                   test the whole configuration before any reload
//     fails → cp -p FILE.previous FILE (or rm FILE on a first run); nginx is not reloaded and keeps serving
//   nginx -s reload

const ident = (name: string) => name.replace(/[^A-Za-z0-9_]/g, '_');

/** The nginx map keys of the public names: "*" → ".zone" (the zone and every name below it), "@" → "zone". */
export function sniNames(config: ClusterConfig): string[] {
  const zone = config.powerdns!.zone.replace(/\.$/, '');
  return config.vps!.publicNames.map((n) => (n === '*' ? `.${zone}` : n === '@' ? zone : `${n}.${zone}`));
}

/** The first line of the file: what marks it as this cluster's (cluster:destroy removes only such a file). */
export const managedHeader = (config: ClusterConfig): string => `# Managed by home-ops (task net:expose) for cluster ${config.cluster.name}:`;

/** The file's whole content (a top-level stream {} block). Pure. */
export function streamConfig(config: ClusterConfig): string {
  const v = config.vps!;
  const n = v.nginx;
  const id = `home_ops_${ident(config.cluster.name)}`;
  const ingress = `${config.network.loadBalancerIps!.ingress!}:${n.ingressPort}`;
  const names = sniNames(config);
  const width = Math.max(...names.map((s) => s.length), 'default'.length) + 1;
  const lines = [
    `${managedHeader(config)} edits are overwritten; the previous`,
    `# version is kept next to it as ${n.file.split('/').pop()}.previous.`,
    `# TLS passthrough: nginx reads the requested name (ssl_preread) and forwards the connection, still encrypted, to`,
    `# the cluster's ingress ${ingress} over the tailnet.`,
    'stream {',
    `    upstream ${id}_ingress {`,
    `        server ${ingress};`,
    '    }',
  ];
  if (n.fallback) lines.push(`    upstream ${id}_fallback {`, `        server ${n.fallback};`, '    }');
  lines.push(`    map $ssl_preread_server_name $${id}_backend {`, '        hostnames;');
  for (const name of names) lines.push(`        ${name.padEnd(width)} ${id}_ingress;`);
  if (n.fallback) lines.push(`        ${'default'.padEnd(width)} ${id}_fallback;`);
  else lines.push(`        # other names have no backend: nginx closes those connections`);
  lines.push(
    '    }',
    '    server {',
    `        listen ${n.listen};`,
    '        ssl_preread on;',
    `        proxy_pass $${id}_backend;`,
    '        proxy_connect_timeout 10s;',
    '    }',
    '}',
    '',
  );
  return lines.join('\n');
}

export const catArgv = (file: string): string[] => ['cat', file];
export const backupArgv = (file: string): string[] => ['cp', '-p', file, `${file}.previous`];
export const writeArgv = (file: string): string[] => ['tee', `${file}.new`];
export const moveArgv = (file: string): string[] => ['mv', `${file}.new`, file];
export const restoreArgv = (file: string, hadPrevious: boolean): string[] => (hadPrevious ? ['cp', '-p', `${file}.previous`, file] : ['rm', '-f', file]);
export const setAsideArgv = (file: string): string[] => ['mv', file, `${file}.previous`];
export const putBackArgv = (file: string): string[] => ['mv', `${file}.previous`, file];
export const dropPreviousArgv = (file: string): string[] => ['rm', '-f', `${file}.previous`];
export const testArgv = (command: string[]): string[] => [...command, '-t'];
export const reloadArgv = (command: string[]): string[] => [...command, '-s', 'reload'];

export class NginxConfigError extends Error {
  override name = 'NginxConfigError';
}

/** Writes the stream file when it differs, tests, reloads; rolls back when the test fails. `changes`: 1 when it differed (or would). */
export async function ensureSniPassthrough(ctx: OpsContext, host: RemoteHost): Promise<{ changes: number; lines: string[] }> {
  const v = ctx.config.vps!;
  const { file, command } = v.nginx;
  const content = streamConfig(ctx.config);
  const names = sniNames(ctx.config).join(', ');
  const current = await host.read(catArgv(file), { check: false });
  if (current && current.ok && current.stdout === content) {
    return { changes: 0, lines: [`nginx on ${v.host}: no changes (${file}: ${names} → ${ctx.config.network.loadBalancerIps!.ingress}:${v.nginx.ingressPort})`] };
  }
  if (current && !current.ok && !/No such file/i.test(current.stderr)) {
    throw new Error(`cannot read ${file} on ${v.host}: ${current.stderr.trim()}`);
  }
  const existed = current ? current.ok : true;
  if (!current) host.note(`only when ${file} differs from:\n${content.replace(/^/gm, '      ')}`);
  else ctx.log.print(`nginx on ${v.host}: ${existed ? 'update' : 'create'} ${file}:\n${content.replace(/^/gm, '  ')}`);
  if (existed) await host.change(backupArgv(file));
  await host.change(writeArgv(file), { input: content });
  await host.change(moveArgv(file));
  const tested = await host.change(testArgv(command), { check: false });
  if (tested && !tested.ok) {
    await host.change(restoreArgv(file, existed));
    const why = nginxTestFailure(tested);
    throw new NginxConfigError(
      `nginx -t rejected the new ${file} on ${v.host}:\n    ${why}\n  ${existed ? `the previous ${file} was restored` : `${file} was removed`}; nginx was not reloaded and keeps serving as before. ` +
        'Fix the vps section (e.g. vps.nginx.fallback, vps.nginx.listen) and run again',
    );
  }
  await host.change(reloadArgv(command));
  return { changes: current ? 1 : 0, lines: [`nginx on ${v.host}: ${ctx.runner.dryRun ? 'would write' : 'wrote'} ${file} (${names} → ${ctx.config.network.loadBalancerIps!.ingress}:${v.nginx.ingressPort}), tested, reloaded`] };
}

function nginxTestFailure(tested: { stdout: string; stderr: string }): string {
  return (tested.stderr || tested.stdout).trim().split('\n').filter((l) => !/test is successful|syntax is ok/.test(l)).slice(-5).join('\n    ');
}

/** Removes this cluster's stream file, tests, reloads; puts it back when the test fails. `changes`: 1 when it was there. */
export async function removeSniPassthrough(ctx: OpsContext, host: RemoteHost): Promise<{ changes: number; lines: string[] }> {
  const v = ctx.config.vps!;
  const { file, command } = v.nginx;
  const current = await host.read(catArgv(file), { check: false });
  if (!current) {
    host.note(`only when ${file} exists and starts with "${managedHeader(ctx.config)}":`);
  } else if (!current.ok) {
    if (/No such file/i.test(current.stderr)) return { changes: 0, lines: [`nginx on ${v.host}: no ${file} (nothing to remove)`] };
    throw new Error(`cannot read ${file} on ${v.host}: ${current.stderr.trim()}`);
  } else if (!current.stdout.startsWith(managedHeader(ctx.config))) {
    return { changes: 0, lines: [`nginx on ${v.host}: ${file} was not written for cluster ${ctx.config.cluster.name} (no "${managedHeader(ctx.config)}" line): left as it is`] };
  }
  await host.change(setAsideArgv(file));
  const tested = await host.change(testArgv(command), { check: false });
  if (tested && !tested.ok) {
    await host.change(putBackArgv(file));
    throw new NginxConfigError(
      `nginx -t fails without ${file} on ${v.host}:\n    ${nginxTestFailure(tested)}\n  ${file} was put back; nginx was not reloaded and keeps serving as before. ` +
        'Remove what refers to this cluster\'s upstream from the other nginx files, then run again',
    );
  }
  await host.change(reloadArgv(command));
  await host.change(dropPreviousArgv(file));
  return { changes: current ? 1 : 0, lines: [`nginx on ${v.host}: ${ctx.runner.dryRun ? 'would remove' : 'removed'} ${file}, tested, reloaded`] };
}
