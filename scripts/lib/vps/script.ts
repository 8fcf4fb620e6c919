import { UsageError, type ScriptSpec } from '../core/cli.ts';
import { parseVerifyTimeout } from '../powerdns/script.ts';
import { exposeVps } from './expose.ts';
import { verifyExposure } from './verify.ts';

// The spec of scripts/net-expose.ts (task net:expose), here so tests can run it in-process.

const options = {
  verify: { type: 'boolean', help: 'only check the public path (delegation, SOA serial, TXT propagation, TLS passthrough); changes nothing but one TXT record it writes and deletes' },
  sni: { type: 'string', value: 'NAME', help: 'server name for the TLS check (default: the first public name; "*" → verify.<zone>)' },
  'verify-timeout': { type: 'string', value: 'SECONDS', default: '90', help: 'how long DNS may take to answer as configured' },
} as const;

export const netExposeScript: ScriptSpec<typeof options> = {
  name: 'net-expose',
  task: 'net:expose',
  summary: 'expose the cluster through the VPS: its PowerDNS as a secondary of the zone, nginx SNI passthrough to the ingress',
  options,
  dryRunHelp: 'read the zone (needs PDNS_API_KEY), the VPS (needs SSH) and print the exact changes; change nothing',
  details: [
    'From the config\'s vps section: the zone and its records (public names → vps.publicIp) and the parent delegation to',
    'vps.nameserver (as task dns:sync); the in-cluster primary allows AXFR only from vps.tailnetIp and notifies it; the',
    'VPS PowerDNS holds the zone as a secondary (pdnsutil over SSH); nginx stream forwards TLS for the public names to',
    'network.loadBalancerIps.ingress without terminating it. Only vps.nginx.file is written (the previous one is kept as',
    '.previous and restored when nginx -t fails); nginx is reloaded only after a change.',
    '--dry-run reads the servers (read-only) and prints the exact changes. --verify checks the chain and reports the',
    'NOTIFY→answer time of a TXT record.',
    'exit codes: 0 ok, 1 failed (or a --verify check failed), 2 usage, 3 config',
    'examples:',
    '  task net:expose -- --dry-run',
    '  task net:expose',
    '  task net:expose -- --verify --sni gitea.k8s.example.org',
  ].join('\n'),
  async run(ctx) {
    if (!ctx.config.vps) {
      ctx.log.info('no vps section in the config: nothing to do');
      return 0;
    }
    if (ctx.opts.sni !== undefined && !/^[A-Za-z0-9*.-]+$/.test(ctx.opts.sni)) throw new UsageError(`--sni ${ctx.opts.sni}: must be a DNS name`);
    const seconds = parseVerifyTimeout(ctx.opts['verify-timeout']);
    if (ctx.opts.verify) {
      const r = await verifyExposure(ctx, { timeoutMs: seconds * 1000, ...(ctx.opts.sni ? { sni: ctx.opts.sni } : {}) });
      ctx.log.print(r.lines.join('\n'));
      return r.failed.length ? 1 : 0;
    }
    const r = await exposeVps(ctx, { inspect: true, verifyTimeoutMs: seconds * 1000 });
    ctx.log.info(r.summary);
    if (!ctx.runner.dryRun) ctx.log.info('check the whole public path: task net:expose -- --verify');
    return 0;
  },
};
