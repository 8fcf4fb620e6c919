import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';

// The entry scripts as users run them (npx tsx scripts/<name>.ts): each loads, parses its flags and prints its help.
// (Their behaviour against real servers is tested in-process through the same specs: headscale/proxmox/powerdns tests.)

const run = promisify(execFile);
const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');

test('every integration entry script starts and documents its options', async () => {
  const scripts: [string, RegExp][] = [
    ['headscale-approve-routes', /--policy/],
    ['proxmox-csi-token', /usage: task storage:csi-token -- create\|rotate\|delete[\s\S]*--confirm NAME[\s\S]*needs SSH access/],
    ['proxmox-cleanup-volumes', /--confirm NAME/],
    ['powerdns-sync', /--verify-timeout SECONDS[\s\S]*--dry-run +read the zone \(needs PDNS_API_KEY\)/],
    ['net-expose', /--verify [\s\S]*--sni NAME/],
    ['backup-status', /local snapshots are taken by hand[\s\S]*exit codes: 0 every scheduled backup is recent/],
  ];
  const results = await Promise.all(scripts.map(([name]) => run(TSX, [join(REPO_ROOT, 'scripts', `${name}.ts`), '--help'], { cwd: REPO_ROOT, timeout: 60_000 })));
  results.forEach((r, i) => {
    assert.match(r.stdout, new RegExp(`^${scripts[i]![0]} — `));
    assert.match(r.stdout, scripts[i]![1]);
  });
});

test.run();
