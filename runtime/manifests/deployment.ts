/** One function's Deployment: pure, a validated FunctionConfig → a plain Kubernetes object. */
import type { FunctionConfig } from '../config/types';
import { functionLabels, resourceName } from './names';
import { MANIFEST_DEFAULTS, SECRET_KEYS, type ManifestOptions } from './options';
import { probeCommand } from './probe';

type Obj = Record<string, unknown>;

/**
 * Seconds Kubernetes waits between the preStop hook starting and SIGKILL: the preStop pause, then the
 * drain Warren runs on SIGTERM (stop consuming, let in-flight messages finish up to the function's
 * timeout), then time to requeue, settle and close. Anything still unacked at SIGKILL would return
 * to the queue anyway (at-least-once), but as a redelivery instead of a clean finish.
 */
export function terminationGraceSeconds(fn: FunctionConfig): number {
  return MANIFEST_DEFAULTS.preStopSeconds + Math.ceil(fn.timeout / 1000) + MANIFEST_DEFAULTS.closeSeconds;
}

/** Memory for one pod: the replica's heap limit plus the main thread, esbuild and buffers. */
export function memoryLimitMi(fn: FunctionConfig): number {
  return fn.memoryMb + 192;
}

function secretEnv(name: string, secretName: string, key: string): Obj {
  return { name, valueFrom: { secretKeyRef: { name: secretName, key } } };
}

export function buildDeployment(fn: FunctionConfig, options: ManifestOptions): Obj {
  const name = resourceName(fn.name);
  const labels = functionLabels(fn.name);
  const port = options.adminPort;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, ...(options.namespace ? { namespace: options.namespace } : {}), labels },
    spec: {
      // One pod is one consumer of the function's queue: `replicas` pods here give the same number of
      // consumers as `replicas` worker threads in one `warren start`. KEDA takes over from this count.
      replicas: fn.replicas,
      selector: { matchLabels: labels },
      // A new version starts consuming before an old pod drains, so capacity never dips in a rollout.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: terminationGraceSeconds(fn),
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'warren',
              image: options.image,
              args: ['start', '--only', fn.name, '--replicas', '1'],
              env: [
                // Beyond loopback so Prometheus can scrape /metrics; the admin API then demands the token.
                { name: 'WARREN_ADMIN_HOST', value: '0.0.0.0' },
                { name: 'WARREN_ADMIN_PORT', value: String(port) },
                secretEnv('AMQP_URL', options.secretName, SECRET_KEYS.amqpUrl),
                secretEnv('WARREN_ADMIN_TOKEN', options.secretName, SECRET_KEYS.adminToken),
              ],
              ports: [{ name: 'admin', containerPort: port, protocol: 'TCP' }],
              startupProbe: { exec: { command: probeCommand('/healthz') }, periodSeconds: 2, timeoutSeconds: 5, failureThreshold: 30 },
              // Not ready while the broker is unreachable or a replica is down: a rollout waits for it.
              readinessProbe: { exec: { command: probeCommand('/readyz') }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
              // Alive means the process answers; a broker outage must not restart the pod (Warren reconnects).
              livenessProbe: { exec: { command: probeCommand('/healthz') }, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 },
              lifecycle: { preStop: { exec: { command: ['sleep', String(MANIFEST_DEFAULTS.preStopSeconds)] } } },
              resources: {
                requests: { cpu: '100m', memory: `${memoryLimitMi(fn)}Mi` },
                limits: { memory: `${memoryLimitMi(fn)}Mi` },
              },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              // Handler bundles are built at start into the temp folder; the root filesystem stays read-only.
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
            },
          ],
          volumes: [{ name: 'tmp', emptyDir: {} }],
        },
      },
    },
  };
}
