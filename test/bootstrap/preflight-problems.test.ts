import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { labForWorld, makeWorld, PROXMOX_TOKEN } from './harness.ts';

// The preflight collects every problem and counts each once.

test('a missing GITHUB_TOKEN is one problem, not two (the GitHub check that needs it is not attempted)', async () => {
  const world = await makeWorld('one-node.yaml');
  const { lab, run } = labForWorld(world);
  try {
    const r = await run({ only: 'preflight', secrets: { PROXMOX_VE_API_TOKEN: PROXMOX_TOKEN } });
    assert.is(r.exitCode, 1, r.text);
    assert.is(r.text.split('GITHUB_TOKEN is missing').length - 1, 1, r.text);
    const found = /preflight found (\d+) problems?:\n((?:\s+- .*\n?)+)/.exec(r.text);
    assert.ok(found, r.text);
    assert.is(Number(found![1]), found![2]!.trim().split('\n').filter((l) => l.trim().startsWith('- ')).length, 'the count is the number of items listed');
  } finally {
    lab.cleanup();
    await world.cleanup();
  }
});

test.run();
