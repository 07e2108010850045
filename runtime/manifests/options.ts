/** What `warren manifests` can be told, and the defaults (each one explained in README.md, "Running in production"). */
export interface ManifestOptions {
  /** the image built from the Dockerfile */
  image: string;
  /** the Secret holding AMQP_URL, WARREN_ADMIN_TOKEN and RABBITMQ_MANAGEMENT_URL; never inlined */
  secretName: string;
  namespace?: string;
  /** generate only these functions */
  only?: readonly string[];
  /** KEDA's ceiling on pods per function */
  maxReplicas: number;
  adminPort: number;
}

export const MANIFEST_DEFAULTS = Object.freeze({
  image: 'warren:latest',
  secretName: 'warren',
  maxReplicas: 10,
  adminPort: 8080,
  /** seconds the preStop hook waits before SIGTERM (see deployment.ts) */
  preStopSeconds: 5,
  /** seconds allowed after the longest message timeout to settle, requeue and close connections */
  closeSeconds: 15,
  /** KEDA's smallest target of messages (ready + unacked) per pod */
  minMessagesPerPod: 20,
});

/** The keys `warren manifests` expects in the Secret. */
export const SECRET_KEYS = Object.freeze({
  amqpUrl: 'AMQP_URL',
  adminToken: 'WARREN_ADMIN_TOKEN',
  managementUrl: 'RABBITMQ_MANAGEMENT_URL',
});
