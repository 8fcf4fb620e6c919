// Fake terraform: init / workspace / plan / apply / output / show / state list / destroy / validate per layer
// directory, state kept in LAB_DIR (nothing written into the layer directory). Applying the infrastructure layer
// creates the lab's VMs. `fmt` and `version` run the real terraform. See test/lab/README.md.
// Follows terraform v1.11.4: hashicorp/terraform internal/command/{init,plan,apply,output,show,workspace_*,state_list,
// validate}.go and internal/command/arguments/*.go (FLAGS below: Go `flag` sets; an undefined flag fails the parse
// with `flag provided but not defined: -x` in a "Failed to parse command-line flags" diagnostic).
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { main, fail, transact, snapshot, readStdin } from './lib/core.mjs';
import { timingsOf, dropClusterIfNoData } from './lib/world.mjs';
import { desiredResources, outputsFor } from './lib/tfmodel.mjs';

const REAL_TERRAFORM = process.env.LAB_REAL_TERRAFORM ?? '/usr/local/bin/terraform';
const VERSION = '1.11.4';

const box = (title, body = '') => `╷\n│ Error: ${title}\n${body ? `│ \n${body.split('\n').map((l) => `│ ${l}`.trimEnd()).join('\n')}\n` : ''}╵\n`;

/** terraform's single-dash flags: -name, -name=value. */
function parseTf(argv) {
  const flags = {};
  const positionals = [];
  for (const a of argv) {
    const m = /^--?([a-zA-Z][\w-]*)(?:=(.*))?$/.exec(a);
    if (m) {
      const [, k, v] = m;
      if (k === 'var-file' || k === 'var' || k === 'target' || k === 'backend-config' || k === 'replace') flags[k] = [...(flags[k] ?? []), v ?? ''];
      else flags[k] = v === undefined ? true : v;
    } else positionals.push(a);
  }
  return { flags, positionals };
}

// The flags each subcommand's Go `flag.FlagSet` defines (terraform v1.11 internal/command/arguments/{init,plan,apply,
// output,show,validate}.go, internal/command/workspace_*.go, state_list.go). An undefined one fails the parse with
// Go's `flag provided but not defined: -x`, shown in a "Failed to parse command-line flags" diagnostic.
const RUN_FLAGS = ['compact-warnings', 'destroy', 'input', 'json', 'lock', 'lock-timeout', 'parallelism', 'refresh', 'refresh-only', 'replace', 'state', 'target', 'var', 'var-file'];
const FLAGS = {
  init: ['backend', 'backend-config', 'force-copy', 'from-module', 'get', 'input', 'json', 'lock', 'lock-timeout', 'lockfile', 'migrate-state', 'plugin-dir', 'reconfigure', 'upgrade'],
  plan: [...RUN_FLAGS, 'detailed-exitcode', 'generate-config-out', 'out'],
  apply: [...RUN_FLAGS, 'auto-approve', 'backup', 'state-out'],
  destroy: [...RUN_FLAGS, 'auto-approve', 'backup', 'state-out'],
  output: ['json', 'raw', 'state'],
  show: ['json'],
  validate: ['json', 'no-tests', 'test-directory'],
  'state list': ['id', 'state'],
  'workspace select': ['or-create'],
  'workspace new': ['lock', 'lock-timeout', 'state'],
  'workspace delete': ['force', 'lock', 'lock-timeout'],
  'workspace list': [],
  'workspace show': [],
};

function readVars(dir, files) {
  const vars = {};
  const texts = [];
  for (const f of files ?? []) {
    const p = path.resolve(dir, f);
    if (!fs.existsSync(p)) fail(box('Failed to read variables file', `Given variables file ${f} does not exist.`));
    const text = fs.readFileSync(p, 'utf8');
    texts.push(text);
    if (p.endsWith('.json')) {
      try {
        Object.assign(vars, JSON.parse(text));
      } catch (e) {
        fail(box('Invalid JSON syntax', `${f}: ${e.message}`));
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^\s*([\w-]+)\s*=\s*"(.*)"\s*$/.exec(line);
        if (m) vars[m[1]] = m[2];
      }
    }
  }
  return { vars, hash: createHash('sha256').update(texts.join('\0')).digest('hex').slice(0, 16) };
}

function diff(current, desired) {
  const cur = new Map(current.map((r) => [r.address, r]));
  const want = new Map(desired.map((r) => [r.address, r]));
  const add = desired.filter((r) => !cur.has(r.address));
  const change = desired.filter((r) => cur.has(r.address) && JSON.stringify(cur.get(r.address).attrs) !== JSON.stringify(r.attrs));
  const destroy = current.filter((r) => !want.has(r.address));
  return { add, change, destroy };
}

function planText(d) {
  if (!d.add.length && !d.change.length && !d.destroy.length) {
    return '\nNo changes. Your infrastructure matches the configuration.\n\nTerraform has compared your real infrastructure against your configuration\nand found no differences, so no changes are needed.\n';
  }
  const lines = ['', 'Terraform used the selected providers to generate the following execution', 'plan. Resource actions are indicated with the following symbols:'];
  if (d.add.length) lines.push('  + create');
  if (d.change.length) lines.push('  ~ update in-place');
  if (d.destroy.length) lines.push('  - destroy');
  lines.push('', 'Terraform will perform the following actions:', '');
  for (const r of d.add) lines.push(`  # ${r.address} will be created`, `  + resource "${r.type}" "${r.address.split('.')[1].split('[')[0]}" {`, ...Object.entries(r.attrs).filter(([, v]) => typeof v !== 'object').map(([k, v]) => `      + ${k} = ${JSON.stringify(v)}`), '    }', '');
  for (const r of d.change) lines.push(`  # ${r.address} will be updated in-place`, '');
  for (const r of d.destroy) lines.push(`  # ${r.address} will be destroyed`, '');
  lines.push(`Plan: ${d.add.length} to add, ${d.change.length} to change, ${d.destroy.length} to destroy.`);
  return `${lines.join('\n')}\n`;
}

function outputsText(outputs) {
  const names = Object.keys(outputs).sort();
  if (!names.length) return '';
  return `\nOutputs:\n\n${names.map((n) => `${n} = ${outputs[n].sensitive ? '<sensitive>' : JSON.stringify(outputs[n].value, null, 2)}`).join('\n')}\n`;
}

/** Creates/destroys the VMs for the infrastructure layer's resources (the world side of apply/destroy). */
function applyVms(st, lab, now, added, destroyed) {
  const t = timingsOf(lab);
  for (const r of destroyed.filter((x) => x.node)) {
    const n = st.nodes[r.node.ip];
    if (n) Object.assign(n, { present: false, upAt: null, downReason: null, mode: 'maintenance', config: null, etcd: null });
  }
  for (const r of added.filter((x) => x.node)) {
    const n = st.nodes[r.node.ip] ?? (st.nodes[r.node.ip] = { name: r.node.name, ip: r.node.ip, role: r.node.role, applyCount: 0 });
    Object.assign(n, { present: true, mode: 'maintenance', config: null, etcd: null, upAt: now + t.vmBoot, downReason: 'booting', talosVersion: r.attrs.tv ?? lab.talosVersion });
  }
  dropClusterIfNoData(st);
}

function layerState(st, layer) {
  st.terraform.layers[layer] ??= { initialized: false, current: 'default', workspaces: { default: { serial: 0, resources: [], outputs: {} } } };
  return st.terraform.layers[layer];
}

function ws(L) {
  const name = process.env.TF_WORKSPACE || L.current;
  L.workspaces[name] ??= { serial: 0, resources: [], outputs: {} };
  return L.workspaces[name];
}

/** The selected workspace of a layer without creating anything (output, show, state list); undefined if none. */
function readWs(st, layer) {
  const L = st.terraform.layers[layer];
  return L ? L.workspaces[process.env.TF_WORKSPACE || L.current] : undefined;
}

const NOT_INITIALIZED = box(
  'Inconsistent dependency lock file',
  'The following dependency selections recorded in the lock file are inconsistent\nwith the current configuration:\n  - provider registry.terraform.io/bpg/proxmox: required by this configuration but no version is selected\n\nTo make the initial dependency selections that will initialize the dependency\nlock file, run:\n  terraform init',
);

function hasConfig(dir) {
  return fs.readdirSync(dir).some((f) => /\.tf(\.json)?$/.test(f));
}

main('terraform', async (argv, io) => {
  let chdir;
  let rest = argv;
  if (argv[0]?.startsWith('-chdir=')) {
    chdir = argv[0].slice('-chdir='.length);
    rest = argv.slice(1);
  }
  const { flags, positionals } = parseTf(rest);
  const sub = positionals[0] ?? '';
  const cmd = sub === 'workspace' || sub === 'state' ? `${sub} ${positionals[1] ?? ''}`.trim() : sub;
  const known = FLAGS[cmd];
  const unknown = known && Object.keys(flags).find((f) => !known.includes(f) && !['no-color', 'help', 'h'].includes(f));
  if (unknown) return { cmd, noFaults: true, run: async () => fail(box('Failed to parse command-line flags', `flag provided but not defined: -${unknown}`)) };
  if (sub === 'fmt' || sub === 'version' || flags.version || flags.v) {
    return {
      cmd: sub || 'version',
      noFaults: sub !== 'fmt',
      run: async () => {
        const r = spawnSync(REAL_TERRAFORM, argv, { stdio: ['inherit', 'pipe', 'pipe'] });
        if (r.error) fail(`lab: cannot run the real terraform at ${REAL_TERRAFORM}: ${r.error.message}`, 127);
        io.out(r.stdout.toString());
        io.err(r.stderr.toString().replace(/There are some problems with the CLI configuration:[\s\S]*?╵\n?/, ''));
        return r.status ?? 1;
      },
    };
  }
  return {
    cmd,
    run: async () => {
      const dir = path.resolve(chdir ?? '.');
      if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) fail(box('Invalid -chdir option', `chdir ${chdir}: no such file or directory`));
      const layer = path.basename(dir);
      const { lab } = snapshot();
      switch (sub) {
        case 'init': {
          if (!hasConfig(dir)) {
            io.out('Terraform initialized in an empty directory!\n\nThe directory has no Terraform configuration files. You may begin working\nwith Terraform immediately by creating Terraform configuration files.\n');
            return 0;
          }
          transact((st) => {
            layerState(st, layer).initialized = true;
          });
          io.out('\nInitializing the backend...\n\nInitializing provider plugins...\n- Reusing previous version of bpg/proxmox from the dependency lock file\n- Using previously-installed bpg/proxmox v0.89.1\n\nTerraform has been successfully initialized!\n\nYou may now begin working with Terraform. Try running "terraform plan" to see\nany changes that are required for your infrastructure. All Terraform commands\nshould now work.\n');
          return 0;
        }
        case 'workspace': {
          const action = positionals[1];
          const name = positionals[2];
          return transact((st) => {
            const L = layerState(st, layer);
            if (action === 'show') io.out(`${L.current}\n`);
            else if (action === 'list') io.out(`${Object.keys(L.workspaces).sort().map((w) => `${w === L.current ? '*' : ' '} ${w}`).join('\n')}\n\n`);
            else if (action === 'select' || action === 'new') {
              if (!name) fail('Expected a single argument: NAME.\n');
              const exists = !!L.workspaces[name];
              if (action === 'new' && exists) fail(`Workspace "${name}" already exists\n`);
              if (action === 'select' && !exists && !flags['or-create']) {
                fail(`\nWorkspace "${name}" doesn't exist.\n\nYou can create this workspace with the "new" subcommand\nor include the "-or-create" flag with the "select" subcommand.\n`);
              }
              if (!exists) {
                L.workspaces[name] = { serial: 0, resources: [], outputs: {} };
                io.out(`Created and switched to workspace "${name}"!\n\nYou're now on a new, empty workspace. Workspaces isolate their state,\nso if you run "terraform plan" Terraform will not see any existing state\nfor this configuration.\n`);
              } else io.out(`Switched to workspace "${name}".\n`);
              L.current = name;
            } else if (action === 'delete') {
              if (!L.workspaces[name]) fail(`Workspace "${name}" doesn't exist.\n`);
              if (L.workspaces[name].resources.length && !flags.force) fail(box('Workspace is not empty', `Workspace "${name}" is currently tracking the following resource instances:\n${L.workspaces[name].resources.map((r) => `  - ${r.address}`).join('\n')}`));
              delete L.workspaces[name];
              io.out(`Deleted workspace "${name}"!\n`);
            } else fail(`lab: terraform workspace ${action} is not simulated`, 64);
            return 0;
          });
        }
        case 'validate': {
          if (!hasConfig(dir)) fail(box('No configuration files', 'Validation requires configuration to be present.'));
          const { st } = snapshot();
          if (!st.terraform.layers[layer]?.initialized) fail(box('Missing required provider', 'This configuration requires provider registry.terraform.io/bpg/proxmox, but that\nprovider isn\'t available. You may be able to install it automatically by\nrunning:\n  terraform init'));
          io.out(flags.json ? '{"format_version":"1.0","valid":true,"error_count":0,"warning_count":0,"diagnostics":[]}\n' : 'Success! The configuration is valid.\n\n');
          return 0;
        }
        case 'plan':
        case 'apply':
        case 'destroy': {
          const planFile = sub === 'apply' ? positionals[1] : undefined;
          if (!planFile && !hasConfig(dir)) fail(box('No configuration files', `${sub === 'plan' ? 'Plan' : 'Apply'} requires configuration to be present. Planning without a configuration would\nmark everything for destruction, which is normally not what is desired. If you\nwould like to destroy everything, run plan with the -destroy option. Otherwise,\ncreate a Terraform configuration file (.tf file) and try again.`));
          let saved;
          if (planFile) {
            const p = path.resolve(dir, planFile);
            try {
              saved = JSON.parse(fs.readFileSync(p, 'utf8'));
            } catch {
              fail(box(`Failed to load "${planFile}" as a plan file`, `Error: stat ${planFile}: no such file or directory`));
            }
          }
          const { vars, hash } = saved ? { vars: saved.vars, hash: saved.varsHash } : readVars(dir, flags['var-file']);
          if (!saved && sub !== 'plan' && !flags['auto-approve']) {
            if (flags.input === 'false') fail(box('No value for required variable', 'Apply requires confirmation: run with -auto-approve or apply a saved plan (lab).'));
            const answer = (await readStdin(500)).trim();
            if (answer !== 'yes') fail('\nApply cancelled.\n');
          }
          return transact((st, _l, now) => {
            const L = layerState(st, layer);
            if (!L.initialized) fail(NOT_INITIALIZED);
            const W = ws(L);
            const destroying = sub === 'destroy' || flags.destroy === true;
            const desired = destroying ? [] : desiredResources(layer, vars, lab);
            if (saved && (saved.serial !== W.serial || saved.workspace !== (process.env.TF_WORKSPACE || L.current))) {
              fail(box('Saved plan is stale', 'The given plan file can no longer be applied because the state was changed\nby another operation after the plan was created.'));
            }
            const d = saved ? saved.diff : diff(W.resources, desired);
            if (sub === 'plan') {
              io.out(planText(d));
              const changes = d.add.length + d.change.length + d.destroy.length > 0;
              if (flags.out) {
                fs.writeFileSync(path.resolve(dir, flags.out), JSON.stringify({ lab: 'tfplan', layer, workspace: process.env.TF_WORKSPACE || L.current, serial: W.serial, vars, varsHash: hash, diff: d, destroy: destroying }));
                if (changes) io.out(`\n─────────────────────────────────────────────────────────────────────────────\n\nSaved the plan to: ${flags.out}\n\nTo perform exactly these actions, run the following command to apply:\n    terraform apply "${flags.out}"\n`);
              }
              return flags['detailed-exitcode'] && changes ? 2 : 0;
            }
            const lines = [];
            for (const r of d.destroy) lines.push(`${r.address}: Destroying...`, `${r.address}: Destruction complete after 0s`);
            for (const r of d.add) lines.push(`${r.address}: Creating...`, `${r.address}: Creation complete after 0s [id=${r.attrs.vm_id ?? r.attrs.id ?? 'lab'}]`);
            for (const r of d.change) lines.push(`${r.address}: Modifying...`, `${r.address}: Modifications complete after 0s`);
            const remaining = W.resources.filter((r) => !d.destroy.some((x) => x.address === r.address) && !d.change.some((x) => x.address === r.address));
            W.resources = [...remaining, ...d.change, ...d.add];
            W.serial += 1;
            W.outputs = W.resources.length ? outputsFor(layer, vars, lab, W.resources) : {};
            W.applied = W.resources.length > 0;
            if (/infrastructure/.test(layer)) applyVms(st, lab, now, d.add, d.destroy);
            if (sub === 'destroy' || destroying) {
              io.out(`${lines.join('\n')}\n\nDestroy complete! Resources: ${d.destroy.length} destroyed.\n`);
            } else {
              io.out(`${lines.join('\n')}${lines.length ? '\n' : ''}\nApply complete! Resources: ${d.add.length} added, ${d.change.length} changed, ${d.destroy.length} destroyed.\n${outputsText(W.outputs)}`);
            }
            return 0;
          });
        }
        case 'output': {
          const { st } = snapshot();
          const W = readWs(st, layer);
          const outputs = W?.outputs ?? {};
          const name = positionals[1];
          if (name) {
            if (!outputs[name]) fail(box(`Output "${name}" not found`, 'The output variable requested could not be found in the state file. If you\nrecently added this to your configuration, be sure to run `terraform apply`,\nsince the state won\'t be updated with new output variables until that command\nis run.'));
            const v = outputs[name].value;
            if (flags.raw) {
              if (typeof v === 'object') fail(box('Unsupported value for raw output', `The -raw option only supports strings, numbers, and boolean values, but output value "${name}" is ${Array.isArray(v) ? 'a list' : 'a map'}.`));
              io.out(String(v));
            } else io.out(`${JSON.stringify(v, null, flags.json ? 0 : 2)}\n`);
            return 0;
          }
          if (flags.json) io.out(`${JSON.stringify(outputs, null, 2)}\n`);
          else if (!Object.keys(outputs).length) io.err(box('No outputs found', 'The state file either has no outputs defined, or all the defined outputs\nare empty. Please define an output in your configuration with the `output`\nkeyword and run `terraform refresh` for it to become available. If you are\nusing interpolation, please verify the interpolated value is not empty. You can\nuse the `terraform console` command to assist.').replace(/Error/, 'Warning'));
          else io.out(outputsText(outputs).replace(/^\nOutputs:\n\n/, ''));
          return 0;
        }
        case 'show': {
          const { st } = snapshot();
          const W = readWs(st, layer);
          if (!flags.json) {
            io.out(W?.resources?.length ? `${W.resources.map((r) => `# ${r.address}:`).join('\n')}\n` : 'The state file is empty. No resources are represented.\n');
            return 0;
          }
          const body = W?.resources?.length
            ? { format_version: '1.0', terraform_version: VERSION, values: { outputs: W.outputs, root_module: { resources: W.resources.map((r) => ({ address: r.address, mode: 'managed', type: r.type, name: r.address.split('.')[1].split('[')[0], values: r.attrs })) } } }
            : { format_version: '1.0' };
          io.out(`${JSON.stringify(body)}\n`);
          return 0;
        }
        case 'state': {
          if (positionals[1] !== 'list') fail(`lab: terraform state ${positionals[1]} is not simulated`, 64);
          const { st } = snapshot();
          const W = readWs(st, layer);
          io.out((W?.resources ?? []).map((r) => `${r.address}\n`).join(''));
          return 0;
        }
        default:
          fail(`lab: terraform ${sub} is not simulated (see test/lab/README.md)`, 64);
      }
      return 0;
    },
  };
});
