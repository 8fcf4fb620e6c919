// Types for the parts of lib.mjs that remote-lab.ts uses.
export function emptyProxmox(): any;
