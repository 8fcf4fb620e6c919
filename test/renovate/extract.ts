// Renovate's own dependency extraction, offline: the repository config resolved as Renovate resolves it (defaults +
// internal presets such as config:recommended, which need no network), then each enabled manager — built-in and
// custom — matched against the files and run by Renovate's code. Follows renovate 44.121.2
// lib/workers/repository/extract/index.ts (extractAllDependencies) with the file list read from disk instead of git,
// so a working copy's own cluster.yaml counts as it does for `task validate`.
import { lstatSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

// renovate 44 targets Node ≥ 24 (package.json engines); this repository runs on Node ≥ 20. The ES2025 built-ins its
// extract code calls (Set methods in execa, RegExp.escape in the mise and terraform managers) come from core-js where
// Node lacks them, and are left alone where it has them.
import 'core-js/actual/set/index.js';
import 'core-js/actual/regexp/escape.js';

// Renovate logs through bunyan to stdout; only failures matter here.
process.env.LOG_LEVEL ??= 'fatal';

const R = 'renovate/dist';

type Modules = Record<'global' | 'defaults' | 'presets' | 'migration' | 'massage' | 'config' | 'managers' | 'custom' | 'fileMatch' | 'managerFiles' | 'parse' | 'packageRules' | 'versioning', any>;
let loaded: Promise<Modules> | undefined;

/** Renovate's modules, loaded once (ES modules: imported dynamically, as this file may be loaded as CommonJS). */
export function renovate(): Promise<Modules> {
  return (loaded ??= (async () => {
    await (await import(`${R}/logger/index.js`)).init();
    const names = {
      global: 'config/global.js',
      defaults: 'config/defaults.js',
      presets: 'config/presets/index.js',
      migration: 'config/migration.js',
      massage: 'config/massage.js',
      config: 'config/index.js',
      managers: 'modules/manager/index.js',
      custom: 'modules/manager/custom/index.js',
      fileMatch: 'workers/repository/extract/file-match.js',
      managerFiles: 'workers/repository/extract/manager-files.js',
      parse: 'workers/global/config/parse/util.js',
      packageRules: 'util/package-rules/index.js',
      versioning: 'modules/versioning/index.js',
    } as const;
    const entries = await Promise.all(Object.entries(names).map(async ([k, f]) => [k, await import(`${R}/${f}`)] as const));
    return Object.fromEntries(entries) as Modules;
  })());
}

export type RenovateConfig = Record<string, unknown>;

export interface ExtractedDep {
  /** "flux", "terraform", "custom.regex", … */
  manager: string;
  /** Repo-relative file. */
  file: string;
  depName?: string;
  packageName?: string;
  datasource?: string;
  currentValue?: string;
  currentDigest?: string;
  /** Set when Renovate found the dependency but will not look it up (unsupported datasource, invalid value, …). */
  skipReason?: string;
  /** customManagers[].description of the custom manager that matched. */
  customManager?: string;
}

/** The repository config file as Renovate parses it (JSON5 included). */
export async function readRenovateConfig(file: string): Promise<RenovateConfig> {
  return (await (await renovate()).parse.getParsedContent(file)) as RenovateConfig;
}

/** Repository config → the config Renovate's extract phase sees (migrated, massaged, over the defaults, presets resolved). */
export async function resolveRenovateConfig(repoConfig: RenovateConfig): Promise<RenovateConfig> {
  const r = await renovate();
  const { migratedConfig } = r.migration.migrateConfig(repoConfig);
  const merged = r.config.mergeChildConfig(r.defaults.getConfig(), r.massage.massageConfig(migratedConfig));
  return ((await r.presets.resolveConfigPresets(merged)) as { config: RenovateConfig }).config;
}

/**
 * Every file under root, repo-relative, as Renovate lists them: regular files only (renovate lib/util/git getFileList
 * keeps `git ls-tree` modes 100xxx, so symlinks such as terraform/<layer>/versions.tf are not package files), without
 * .git, node_modules and local state.
 */
export function listFiles(root: string, dir = root): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name === '.git' || name === 'node_modules' || name === '.state') continue;
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) out.push(...listFiles(root, p));
    else if (st.isFile()) out.push(relative(root, p));
  }
  return out;
}

/** Runs every enabled manager of `config` (already resolved) over the files under root. */
export async function extractDependencies(root: string, config: RenovateConfig, files = listFiles(root)): Promise<ExtractedDep[]> {
  const { global: { GlobalConfig }, config: { getManagerConfig, mergeChildConfig }, managers, custom: { isCustomManager }, fileMatch: { getMatchingFiles }, managerFiles: { getManagerPackageFiles } } = await renovate();
  GlobalConfig.set({ localDir: root });
  const out: ExtractedDep[] = [];
  for (const manager of managers.getEnabledManagersList(config.enabledManagers) as string[]) {
    const base = { ...getManagerConfig(config, manager), manager };
    const variants: RenovateConfig[] = isCustomManager(manager)
      ? ((config.customManagers as RenovateConfig[] | undefined) ?? []).filter((m) => m.customType === manager).map((m) => mergeChildConfig(base, m))
      : [base];
    for (const managerConfig of variants) {
      const fileList = getMatchingFiles(managerConfig, files) as string[];
      if (!fileList.length) continue;
      const packageFiles = (await getManagerPackageFiles({ ...managerConfig, fileList })) as { packageFile: string; deps: RenovateConfig[] }[] | null;
      for (const pf of packageFiles ?? []) {
        for (const d of pf.deps) {
          out.push({
            manager: isCustomManager(manager) ? `custom.${manager}` : manager,
            file: pf.packageFile,
            depName: d.depName as string | undefined,
            packageName: d.packageName as string | undefined,
            datasource: d.datasource as string | undefined,
            currentValue: d.currentValue as string | undefined,
            currentDigest: d.currentDigest as string | undefined,
            skipReason: d.skipReason as string | undefined,
            customManager: isCustomManager(manager) ? (managerConfig.description as string | string[] | undefined)?.toString() : undefined,
          });
        }
      }
    }
  }
  return out;
}
