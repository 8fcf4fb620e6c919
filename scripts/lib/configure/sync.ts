import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { ClusterConfig } from '../config/load.ts';
import { REPO_ROOT } from '../core/paths.ts';
import { generatedPaths, renderAll } from './render.ts';

export interface Drift {
  /** Files whose content differs from what the config renders. */
  changed: string[];
  /** Files the config renders that do not exist. */
  missing: string[];
  /** Files in a generated directory that the config no longer renders (e.g. a removed node). */
  extra: string[];
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

/** Compares the rendered files with the working tree. */
export function diffGenerated(c: ClusterConfig, root = REPO_ROOT): { drift: Drift; files: Map<string, string> } {
  const files = renderAll(c);
  const drift: Drift = { changed: [], missing: [], extra: [] };
  for (const [rel, content] of files) {
    const abs = join(root, rel);
    if (!existsSync(abs)) drift.missing.push(rel);
    else if (readFileSync(abs, 'utf8') !== content) drift.changed.push(rel);
  }
  const p = generatedPaths(c.cluster.name);
  for (const dir of [p.talosDir, p.terraformDir, p.databaseBackupsDir]) {
    for (const abs of listFiles(join(root, dir))) {
      const rel = relative(root, abs);
      if (!files.has(rel)) drift.extra.push(rel);
    }
  }
  return { drift, files };
}

export function isClean(d: Drift): boolean {
  return d.changed.length + d.missing.length + d.extra.length === 0;
}

/** Writes what differs (atomically, file by file) and removes generated files the config no longer produces. */
export function writeGenerated(c: ClusterConfig, root = REPO_ROOT): Drift {
  const { drift, files } = diffGenerated(c, root);
  for (const rel of [...drift.changed, ...drift.missing]) {
    const abs = join(root, rel);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(`${abs}.tmp`, files.get(rel)!);
    renameSync(`${abs}.tmp`, abs);
  }
  for (const rel of drift.extra) rmSync(join(root, rel));
  return drift;
}
