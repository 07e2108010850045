/** KEDA autoscaling on a function's queue depth: pure, a validated FunctionConfig → plain objects. */
import type { FunctionConfig } from '../config/types';
import { effectivePrefetch } from '../config/prefetch';
import { functionLabels, resourceName } from './names';
import { MANIFEST_DEFAULTS, SECRET_KEYS, type ManifestOptions } from './options';

type Obj = Record<string, unknown>;

export const TRIGGER_AUTH_NAME = 'warren-rabbitmq';

/**
 * Target messages per pod. Never below the prefetch a replica really uses (a batch raises it, a
 * rate caps it: runtime/config/prefetch.ts): one pod holding its full prefetch of unacked messages
 * must not by itself ask for a second pod.
 */
export function messagesPerPod(fn: FunctionConfig): number {
  return Math.max(MANIFEST_DEFAULTS.minMessagesPerPod, effectivePrefetch(fn).prefetch);
}

/** The one TriggerAuthentication every ScaledObject uses: the management URL comes from the Secret. */
export function buildTriggerAuthentication(options: ManifestOptions): Obj {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'TriggerAuthentication',
    metadata: { name: TRIGGER_AUTH_NAME, ...(options.namespace ? { namespace: options.namespace } : {}), labels: { 'app.kubernetes.io/name': 'warren' } },
    spec: { secretTargetRef: [{ parameter: 'host', name: options.secretName, key: SECRET_KEYS.managementUrl }] },
  };
}

export function buildScaledObject(fn: FunctionConfig, options: ManifestOptions): Obj {
  const name = resourceName(fn.name);
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name, ...(options.namespace ? { namespace: options.namespace } : {}), labels: functionLabels(fn.name) },
    spec: {
      scaleTargetRef: { name },
      minReplicaCount: fn.replicas,
      maxReplicaCount: Math.max(options.maxReplicas, fn.replicas),
      triggers: [
        {
          type: 'rabbitmq',
          metadata: {
            // The management API (not AMQP) reports ready + unacked messages. Counting the unacked
            // ones keeps pods that are busy with work from being scaled away.
            protocol: 'http',
            mode: 'QueueLength',
            value: String(messagesPerPod(fn)),
            queueName: fn.queue,
            excludeUnacknowledged: 'false',
          },
          authenticationRef: { name: TRIGGER_AUTH_NAME },
        },
      ],
    },
  };
}
