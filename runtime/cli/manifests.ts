/** `warren manifests [--only a,b]`: print Kubernetes YAML (Deployment + KEDA ScaledObject per function). */
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { generateManifests, MANIFEST_DEFAULTS, type ManifestOptions } from '../manifests';
import { EXIT } from '../errors';
import { parseCount, projectDir, reportFailure } from './common';

interface ManifestsFlags {
  dir?: string;
  only?: string;
  image?: string;
  secret?: string;
  namespace?: string;
  maxReplicas?: string;
}

export async function manifestsCommand(flags: ManifestsFlags, env: Record<string, string | undefined>): Promise<string> {
  const config = await loadConfig({ dir: projectDir(flags), env });
  const only = flags.only
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const options: Partial<ManifestOptions> = {
    ...(flags.image ? { image: flags.image } : {}),
    ...(flags.secret ? { secretName: flags.secret } : {}),
    ...(flags.namespace ? { namespace: flags.namespace } : {}),
    ...(flags.maxReplicas ? { maxReplicas: parseCount(flags.maxReplicas, '--max-replicas') } : {}),
    ...(only && only.length > 0 ? { only } : {}),
  };
  return generateManifests(config, options);
}

export function registerManifests(program: Command): void {
  program
    .command('manifests')
    .description('print Kubernetes YAML: a Deployment and a KEDA ScaledObject per function (pipe into kubectl apply -f -)')
    .option('--dir <dir>', 'project folder (holds queues.yaml, rascal.json, functions/)')
    .option('--only <names>', 'only these functions, comma-separated')
    .option('--image <image>', 'the image built from the Dockerfile', MANIFEST_DEFAULTS.image)
    .option('--secret <name>', 'Secret with AMQP_URL, WARREN_ADMIN_TOKEN, RABBITMQ_MANAGEMENT_URL', MANIFEST_DEFAULTS.secretName)
    .option('--namespace <namespace>', 'namespace to put in every object')
    .option('--max-replicas <n>', 'most pods KEDA may run per function', String(MANIFEST_DEFAULTS.maxReplicas))
    .action(async (flags: ManifestsFlags) => {
      try {
        process.stdout.write(await manifestsCommand(flags, process.env));
        process.exitCode = EXIT.OK;
      } catch (err) {
        process.exitCode = reportFailure(err, projectDir(flags));
      }
    });
}
