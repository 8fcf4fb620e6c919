import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, parseConfigText } from '../../scripts/lib/config/load.ts';

const dir = join(import.meta.dirname, '..', 'fixtures', 'config');
const invalid = readdirSync(join(dir, 'invalid')).filter((f) => f.endsWith('.yaml'));
const valid = readdirSync(join(dir, 'valid')).filter((f) => f.endsWith('.yaml'));

test('there are at least 20 invalid and several valid fixtures', () => {
  assert.ok(invalid.length >= 20, `only ${invalid.length} invalid fixtures`);
  assert.ok(valid.length >= 3, `only ${valid.length} valid fixtures`);
});

for (const file of valid) {
  test(`valid fixture ${file} parses`, () => {
    const c = parseConfigText(readFileSync(join(dir, 'valid', file), 'utf8'), file);
    assert.ok(c.nodes.length >= 1);
    assert.is(c.github.path.startsWith('kubernetes/clusters/') || c.github.path.length > 0, true);
  });
}

for (const file of invalid) {
  test(`invalid fixture ${file} is rejected with its message`, () => {
    const text = readFileSync(join(dir, 'invalid', file), 'utf8');
    const expects = [...text.matchAll(/^# expect: (.*)$/gm)].map((m) => m[1]!);
    assert.ok(expects.length > 0, `${file} declares no "# expect:" line`);
    let err: unknown;
    try {
      parseConfigText(text, file);
    } catch (e) {
      err = e;
    }
    assert.instance(err, ConfigError, `${file} was accepted`);
    const problems = (err as ConfigError).problems;
    for (const expected of expects) {
      assert.ok(
        problems.some((p) => p.includes(expected)),
        `${file}: no problem contains\n  ${expected}\ngot:\n  ${problems.join('\n  ')}`,
      );
    }
    // Every problem points at a line and column of the file.
    for (const p of problems) assert.match(p, new RegExp(`^${file.replace('.', '\\.')}:\\d+:\\d+ `));
  });
}

test.run();
