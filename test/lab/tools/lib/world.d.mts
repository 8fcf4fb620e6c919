// Types for the parts of world.mjs that test/lab/lab.ts uses.
export const DEFAULT_TIMINGS: Record<string, number>;
export const REALISTIC_TIMINGS: Record<string, number>;
export function timingsOf(lab: any): Record<string, number>;
export function summarize(st: any, lab: any, now: number): any;
export function advance(st: any, lab: any, now: number): any;
export function hexId(seed: string): string;
