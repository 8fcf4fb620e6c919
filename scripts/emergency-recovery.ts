#!/usr/bin/env -S npx tsx
import { runScript } from './lib/core/cli.ts';
import { emergencyRecoveryScript } from './lib/recovery/script.ts';

await runScript(emergencyRecoveryScript);
