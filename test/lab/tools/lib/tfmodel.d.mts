// Types for tfmodel.mjs.
export function schematicFor(vars: Record<string, unknown>): string;
export function desiredResources(layer: string, vars: Record<string, any>, lab: any): any[];
export function outputsFor(layer: string, vars: Record<string, any>, lab: any, resources: any[]): Record<string, { sensitive: boolean; type: unknown; value: unknown }>;
