// Fake `headscale` CLI (server-side commands over SSH), both generations, selected by the configured version
// (state.version, e.g. "0.22.3", "0.25.1", "0.26.1", "0.28.0"). Facts: /work/shared/reference/tool-facts.md §1.
// Follows juanfont/headscale v0.22–v0.28 cmd/headscale/cli/{nodes,routes,version}.go; flags are cobra/pflag's
// (`Error: unknown flag: --x` / `Error: unknown shorthand flag: 'x' in -x`, exit 1).
//
//   headscale version [-o json]
//   headscale nodes list [-o json] [-u USER]                          (all versions; ≥0.26 with route fields)
//   headscale nodes approve-routes -i ID -r CIDR[,CIDR]               (≥0.26: REPLACES the approved set; "" clears)
//   headscale nodes list-routes [-i ID] [-o json]                     (≥0.26)
//   headscale nodes delete -i ID --force
//   headscale routes list [-i ID] [-o json]                           (≤0.25; 0.22 uses "machine" instead of "node")
//   headscale routes enable -r ROUTE_ID [-o json]                     (≤0.25)
//
// JSON output imitates Go encoding/json of the protobuf structs: snake_case keys, omitempty (false/0/""/[] omitted),
// TAB indentation, `null` for an empty list; errors with -o json → stderr {"error": …}, exit 1.
import { ToolExit, main, parseArgs, withLock, loadState, saveState } from './lib.mjs';

const FILE = 'headscale';

function ver(state) {
  const [maj, min, patch] = String(state.version ?? '0.26.1').replace(/^v/, '').split('.').map(Number);
  return { maj, min, patch, at: (a, b) => maj > a || (maj === a && min >= b) };
}

function ts(seconds) {
  return { seconds, nanos: 0 };
}

/** Go's omitempty over a plain object: drops false, 0, "", empty arrays, undefined and null. */
function omitEmpty(o) {
  const out = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === null || v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
  }
  return out;
}

function userJson(state, id) {
  const u = state.users.find((x) => x.id === id) ?? { id, name: `user${id}`, created: 1712345678 };
  const v = ver(state);
  return omitEmpty({ id: v.at(0, 24) ? u.id : String(u.id), name: u.name, created_at: ts(u.created ?? 1712345678) });
}

function nodeJson(state, n) {
  const v = ver(state);
  const hex = (s) => Buffer.from(`${s}-${n.id}`).toString('hex').padEnd(64, '0').slice(0, 64);
  const advertised = n.routes.filter((r) => r.advertised).map((r) => r.prefix);
  const approved = n.routes.filter((r) => r.enabled).map((r) => r.prefix);
  const tags = n.tags ?? [];
  return omitEmpty({
    id: n.id,
    machine_key: `mkey:${hex('m')}`,
    node_key: `nodekey:${hex('n')}`,
    disco_key: `discokey:${hex('d')}`,
    ip_addresses: [n.ip ?? `100.64.0.${n.id}`],
    name: n.name,
    user: userJson(state, n.user),
    last_seen: ts(1712345999),
    created_at: ts(1712345678),
    register_method: 1,
    ...(v.at(0, 28) ? {} : { forced_tags: tags, valid_tags: tags }),
    given_name: n.given_name ?? n.name,
    online: n.online ?? true,
    ...(v.at(0, 26)
      ? { approved_routes: approved, available_routes: advertised, subnet_routes: approved.filter((p) => advertised.includes(p)) }
      : {}),
    ...(v.at(0, 28) ? { tags } : {}),
  });
}

function routeJson(state, n, r) {
  const v = ver(state);
  return omitEmpty({
    id: r.id,
    [v.at(0, 23) ? 'node' : 'machine']: nodeJson(state, n),
    prefix: r.prefix,
    advertised: r.advertised,
    enabled: r.enabled,
    is_primary: r.enabled && r.advertised && !r.prefix.endsWith('/0'),
    created_at: ts(1712345700),
    updated_at: ts(1712345800),
  });
}

/** Go json.MarshalIndent(v, "", "\t") + newline; an empty list prints null (nil slice). */
function goJson(value) {
  if (Array.isArray(value) && value.length === 0) return 'null\n';
  return JSON.stringify(value, null, '\t') + '\n';
}

function cidrOk(p) {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(p) ?? /^([0-9a-f:]+)\/(\d{1,3})$/i.exec(p);
  return !!m;
}

function run(args, dir) {
  return withLock(dir, () => {
    const state = loadState(dir, FILE, { version: '0.26.1', seq: { node: 0, route: 0 }, users: [], nodes: [] });
    const v = ver(state);
    const output = (() => {
      const i = args.findIndex((a) => a === '-o' || a === '--output');
      if (i >= 0) return args[i + 1] ?? '';
      const eq = args.find((a) => a.startsWith('--output=') || (a.startsWith('-o') && a.length > 2 && !a.startsWith('--')));
      return eq ? eq.replace(/^--output=|^-o/, '') : '';
    })();
    const error = (msg) => {
      if (output.startsWith('json')) throw new ToolExit(1, JSON.stringify({ error: msg }, null, '\t') + '\n');
      throw new ToolExit(1, `Error: ${msg}\n`);
    };
    // spf13/pflag v1.0.x flag.go (failf in parseLongArg / parseSingleShortArg), printed by cobra as `Error: …`.
    const unknownFlag = (name, raw, why) =>
      new ToolExit(
        1,
        raw.startsWith('--')
          ? `Error: ${why ? 'flag needs an argument' : 'unknown flag'}: --${name}\n`
          : `Error: ${why ? 'flag needs an argument' : 'unknown shorthand flag'}: '${name[0]}' in ${raw}\n`,
      );
    const common = { output: 'string', o: 'output', force: 'bool', config: 'string', c: 'config', help: 'bool', h: 'help' };
    const [cmd, sub, ...rest] = args.filter((a, i) => !(a.startsWith('-') || (i > 0 && ['-o', '--output', '-c', '--config'].includes(args[i - 1]))));
    void rest;
    const save = () => saveState(dir, FILE, state);
    const findNode = (id) => {
      const n = state.nodes.find((x) => String(x.id) === String(id));
      if (!n) error('node not found');
      return n;
    };

    if (cmd === 'version') {
      parseArgs(args.slice(1), common, unknownFlag);
      const version = `v${v.maj}.${v.min}.${v.patch}`;
      if (v.at(0, 26)) {
        const info = { version, commit: 'abc1234', buildTime: '2025-05-14T10:00:00Z', go: { version: 'go1.24.2', os: 'linux', arch: 'amd64' }, dirty: false };
        if (output.startsWith('json')) return JSON.stringify(info, null, '\t') + '\n';
        return `headscale version ${version}\ncommit: abc1234\nbuild time: 2025-05-14T10:00:00Z\nbuilt with: go1.24.2 linux/amd64\n`;
      }
      return output.startsWith('json') ? JSON.stringify({ version }, null, '\t') + '\n' : `${version}\n`;
    }

    if (cmd === 'nodes' || cmd === 'node' || (!v.at(0, 23) && (cmd === 'machines' || cmd === 'machine'))) {
      const subArgs = args.slice(args.indexOf(sub) + 1);
      if (sub === 'list' || sub === 'ls' || sub === 'show') {
        const { opts } = parseArgs(subArgs, { ...common, user: 'string', u: 'user', tags: 'bool', t: 'tags' }, unknownFlag);
        let nodes = state.nodes;
        if (opts.user !== undefined) {
          const u = state.users.find((x) => x.name === opts.user || String(x.id) === opts.user);
          nodes = u ? nodes.filter((n) => n.user === u.id) : [];
        }
        if (output.startsWith('json')) return goJson(nodes.map((n) => nodeJson(state, n)));
        const rows = nodes.map((n) => `${n.id} | ${n.name} | ${n.given_name ?? n.name} | ${state.users.find((u) => u.id === n.user)?.name ?? ''} | ${n.ip ?? ''} | ${n.online === false ? 'offline' : 'online'}`);
        return ['ID | Hostname | Name | User | IP addresses | Connected', ...rows].join('\n') + '\n';
      }
      if (v.at(0, 26) && (sub === 'approve-routes')) {
        const { opts } = parseArgs(subArgs, { ...common, identifier: 'string', i: 'identifier', routes: 'string', r: 'routes' }, unknownFlag);
        if (opts.identifier === undefined) error('required flag(s) "identifier" not set');
        const n = findNode(opts.identifier);
        const wanted = (opts.routes ?? '').split(',').map((s) => s.trim()).filter(Boolean);
        for (const p of wanted) if (!cidrOk(p)) error(`parsing route: netip.ParsePrefix("${p}"): bad prefix`);
        // Exit routes come in pairs: approving either approves both.
        if (wanted.some((p) => p === '0.0.0.0/0' || p === '::/0')) for (const p of ['0.0.0.0/0', '::/0']) if (!wanted.includes(p)) wanted.push(p);
        for (const r of n.routes) r.enabled = wanted.includes(r.prefix);
        for (const p of wanted) {
          if (!n.routes.some((r) => r.prefix === p)) n.routes.push({ id: ++state.seq.route, prefix: p, advertised: false, enabled: true });
        }
        n.routes = n.routes.filter((r) => r.advertised || r.enabled);
        save();
        return output.startsWith('json') ? JSON.stringify(nodeJson(state, n), null, '\t') + '\n' : 'Node updated\n';
      }
      if (v.at(0, 26) && (sub === 'list-routes' || sub === 'lsr' || sub === 'routes')) {
        const { opts } = parseArgs(subArgs, { ...common, identifier: 'string', i: 'identifier' }, unknownFlag);
        let nodes = state.nodes;
        // 0.26–0.27 -o json ignores -i and the has-routes filter (fixed in 0.28, issue #2927).
        if (!output.startsWith('json') || v.at(0, 28)) {
          if (opts.identifier !== undefined) nodes = nodes.filter((n) => String(n.id) === String(opts.identifier));
          nodes = nodes.filter((n) => n.routes.length > 0);
        }
        if (output.startsWith('json')) return v.at(0, 28) ? JSON.stringify(nodes.map((n) => nodeJson(state, n)), null, '\t') + '\n' : goJson(nodes.map((n) => nodeJson(state, n)));
        const rows = nodes.map((n) => `${n.id} | ${n.given_name ?? n.name} | ${n.routes.filter((r) => r.enabled).map((r) => r.prefix).join(', ')} | ${n.routes.filter((r) => r.advertised).map((r) => r.prefix).join(', ')} |`);
        return ['ID | Hostname | Approved | Available | Serving (Primary)', ...rows].join('\n') + '\n';
      }
      if (sub === 'delete') {
        const { opts } = parseArgs(subArgs, { ...common, identifier: 'string', i: 'identifier' }, unknownFlag);
        if (opts.identifier === undefined) error('required flag(s) "identifier" not set');
        const n = findNode(opts.identifier);
        if (!opts.force) error('Node not deleted (no confirmation without a terminal; pass --force)');
        state.nodes = state.nodes.filter((x) => x !== n);
        save();
        return output.startsWith('json') ? '{}\n' : 'Node deleted\n';
      }
      // cobra: an unknown subcommand of a non-root command prints that command's help and exits 0.
      return 'Manage the nodes of Headscale\n\nUsage:\n  headscale nodes [command]\n';
    }

    if ((cmd === 'routes' || cmd === 'route' || cmd === 'r') && !v.at(0, 26)) {
      const subArgs = args.slice(args.indexOf(sub) + 1);
      if (sub === 'list' || sub === 'ls' || sub === 'show') {
        const { opts } = parseArgs(subArgs, { ...common, identifier: 'string', i: 'identifier' }, unknownFlag);
        const rows = [];
        for (const n of state.nodes) {
          if (opts.identifier !== undefined && String(n.id) !== String(opts.identifier)) continue;
          for (const r of n.routes) rows.push(routeJson(state, n, r));
        }
        if (output.startsWith('json')) return goJson(rows);
        const col = v.at(0, 23) ? 'Node' : 'Machine';
        return [`ID | ${col} | Prefix | Advertised | Enabled | Primary`, ...rows.map((r) => `${r.id} | ${(r.node ?? r.machine).given_name} | ${r.prefix} | ${!!r.advertised} | ${!!r.enabled} | ${r.prefix.endsWith('/0') ? '-' : !!r.is_primary}`)].join('\n') + '\n';
      }
      if (sub === 'enable' || sub === 'disable') {
        const { opts } = parseArgs(subArgs, { ...common, route: 'string', r: 'route' }, unknownFlag);
        if (opts.route === undefined) error('required flag(s) "route" not set');
        if (!/^\d+$/.test(opts.route)) error(`invalid argument "${opts.route}" for "-r, --route" flag: strconv.ParseUint: parsing "${opts.route}": invalid syntax`);
        let found;
        for (const n of state.nodes) for (const r of n.routes) if (String(r.id) === opts.route) found = r;
        if (!found) error(`Cannot ${sub} route ${opts.route}: rpc error: code = Unknown desc = route not found`);
        found.enabled = sub === 'enable';
        save();
        return output.startsWith('json') ? '{}\n' : '';
      }
      return 'Manage the routes of Headscale\n\nUsage:\n  headscale routes [command]\n';
    }

    throw new ToolExit(1, `Error: unknown command "${cmd ?? ''}" for "headscale"\nRun 'headscale --help' for usage.\n`);
  });
}

main('headscale', run);
