import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

// The layers of scripts/: entry scripts on top, then the workflows (bootstrap, day-2, recovery), then everything
// else (tool wrappers, integrations, checks, config, the core spine). A lower module never imports a higher one.

const ROOT = resolve(import.meta.dirname, '../..');
const LIB = join(ROOT, 'scripts/lib');
const WORKFLOWS = ['bootstrap', 'day2', 'recovery'];

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Relative imports of a module, resolved to repository paths. */
export function importsOf(file: string, source = readFileSync(file, 'utf8')): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'/gm)) out.push(relative(ROOT, resolve(dirname(file), m[1]!)));
  return out;
}

/** 'entry' for scripts/*.ts, 'workflow' for scripts/lib/{bootstrap,day2,recovery}, 'lower' for the rest of scripts/lib. */
function layerOf(repoPath: string): 'entry' | 'workflow' | 'lower' | undefined {
  if (/^scripts\/[^/]+\.ts$/.test(repoPath)) return 'entry';
  const m = /^scripts\/lib\/([^/]+)\//.exec(repoPath);
  if (!m) return undefined;
  return WORKFLOWS.includes(m[1]!) ? 'workflow' : 'lower';
}

const RANK = { lower: 0, workflow: 1, entry: 2 } as const;

function upwardImports(files: string[], read?: (f: string) => string): string[] {
  return files.flatMap((f) => {
    const from = layerOf(relative(ROOT, f));
    if (!from) return [];
    return importsOf(f, read?.(f)).flatMap((to) => {
      const target = layerOf(to);
      return target && RANK[target] > RANK[from] ? [`${relative(ROOT, f)} → ${to}`] : [];
    });
  });
}

test('no tool, integration, check, config or core module imports a workflow or an entry script', () => {
  assert.equal(upwardImports(tsFiles(LIB)), []);
});

test('the layer check catches an upward import', () => {
  const fake = join(LIB, 'talos/health.ts');
  const found = upwardImports([fake], () => "import { controlPlanes } from '../bootstrap/nodes.ts';\n");
  assert.equal(found, ['scripts/lib/talos/health.ts → scripts/lib/bootstrap/nodes.ts']);
});

test('workflows never import entry scripts', () => {
  const bad = upwardImports(tsFiles(LIB)).filter((l) => / → scripts\/[^/]+\.ts$/.test(l));
  assert.equal(bad, []);
});

test.run();
