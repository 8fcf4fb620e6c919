#!/usr/bin/env -S npx tsx
import { runScript } from './lib/core/cli.ts';
import { backupStatusScript } from './lib/backups/status.ts';

await runScript(backupStatusScript);
