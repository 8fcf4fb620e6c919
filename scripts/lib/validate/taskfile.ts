import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Finding } from './model.ts';

// Every Taskfile target runs a script that exists: each `scripts/….ts` a command names must be a file, every
// included Taskfile must exist, and a target must have commands (or be a pure dependency list).

interface TaskDef {
  cmds?: (string | { cmd?: string; task?: string })[];
  deps?: unknown[];
}

export function checkTaskfiles(root: string, findings: Finding[]): number {
  const entry = join(root, 'Taskfile.yml');
  if (!existsSync(entry)) {
    findings.push({ check: 'taskfile', file: 'Taskfile.yml', message: 'missing' });
    return 0;
  }
  let targets = 0;
  const seen = new Set<string>();
  const visit = (file: string, prefix: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const rel = relative(root, file);
    let doc: { includes?: Record<string, string | { taskfile?: string }>; tasks?: Record<string, TaskDef | string[]> };
    try {
      doc = (parseYaml(readFileSync(file, 'utf8')) ?? {}) as typeof doc;
    } catch (err) {
      findings.push({ check: 'taskfile', file: rel, message: `not valid YAML: ${(err as Error).message}` });
      return;
    }
    for (const [name, inc] of Object.entries(doc.includes ?? {})) {
      const target = typeof inc === 'string' ? inc : inc.taskfile;
      if (!target) continue;
      let p = join(dirname(file), target);
      if (!p.endsWith('.yml') && !p.endsWith('.yaml')) p = join(p, 'Taskfile.yml');
      if (!existsSync(p)) findings.push({ check: 'taskfile', file: rel, object: `include ${name}`, message: `includes ${target}, which does not exist` });
      else visit(p, `${prefix}${name}:`);
    }
    for (const [name, def] of Object.entries(doc.tasks ?? {})) {
      targets++;
      const task = Array.isArray(def) ? { cmds: def } : def;
      const cmds = (task.cmds ?? []).map((c) => (typeof c === 'string' ? c : (c.cmd ?? '')));
      if (cmds.length === 0 && !(task.deps ?? []).length && !(task.cmds ?? []).some((c) => typeof c === 'object' && c.task)) {
        findings.push({ check: 'taskfile', file: rel, object: `task ${prefix}${name}`, message: 'has no commands' });
      }
      for (const cmd of cmds) {
        for (const m of cmd.matchAll(/(?:^|[\s'"=])((?:\.\/)?scripts\/[\w./-]+\.(?:ts|mjs|js|sh))/g)) {
          const script = m[1]!.replace(/^\.\//, '');
          if (!existsSync(join(root, script))) {
            findings.push({ check: 'taskfile', file: rel, object: `task ${prefix}${name}`, message: `runs ${script}, which does not exist` });
          }
        }
      }
    }
  };
  visit(entry, '');
  return targets;
}
