import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { redact, registerSecret } from '../scripts/lib/core/redact.ts';
test('redact', () => { registerSecret('supersecret'); assert.is(redact('a supersecret b'), 'a <redacted> b'); });
test.run();
