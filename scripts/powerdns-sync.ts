#!/usr/bin/env -S npx tsx
import { runScript } from './lib/core/cli.ts';
import { powerDnsSyncScript } from './lib/powerdns/script.ts';

await runScript(powerDnsSyncScript);
