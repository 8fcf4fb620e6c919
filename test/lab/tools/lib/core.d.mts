// Types for the parts of core.mjs that test/lab/lab.ts uses.
export function transact<T>(fn: (st: any, lab: any, now: number) => T, dir?: string): T;
export function snapshot(dir?: string): { st: any; lab: any; now: number };
export function emptyState(): any;
export function writeJsonAtomic(file: string, value: unknown): void;
export function readJson(file: string, fallback?: unknown): any;
export function latencyFor(latency: Record<string, number> | undefined, cmd: string): number;
export function prefixMatch(key: string, cmd: string): boolean;
