import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { TERRAFORM_LAYERS, generatedPaths } from '../configure/render.ts';
import { REPO_ROOT } from '../core/paths.ts';
import { CommandError } from '../core/runner.ts';
import { planFile, prepareLayer, readInfrastructureOutputs, terraformEnv } from '../terraform/layers.ts';
import * as tf from '../terraform/terraform.ts';
import { BootstrapError } from './errors.ts';
import { act, deadline, parallel, type PhaseContext, type PhaseOutcome } from './steps.ts';

// Phase 2: Terraform layers in dependency order (00-persistent-auth, then 01-infrastructure). Each layer: init,
// workspace <cluster>, plan -detailed-exitcode -out FILE, and apply of exactly that plan only when it has changes.

export async function infra(p: PhaseContext): Promise<PhaseOutcome> {
  const c = p.config;
  const env = terraformEnv(p);
  const opts = { cwd: REPO_ROOT, env, timeoutMs: deadline(p, 'terraformOther') };
  let applied = 0;
  const done: string[] = [];
  // init and workspace of every layer are independent of the others' state: all at once, then plan/apply in order.
  await parallel(p, TERRAFORM_LAYERS, (layer) =>
    prepareLayer(p, layer, opts, `terraform init failed in terraform/${layer}: check the provider/backend configuration and network`),
  );
  for (const layer of TERRAFORM_LAYERS) {
    const varFile = join(REPO_ROOT, generatedPaths(c.cluster.name).tfvars(layer));
    const plan = planFile(p, layer);
    const res = await act(p, tf.planArgv(layer, varFile, plan), { ...opts, check: false });
    const outcome = res.dryRun ? 'changes' : tf.planOutcome(res.exitCode);
    if (outcome === 'error') {
      throw new CommandError(res, `read the plan error above; fix terraform/${layer} or ${generatedPaths(c.cluster.name).tfvars(layer)} (task configure), then re-run: the infra phase starts again with a fresh plan`);
    }
    if (outcome === 'no-changes') {
      p.note(`${layer}: no changes`);
      done.push(`${layer} unchanged`);
      if (!p.runner.dryRun) rmSync(plan, { force: true });
      continue;
    }
    await act(p, tf.applyPlanArgv(layer, plan), {
      ...opts,
      timeoutMs: deadline(p, 'terraformApply'),
      hint: `terraform apply of terraform/${layer} failed: read the error, fix it, and run \`task bootstrap\` again (a new plan is made; resources already created are kept)`,
    });
    if (!p.runner.dryRun) rmSync(plan, { force: true });
    applied++;
    done.push(`${layer} applied`);
  }

  // Verify: the outputs the talos phase needs exist.
  const out = await readInfrastructureOutputs(p);
  if (!out.dryRun) {
    if (!out.ok) throw new CommandError(out, 'terraform output failed: is the 01-infrastructure state readable?');
    try {
      const o = tf.infrastructureOutputs(tf.parseOutputs(out.stdout));
      p.facts.installerImage = o.installerImage;
      p.facts.schematicId = o.schematicId;
    } catch (err) {
      throw new BootstrapError((err as Error).message, 'terraform/01-infrastructure must output schematic_id and installer_image (see docs/bootstrap.md)');
    }
  }
  return { changed: applied > 0, summary: done.join(', ') };
}
