#!/usr/bin/env -S npx tsx
import { runScript } from './lib/core/cli.ts';
import { upgradeNodeScript } from './lib/day2/scripts.ts';

await runScript(upgradeNodeScript);
