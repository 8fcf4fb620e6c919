// Types for miniyaml.mjs.
export function parseMini(text: string): unknown;
export function parseConfigYaml(text: string): Promise<unknown>;
