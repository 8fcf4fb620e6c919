// Types for the parts of talos.mjs that test/lab/lab.ts uses.
export function newSecretsBundle(): any;
export function toYaml(value: unknown): Promise<string>;
export function baseMachineConfig(type: string, opts: any): any;
export function talosconfigFor(name: string, secrets: any): any;
export function kubeconfigFor(cluster: string, server: string, ca: { crt: string; key: string }): any;
export function configRecord(cfg: any, extraDocs?: any[]): any;
export function merge(base: any, patch: any): any;
