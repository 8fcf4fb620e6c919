#!/usr/bin/env -S npx tsx
import { runScript } from './lib/core/cli.ts';
import { upgradeK8sScript } from './lib/day2/scripts.ts';

await runScript(upgradeK8sScript);
