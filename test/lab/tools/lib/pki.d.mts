// Types for the parts of pki.mjs that test/lab/lab.ts uses.
export function issue(ca: { crt: string; key: string }, cn: string, org?: string, type?: 'ec' | 'ed25519'): { crt: string; key: string };
export function newCa(cn: string, type?: 'ec' | 'ed25519', o?: string): { crt: string; key: string };
export function fingerprint(crt: string): string;
export function issuedBy(crt: string, caCrt: string): boolean;
