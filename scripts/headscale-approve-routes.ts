#!/usr/bin/env -S npx tsx
import { runScript } from './lib/core/cli.ts';
import { approveRoutesScript } from './lib/headscale/script.ts';

await runScript(approveRoutesScript);
