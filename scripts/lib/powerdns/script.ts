import { UsageError, type ScriptSpec } from '../core/cli.ts';
import { syncPowerDns } from './sync.ts';

// The spec of scripts/powerdns-sync.ts (task dns:sync), here so tests can run it in-process.

const options = {
  'verify-timeout': { type: 'string', value: 'SECONDS', default: '90', help: 'how long DNS may take to answer as configured (caches)' },
} as const;

/** Parses --verify-timeout; a usage error (exit 2) names the flag. */
export function parseVerifyTimeout(value: string | undefined): number {
  const seconds = Number(value ?? '90');
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--verify-timeout ${value}: must be a positive number of seconds`);
  return seconds;
}

export const powerDnsSyncScript: ScriptSpec<typeof options> = {
  name: 'powerdns-sync',
  task: 'dns:sync',
  summary: 'ensure the PowerDNS zone, its records and the parent zone\'s NS delegation, then verify them by DNS',
  options,
  dryRunHelp: 'read the zone (needs PDNS_API_KEY) and the parent zone (needs SSH) and print the diff; change nothing',
  details: [
    'Creates what is missing and replaces what differs (per name and type); never deletes other records.',
    'The in-cluster server through its HTTP API (PDNS_API_KEY), the parent zone on the VPS through pdnsutil over SSH.',
    'With powerdns.external (PowerDNS runs in another cluster) it writes nothing: it checks that the zone exists there.',
    '--dry-run reads both (read-only) and prints the diff and the exact requests and commands; it needs what those',
    '  reads need: PDNS_API_KEY (.env) for the API, SSH to the VPS for the parent zone. A read it cannot make is named.',
    'exit codes: 0 in sync (or done), 1 a request or command failed, or DNS did not answer as configured, 2 usage, 3 config.',
    'examples:',
    '  task dns:sync -- --dry-run',
    '  task dns:sync',
    '  task dns:sync -- --verify-timeout 300'
  ].join('\n'),
  async run(ctx) {
    if (!ctx.config.powerdns) {
      ctx.log.info('no powerdns section in the config: nothing to do');
      return 0;
    }
    const seconds = parseVerifyTimeout(ctx.opts['verify-timeout']);
    const r = await syncPowerDns(ctx, { inspect: true, verifyTimeoutMs: seconds * 1000 });
    ctx.log.info(r.summary);
    return 0;
  },
};
