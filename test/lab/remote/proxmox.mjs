// Fake Proxmox VE CLIs over SSH: pveum (roles, users, ACLs, API tokens), pvesm (storage volumes), pvesh (cluster
// resources, VM configs). One state file (proxmox.json) shared by the three. Facts: tool-facts.md §2 and
// proxmox/pve-access-control (Role.pm, User.pm, ACL.pm): error texts, sorted-key JSON, exit code 255 on die.
//
//   pveum role list|add|modify|delete     pveum user list|add|delete     pveum acl list|modify|delete (aclmod/acldel)
//   pveum user token list|add|remove USER [TOKEN] [--privsep 0|1] [--comment C] [--output-format json]
//   pvesm list STORAGE [--content images] [--vmid N]   (text table only: no --output-format)     pvesm free VOLID
//   pvesh get /cluster/resources [--type vm] --output-format json
//   pvesh get /nodes/NODE/qemu/VMID/config --output-format json
//   pvesh get /nodes/NODE/storage/STORAGE/content [--content images] [--vmid N] --output-format json
//   pvesh get /storage/STORAGE --output-format json      pveversion
//
// Option parsing follows pve-common 9.x src/PVE/JSONSchema.pm get_options (Getopt::Long over the method's declared
// parameters plus, for commands that print through PVE::CLIFormatter, the standard output options): an undeclared
// option prints Getopt's `Unknown option: NAME` and dies with `400 unable to parse option` (exit 255). pve-storage
// 9.1 src/PVE/CLI/pvesm.pm declares no output options for `list` (it prints its own table), so
// `pvesm list … --output-format json` fails exactly like that.
import { randomUUID } from 'node:crypto';
import { ToolExit, main, parseArgs, withLock, loadState, saveState, emptyProxmox } from './lib.mjs';

const FILE = 'proxmox';
const PRIVILEGES = new Set(
  (
    'Datastore.Allocate Datastore.AllocateSpace Datastore.AllocateTemplate Datastore.Audit Group.Allocate Mapping.Audit ' +
    'Mapping.Modify Mapping.Use Permissions.Modify Pool.Allocate Pool.Audit Realm.Allocate Realm.AllocateUser SDN.Allocate ' +
    'SDN.Audit SDN.Use Sys.AccessNetwork Sys.Audit Sys.Console Sys.Incoming Sys.Modify Sys.PowerMgmt Sys.Syslog User.Modify ' +
    'VM.Allocate VM.Audit VM.Backup VM.Clone VM.Config.CDROM VM.Config.CPU VM.Config.Cloudinit VM.Config.Disk ' +
    'VM.Config.HWType VM.Config.Memory VM.Config.Network VM.Config.Options VM.Console VM.GuestAgent.Audit VM.Migrate ' +
    'VM.Monitor VM.PowerMgmt VM.Snapshot VM.Snapshot.Rollback'
  ).split(' '),
);
const BUILTIN_ROLES = ['Administrator', 'NoAccess', 'PVEAdmin', 'PVEAuditor', 'PVEVMAdmin', 'PVEVMUser'];

/** Perl's canonical JSON: keys sorted at every level, one line. */
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

function format(opts, value, textRows) {
  const f = opts['output-format'] ?? 'text';
  if (f === 'json') return canonical(value) + '\n';
  if (f === 'json-pretty') return JSON.stringify(value, null, 4) + '\n';
  return textRows() + '\n';
}

const die = (msg) => new ToolExit(255, msg.endsWith('\n') ? msg : `${msg}\n`);
const paramExc = (field, msg, usage) => die(`400 Parameter verification failed.\n${field}: ${msg}\n${usage}`);

function parsePrivs(s, usage) {
  const privs = String(s ?? '').split(/[\s,;]+/).filter(Boolean);
  for (const p of privs) if (!PRIVILEGES.has(p)) throw paramExc('privs', `invalid format - invalid privilege '${p}'`, usage);
  return privs;
}

/** pve-common JSONSchema.pm get_options: Getopt::Long warns, then raise("unable to parse option\n", code => 400). */
function unknownOpt(usage) {
  return (name, raw, why) => die(why ? `Option ${name} requires an argument\n400 unable to parse option\n${usage}` : `Unknown option: ${name}\n400 unable to parse option\n${usage}`);
}

function pveum(args, dir) {
  return withLock(dir, () => {
    const state = loadState(dir, FILE, emptyProxmox());
    const save = () => saveState(dir, FILE, state);
    // The parameters each API method declares (pve-access-control 9.1 src/PVE/API2/{Role,User,ACL}.pm), plus the
    // output options for the commands pveum prints through PVE::CLIFormatter (src/PVE/CLI/pveum.pm: the listings and
    // `user token add`). Anything else is an unknown option.
    const out = { 'output-format': 'string', noborder: 'string', noheader: 'string' };
    const acl = { users: 'string', tokens: 'string', groups: 'string', roles: 'string', propagate: 'string', delete: 'string', path: 'string' };
    const SPECS = {
      'role list': out,
      'role add': { privs: 'string' },
      'role modify': { privs: 'string', append: 'string' },
      'role delete': {},
      'user list': { ...out, enabled: 'string', full: 'string' },
      'user add': { comment: 'string', email: 'string', enable: 'string', expire: 'string', firstname: 'string', lastname: 'string', groups: 'string', keys: 'string', password: 'string' },
      'user delete': {},
      'user token list': out,
      'user token add': { ...out, comment: 'string', expire: 'string', privsep: 'string' },
      'user token remove': {},
      'user token delete': {},
      'acl list': out,
      'acl modify': acl,
      'acl delete': acl,
    };
    let [a, b, c] = args;
    // Legacy aliases: aclmod = acl modify, acldel = acl delete, useradd = user add, …
    if (a === 'aclmod') args = ['acl', 'modify', ...args.slice(1)];
    if (a === 'acldel') args = ['acl', 'delete', ...args.slice(1)];
    [a, b, c] = args;
    const usage = `pveum ${args.filter((x) => !x.startsWith('-')).slice(0, 3).join(' ')} [OPTIONS]`;
    const parse = (from) => parseArgs(args.slice(from), SPECS[args.slice(0, from).join(' ')] ?? {}, unknownOpt(usage));

    if (a === 'role') {
      const { opts, pos } = parse(2);
      const roleid = pos[0];
      const all = () => [...BUILTIN_ROLES.map((r) => ({ roleid: r, privs: '', special: 1 })), ...Object.entries(state.roles).map(([r, v]) => ({ roleid: r, privs: [...v.privs].sort().join(','), special: 0 }))];
      if (b === 'list') return format(opts, all(), () => all().map((r) => `${r.roleid} ${r.privs}`).join('\n'));
      if (!roleid) throw paramExc('roleid', 'property is missing and it is not optional', usage);
      if (b === 'add') {
        if (/^PVE/i.test(roleid)) throw paramExc('roleid', "cannot use role ID starting with the (case-insensitive) 'PVE' namespace", usage);
        if (state.roles[roleid] || BUILTIN_ROLES.includes(roleid)) throw die(`create role failed: role '${roleid}' already exists`);
        state.roles[roleid] = { privs: parsePrivs(opts.privs, usage) };
        save();
        return '';
      }
      if (b === 'modify') {
        if (BUILTIN_ROLES.includes(roleid)) throw die(`auto-generated role '${roleid}' cannot be modified`);
        if (!state.roles[roleid]) throw die(`update role failed: role '${roleid}' does not exist`);
        const privs = parsePrivs(opts.privs, usage);
        state.roles[roleid].privs = opts.append === '1' ? [...new Set([...state.roles[roleid].privs, ...privs])] : privs;
        save();
        return '';
      }
      if (b === 'delete') {
        if (!state.roles[roleid]) throw die(`delete role failed: role '${roleid}' does not exist`);
        delete state.roles[roleid];
        save();
        return '';
      }
    }

    if (a === 'user' && b === 'token') {
      const { opts, pos } = parse(3);
      const [userid, tokenid] = pos;
      const user = state.users[userid];
      if (!userid) throw paramExc('userid', 'property is missing and it is not optional', usage);
      if (c === 'list') {
        if (!user) throw die(`no such user ('${userid}')`);
        const rows = Object.entries(user.tokens ?? {}).map(([t, v]) => ({ tokenid: t, privsep: v.privsep, expire: v.expire ?? 0, ...(v.comment ? { comment: v.comment } : {}) }));
        return format(opts, rows, () => rows.map((r) => `${r.tokenid} privsep=${r.privsep}`).join('\n'));
      }
      if (!tokenid) throw paramExc('tokenid', 'property is missing and it is not optional', usage);
      if (c === 'add') {
        if (!user) throw die(`no such user ('${userid}')`);
        if (user.tokens?.[tokenid]) throw paramExc('tokenid', 'Token already exists.', usage);
        const value = randomUUID();
        const info = { privsep: opts.privsep ?? 1, ...(opts.expire !== undefined ? { expire: opts.expire } : {}), ...(opts.comment ? { comment: opts.comment } : {}) };
        user.tokens = { ...(user.tokens ?? {}), [tokenid]: { privsep: Number(info.privsep), expire: Number(opts.expire ?? 0), ...(opts.comment ? { comment: opts.comment } : {}), valueSha: value.slice(0, 8) } };
        state.issuedTokens = [...(state.issuedTokens ?? []), { id: `${userid}!${tokenid}`, value }];
        save();
        const res = { 'full-tokenid': `${userid}!${tokenid}`, info, value };
        return format(opts, res, () => `full-tokenid ${res['full-tokenid']}\ninfo ${canonical(info)}\nvalue ${value}`);
      }
      if (c === 'remove' || c === 'delete') {
        if (!user) throw die(`no such user ('${userid}')`);
        if (!user.tokens?.[tokenid]) throw die(`no such token '${tokenid}' for user '${userid}'`);
        delete user.tokens[tokenid];
        state.acl = state.acl.filter((e) => !(e.type === 'token' && e.ugid === `${userid}!${tokenid}`));
        save();
        return '';
      }
    }

    if (a === 'user') {
      const { opts, pos } = parse(2);
      const userid = pos[0];
      const rows = () => Object.entries(state.users).map(([u, v]) => ({ userid: u, enable: v.enable ?? 1, expire: v.expire ?? 0, 'realm-type': u.split('@')[1], ...(v.comment ? { comment: v.comment } : {}) }));
      if (b === 'list') return format(opts, rows(), () => rows().map((r) => r.userid).join('\n'));
      if (!userid) throw paramExc('userid', 'property is missing and it is not optional', usage);
      if (!/^[^\s:/@]+@[A-Za-z][A-Za-z0-9.\-_]+$/.test(userid)) throw paramExc('userid', `value '${userid}' does not look like a valid user name`, usage);
      if (b === 'add') {
        if (state.users[userid]) throw die(`create user failed: user '${userid}' already exists`);
        state.users[userid] = { enable: 1, expire: 0, tokens: {}, ...(opts.comment ? { comment: opts.comment } : {}) };
        save();
        return '';
      }
      if (b === 'delete') {
        if (!state.users[userid]) throw die(`delete user failed: no such user ('${userid}')`);
        delete state.users[userid]; // its tokens go with it; its ACL entries too (delete_user_acl)
        state.acl = state.acl.filter((e) => !(e.type === 'user' && e.ugid === userid));
        save();
        return '';
      }
    }

    if (a === 'acl') {
      const { opts, pos } = parse(2);
      if (b === 'list') return format(opts, state.acl, () => state.acl.map((e) => `${e.path} ${e.type} ${e.ugid} ${e.roleid} ${e.propagate}`).join('\n'));
      const path = pos[0];
      if (!path) throw paramExc('path', 'property is missing and it is not optional', usage);
      if (!opts.roles) throw paramExc('roles', 'property is missing and it is not optional', usage);
      const roles = opts.roles.split(/[,;\s]+/).filter(Boolean);
      const subjects = [
        ...(opts.users ?? '').split(/[,;\s]+/).filter(Boolean).map((u) => ({ type: 'user', ugid: u })),
        ...(opts.tokens ?? '').split(/[,;\s]+/).filter(Boolean).map((t) => ({ type: 'token', ugid: t })),
        ...(opts.groups ?? '').split(/[,;\s]+/).filter(Boolean).map((g) => ({ type: 'group', ugid: g })),
      ];
      const remove = b === 'delete' || opts.delete === '1';
      for (const r of roles) if (!remove && !state.roles[r] && !BUILTIN_ROLES.includes(r)) throw die(`update ACL failed: role '${r}' does not exist`);
      for (const s of subjects) {
        if (remove) continue;
        if (s.type === 'user' && !state.users[s.ugid]) throw die(`update ACL failed: user '${s.ugid}' does not exist`);
        if (s.type === 'token') {
          const [u, t] = s.ugid.split('!');
          if (!state.users[u]?.tokens?.[t]) throw die(`update ACL failed: no such token '${t}' for user '${u}'`);
        }
      }
      for (const s of subjects) {
        for (const r of roles) {
          state.acl = state.acl.filter((e) => !(e.path === path && e.type === s.type && e.ugid === s.ugid && e.roleid === r));
          if (!remove) state.acl.push({ path, type: s.type, ugid: s.ugid, roleid: r, propagate: opts.propagate === '0' ? 0 : 1 });
        }
      }
      save();
      return '';
    }

    throw die(`ERROR: unknown command 'pveum ${args.slice(0, 3).join(' ')}'\nUSAGE: pveum <COMMAND> [ARGS] [OPTIONS]`);
  });
}

function volName(volid) {
  return volid.slice(volid.indexOf(':') + 1);
}

/** PVE::Storage::volume_list rows as pve-storage 9.1 src/PVE/API2/Storage/Content.pm `index` returns them. */
function volumeRows(storage, st, opts) {
  return st.volumes
    .filter((v) => !opts.content || (v.content ?? 'images') === opts.content)
    .filter((v) => !opts.vmid || String(v.vmid) === opts.vmid)
    .map((v) => ({ volid: `${storage}:${v.name}`, format: v.format ?? 'raw', size: v.size ?? 1073741824, used: 0, ...(v.vmid !== undefined ? { vmid: v.vmid } : {}), content: v.content ?? 'images', ctime: v.ctime ?? 1712345678, ...(v.protected ? { protected: 1 } : {}) }))
    .sort((x, y) => x.volid.localeCompare(y.volid));
}

/** pve-storage 9.1 src/PVE/Storage/Plugin.pm defaults: `dir` storages hold files, `lvmthin` images and rootdirs. */
function storageConfig(id, st) {
  const type = st.type ?? (id === 'local' ? 'dir' : 'lvmthin');
  const content = st.content ?? (type === 'dir' ? 'backup,iso,vztmpl' : 'images,rootdir');
  return { storage: id, type, content, digest: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678', ...(type === 'dir' ? { path: st.path ?? '/var/lib/vz' } : { thinpool: 'data', vgname: 'pve' }) };
}

function pvesm(args, dir) {
  return withLock(dir, () => {
    const state = loadState(dir, FILE, emptyProxmox());
    const usage = `pvesm ${args[0] ?? ''} [OPTIONS]`;
    // pvesm.pm: `list` => [ "PVE::API2::Storage::Content", 'index', ['storage'], { node => $nodename }, $print_content ]
    // (own printer, no output options); `free` => [ Content, 'delete', ['volume'], … ].
    const specs = { list: { content: 'string', vmid: 'string' }, free: { storage: 'string', delay: 'string' } };
    const { opts, pos } = parseArgs(args.slice(1), specs[args[0]] ?? {}, unknownOpt(usage));
    if (args[0] === 'list') {
      const storage = pos[0];
      if (!storage) throw paramExc('storage', 'property is missing and it is not optional', usage);
      const st = state.storages[storage];
      if (!st) throw die(`storage '${storage}' does not exist`);
      return ['Volid Format  Type Size VMID', ...volumeRows(storage, st, opts).map((r) => `${r.volid} ${r.format} ${r.content} ${r.size} ${r.vmid ?? ''}`)].join('\n') + '\n';
    }
    if (args[0] === 'free') {
      const volid = pos[0];
      if (!volid) throw paramExc('volume', 'property is missing and it is not optional', usage);
      const storage = volid.includes(':') ? volid.split(':')[0] : opts.storage;
      const st = state.storages[storage];
      if (!st) throw die(`storage '${storage}' does not exist`);
      const v = st.volumes.find((x) => x.name === volName(volid));
      if (!v) throw die(`no such volume '${volid}'`);
      if (v.protected) throw die(`volume '${volid}' is protected`);
      st.volumes = st.volumes.filter((x) => x !== v);
      state.freed = [...(state.freed ?? []), volid];
      saveState(dir, FILE, state);
      return `  Logical volume "${volName(volid)}" successfully removed.\n`;
    }
    throw die(`ERROR: unknown command 'pvesm ${args[0] ?? ''}'`);
  });
}

function pvesh(args, dir) {
  return withLock(dir, () => {
    const state = loadState(dir, FILE, emptyProxmox());
    const usage = `pvesh ${args.slice(0, 2).join(' ')} [OPTIONS]`;
    if (args[0] !== 'get') throw die(`ERROR: unknown command 'pvesh ${args[0] ?? ''}'`);
    // pve-manager 9.x PVE/CLI/pvesh.pm: the options are the API method's parameters plus the output options.
    const path = args.slice(1).find((a) => !a.startsWith('-')) ?? '';
    const params = path === '/cluster/resources' ? { type: 'string' } : /\/storage\/[^/]+\/content$/.test(path) ? { content: 'string', vmid: 'string' } : /\/config$/.test(path) ? { current: 'string', snapshot: 'string' } : {};
    const { opts } = parseArgs(args.slice(1), { 'output-format': 'string', ...params }, unknownOpt(usage));
    if (path === '/cluster/resources') {
      const rows = Object.entries(state.vms)
        .filter(() => !opts.type || opts.type === 'vm')
        .map(([vmid, vm]) => ({ id: `${vm.type ?? 'qemu'}/${vmid}`, type: vm.type ?? 'qemu', vmid: Number(vmid), name: vm.name, node: vm.node ?? 'pve', status: vm.status ?? 'running' }));
      return format(opts, rows, () => rows.map((r) => `${r.id} ${r.name}`).join('\n'));
    }
    const m = /^\/nodes\/([^/]+)\/(qemu|lxc)\/(\d+)\/config$/.exec(path);
    if (m) {
      const vm = state.vms[m[3]];
      if (!vm || (vm.node ?? 'pve') !== m[1]) throw die(`Configuration file 'nodes/${m[1]}/${m[2] === 'qemu' ? 'qemu-server' : 'lxc'}/${m[3]}.conf' does not exist`);
      const cfg = { name: vm.name, ...(vm.config ?? {}) };
      return format(opts, cfg, () => Object.entries(cfg).map(([k, v]) => `${k}: ${v}`).join('\n'));
    }
    const content = /^\/nodes\/([^/]+)\/storage\/([^/]+)\/content$/.exec(path);
    if (content) {
      const st = state.storages[content[2]];
      if (!st) throw die(`storage '${content[2]}' does not exist`);
      const rows = volumeRows(content[2], st, opts);
      return format(opts, rows, () => rows.map((r) => `${r.volid} ${r.format} ${r.size}`).join('\n'));
    }
    const storage = /^\/storage\/([^/]+)$/.exec(path);
    if (storage) {
      // pve-storage 9.1 src/PVE/API2/Storage/Config.pm `read`: the section config of one storage.
      const st = state.storages[storage[1]];
      if (!st) throw die(`storage '${storage[1]}' does not exist`);
      const cfg = storageConfig(storage[1], st);
      return format(opts, cfg, () => Object.entries(cfg).map(([k, v]) => `${k}: ${v}`).join('\n'));
    }
    throw die(`no such resource '${path}'`);
  });
}

/**
 * pve-manager 9.x bin/pveversion: `pve-manager/VERSION/REPOID (running kernel: KERNEL)`; `-v|--verbose` lists
 * packages. Anything else fails like get_options.
 */
function pveversion(args, dir) {
  const state = loadState(dir, FILE, emptyProxmox());
  const { opts, pos } = parseArgs(args, { verbose: 'bool', v: 'verbose' }, unknownOpt('pveversion [OPTIONS]'));
  if (pos.length) throw die(`400 too many arguments\npveversion [OPTIONS]`);
  const version = state.version ?? '8.4.1';
  const line = `pve-manager/${version}/2a5fa54a8503f96d (running kernel: 6.8.12-9-pve)`;
  return opts.verbose ? `proxmox-ve: ${version} (running kernel: 6.8.12-9-pve)\npve-manager: ${version} (running version: ${version}/2a5fa54a8503f96d)\n` : `${line}\n`;
}

const tool = process.argv[1]?.endsWith('proxmox.mjs') ? process.env.LAB_PROXMOX_TOOL : undefined;
main(tool ?? 'pveum', { pveum, pvesm, pvesh, pveversion }[tool ?? 'pveum']);
