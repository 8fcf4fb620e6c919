import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { approveHeadscaleRoutes, removeHeadscaleNodes } from '../../scripts/lib/headscale/routes.ts';
import { approveRoutesScript } from '../../scripts/lib/headscale/script.ts';
import { RemoteCommandError } from '../../scripts/lib/ssh/client.ts';
import type { HeadscaleState } from '../lab/remote/remote-lab.ts';
import { config, makeContext, runScriptCaptured, startHarness, type Harness } from './harness.ts';

// Headscale route approval over the real sshd, against the lab's stateful `headscale` fake in both CLI generations.

let h: Harness;
test.before(async () => {
  h = await startHarness();
});
test.after(async () => {
  await h?.stop();
});

const NODE_CIDR = '10.0.10.0/24';
const LB_CIDR = '10.0.10.192/27';
/** What approve-routes must receive for itest-cp-1: the exit routes it had plus the two cluster routes. */
const APPROVED_SET = ['0.0.0.0/0', NODE_CIDR, LB_CIDR, '::/0'].sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).join(',');

/** itest-cp-1 advertises both cluster routes and one foreign route, and already has an exit node approved;
 *  itest-worker-1 advertises nothing; laptop (another user) advertises the node CIDR. */
function world(version: string, opts: { tags?: boolean } = {}): HeadscaleState {
  return {
    version,
    seq: { node: 3, route: 10 },
    users: [
      { id: 1, name: 'itest' },
      { id: 2, name: 'alice' },
    ],
    nodes: [
      {
        id: 1,
        name: 'itest-cp-1',
        user: 1,
        ...(opts.tags ? { tags: ['tag:cluster-router'] } : {}),
        routes: [
          { id: 1, prefix: NODE_CIDR, advertised: true, enabled: false },
          { id: 2, prefix: LB_CIDR, advertised: true, enabled: false },
          { id: 3, prefix: '192.168.99.0/24', advertised: true, enabled: false },
          { id: 4, prefix: '0.0.0.0/0', advertised: true, enabled: true },
          { id: 5, prefix: '::/0', advertised: true, enabled: true },
        ],
      },
      { id: 2, name: 'itest-worker-1', user: 1, routes: [] },
      { id: 3, name: 'laptop', user: 2, ...(opts.tags ? { tags: ['tag:cluster-router'] } : {}), routes: [{ id: 6, prefix: NODE_CIDR, advertised: true, enabled: false }] },
    ],
  };
}

const enabled = (s: HeadscaleState, nodeId: number) =>
  s.nodes.find((n) => n.id === nodeId)!.routes.filter((r) => r.enabled).map((r) => r.prefix).sort();

for (const version of ['0.26.1', '0.25.1', '0.22.3']) {
  test(`headscale ${version}: approves exactly the allowed advertised routes; a second run changes nothing`, async () => {
    h.lab.setHeadscale(world(version));
    h.lab.resetCalls();
    const t = makeContext(config(h.parts({ headscale: { user: 'itest' } })));
    const r1 = await approveHeadscaleRoutes(t.ctx);
    assert.is(r1.changed, true);
    assert.match(r1.summary, /approved 2 route\(s\) on 1 node\(s\)/);
    const s = h.lab.headscale();
    // Allowed routes approved; the exit routes approved before stay; the foreign route and other users' nodes untouched.
    assert.equal(enabled(s, 1), ['0.0.0.0/0', LB_CIDR, NODE_CIDR, '::/0'].sort());
    assert.equal(enabled(s, 3), []);
    const mutations = h.lab.mutatingCalls().map((c) => c.line);
    if (version === '0.26.1') {
      assert.equal(mutations, [`headscale nodes approve-routes --identifier 1 --routes ${APPROVED_SET}`]);
    } else {
      assert.equal(mutations, ['headscale routes enable --route 1', 'headscale routes enable --route 2']);
    }
    assert.match(t.log.printed.join('\n'), /not allowed by the config, left unapproved: 192\.168\.99\.0\/24/);

    h.lab.resetCalls();
    const again = makeContext(config(h.parts({ headscale: { user: 'itest' } })));
    const r2 = await approveHeadscaleRoutes(again.ctx);
    assert.is(r2.changed, false);
    assert.match(r2.summary, /^no changes \(2 allowed route\(s\) already approved\)/);
    assert.equal(h.lab.mutatingCalls(), []);
    assert.match(again.log.printed.join('\n'), /no changes/);
  });
}

test('headscale 0.28 (tags field): nodes selected by tag and user; a tagged node of another user is left alone', async () => {
  h.lab.setHeadscale(world('0.28.0', { tags: true }));
  h.lab.resetCalls();
  const t = makeContext(config(h.parts({ headscale: { tag: 'tag:cluster-router', user: 'itest' } })));
  await approveHeadscaleRoutes(t.ctx);
  const s = h.lab.headscale();
  assert.ok(enabled(s, 1).includes(NODE_CIDR) && enabled(s, 1).includes(LB_CIDR));
  assert.equal(enabled(s, 3), []);
});

test('explicit headscale.routes: only those are approved', async () => {
  h.lab.setHeadscale(world('0.26.1'));
  const t = makeContext(config(h.parts({ headscale: { user: 'itest', routes: [LB_CIDR] } })));
  await approveHeadscaleRoutes(t.ctx);
  assert.equal(enabled(h.lab.headscale(), 1), ['0.0.0.0/0', LB_CIDR, '::/0'].sort());
});

test('the script: --dry-run reads the server and lists what would change without changing it; then a real run, then "no changes"', async () => {
  h.lab.setHeadscale(world('0.26.1'));
  h.lab.resetCalls();
  const file = h.configFile(h.parts({ headscale: { user: 'itest' } }));
  const env = { HOME_OPS_STATE_DIR: h.stateDir };
  const dry = await runScriptCaptured(approveRoutesScript, ['--config', file, '--dry-run'], env);
  assert.is(dry.code, 0, dry.stderr);
  assert.ok(
    dry.stdout.includes(`$ ssh -p ${h.sshd.port} ${h.sshd.user}@127.0.0.1 -- headscale nodes approve-routes --identifier 1 --routes ${APPROVED_SET}`),
    dry.stdout,
  );
  assert.match(dry.stdout, /would approve 10\.0\.10\.0\/24, 10\.0\.10\.192\/27/);
  assert.equal(h.lab.mutatingCalls(), []);
  assert.equal(enabled(h.lab.headscale(), 1), ['0.0.0.0/0', '::/0']);

  const real = await runScriptCaptured(approveRoutesScript, ['--config', file], env);
  assert.is(real.code, 0, real.stderr);
  assert.match(real.stderr, /approved 2 route\(s\) on 1 node\(s\)/);
  const second = await runScriptCaptured(approveRoutesScript, ['--config', file], env);
  assert.is(second.code, 0);
  assert.match(second.stdout, /no changes/);
  assert.match(second.stderr, /no changes \(2 allowed route\(s\) already approved\)/);
  assert.is(h.lab.mutatingCalls().length, 1);
});

test('--policy prints the same approvals as an autoApprovers policy, without SSH', async () => {
  h.lab.resetCalls();
  const file = h.configFile(h.parts({ headscale: { user: 'itest', tag: 'tag:cluster-router' } }), 'policy.yaml');
  const r = await runScriptCaptured(approveRoutesScript, ['--config', file, '--policy'], { HOME_OPS_STATE_DIR: h.stateDir });
  assert.is(r.code, 0);
  const json = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { autoApprovers: { routes: Record<string, string[]> }; tagOwners: Record<string, string[]> };
  assert.equal(json.autoApprovers.routes, { [NODE_CIDR]: ['tag:cluster-router'], [LB_CIDR]: ['tag:cluster-router'] });
  assert.equal(json.tagOwners, { 'tag:cluster-router': ['itest@'] });
  assert.equal(h.lab.calls(), []);
});

test('plan mode (bootstrap --dry-run): no connection, the read commands and the approval step are printed', async () => {
  h.lab.resetCalls();
  const t = makeContext(config(h.parts({ headscale: { user: 'itest' } })), { dryRun: true });
  const r = await approveHeadscaleRoutes(t.ctx);
  assert.is(r.changed, false);
  assert.match(t.plan.join('\n'), /\? ssh -p \d+ \S+@127\.0\.0\.1 -- headscale version/);
  assert.match(t.plan.join('\n'), /\? ssh .* -- headscale nodes list -o json/);
  assert.match(t.plan.join('\n'), /# approve, on each node named itest-cp-1, itest-worker-1, of user itest/);
  assert.equal(h.lab.calls(), []);
});

test('no matching node: a clear error listing what is registered', async () => {
  h.lab.setHeadscale({ ...world('0.26.1'), nodes: world('0.26.1').nodes.filter((n) => n.user === 2) });
  const t = makeContext(config(h.parts({ headscale: { user: 'itest' } })));
  try {
    await approveHeadscaleRoutes(t.ctx);
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /no Headscale node matches \(named itest-cp-1, itest-worker-1, of user itest\).*registered nodes: laptop\/alice/);
  }
});

test('a hanging headscale command fails with a timeout error; a failing one with its stderr', async () => {
  h.lab.setHeadscale(world('0.26.1'));
  h.lab.injectFault({ cmd: 'headscale nodes list', hangMs: 1500, times: 1 });
  const t = makeContext(config(h.parts({ headscale: { user: 'itest' } })));
  try {
    await approveHeadscaleRoutes(t.ctx, { commandTimeoutMs: 400 });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, RemoteCommandError);
    assert.match((err as Error).message, /remote command timed out .* -- headscale nodes list -o json/);
  }
  h.lab.clearFaults();
  h.lab.injectFault({ cmd: 'headscale nodes approve-routes', exitCode: 1, stderr: 'Error: rpc error: code = Unavailable desc = connection refused', times: 1 });
  try {
    await approveHeadscaleRoutes(makeContext(config(h.parts({ headscale: { user: 'itest' } }))).ctx);
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /remote command failed \(exit 1\): .*headscale nodes approve-routes[\s\S]*connection refused/);
  }
  h.lab.clearFaults();
  assert.equal(enabled(h.lab.headscale(), 1), ['0.0.0.0/0', '::/0']);
});

test('removeHeadscaleNodes deletes the cluster\'s nodes only; again: no changes', async () => {
  h.lab.setHeadscale(world('0.26.1'));
  const t = makeContext(config(h.parts({ headscale: { user: 'itest' } })));
  const r = await removeHeadscaleNodes(t.ctx);
  assert.match(r.summary, /deleted 2 Headscale node\(s\): itest-cp-1, itest-worker-1/);
  assert.equal(h.lab.headscale().nodes.map((n) => n.name), ['laptop']);
  const again = await removeHeadscaleNodes(makeContext(config(h.parts({ headscale: { user: 'itest' } }))).ctx);
  assert.is(again.changed, false);
});

test.run();
