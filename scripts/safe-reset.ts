#!/usr/bin/env -S npx tsx
import { runScript } from './lib/core/cli.ts';
import { safeResetScript } from './lib/day2/scripts.ts';

await runScript(safeResetScript);
