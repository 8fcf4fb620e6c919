#!/usr/bin/env -S npx tsx
import { runScript } from './lib/core/cli.ts';
import { cleanupVolumesScript } from './lib/proxmox/scripts.ts';

await runScript(cleanupVolumesScript);
