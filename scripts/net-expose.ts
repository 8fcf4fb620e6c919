#!/usr/bin/env -S npx tsx
import { runScript } from './lib/core/cli.ts';
import { netExposeScript } from './lib/vps/script.ts';

await runScript(netExposeScript);
