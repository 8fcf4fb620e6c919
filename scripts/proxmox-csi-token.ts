#!/usr/bin/env -S npx tsx
import { runScript } from './lib/core/cli.ts';
import { csiTokenScript } from './lib/proxmox/scripts.ts';

await runScript(csiTokenScript);
