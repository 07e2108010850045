import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { FunctionConfig, WarrenConfig } from '../../runtime/config/types';
import { functionConfig } from '../testkit/function-config';
import { WarrenError } from '../../runtime/errors';
import { generateManifests, PROBE_SCRIPT, resourceName } from '../../runtime/manifests';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML documents, walked by key
type Obj = Record<string, any>;

const fn = (name: string, extra: Partial<FunctionConfig> = {}): FunctionConfig => functionConfig(name, extra, '/project');

function config(...fns: FunctionConfig[]): WarrenConfig {
  return {
    dir: '/project',
    url: 'amqps://orders:s3cret-pa55@rabbit.internal:5671/prod',
    vhost: 'prod',
    rascal: {},
    exchanges: {},
    queues: {},
    bindings: [],
    functions: Object.fromEntries(fns.map((f) => [f.name, f])),
  };
}

function parse(text: string): Obj[] {
  const docs = parseAllDocuments(text);
  for (const doc of docs) expect(doc.errors).toEqual([]);
  return docs.map((d) => d.toJS() as Obj);
}

const find = (docs: Obj[], kind: string, name: string): Obj | undefined => docs.find((d) => d.kind === kind && d.metadata?.name === name);
const container = (deployment: Obj): Obj => deployment.spec.template.spec.containers[0];

describe('warren manifests', () => {
  const cfg = config(
    fn('resize-image', { replicas: 3, prefetch: 50, timeout: 120_000 }),
    fn('send-email', { queue: 'emails' }),
    fn('ledger', { ordered: true }),
  );
  const docs = parse(generateManifests(cfg, { image: 'registry.example/warren:1.2.3' }));

  it('emits one Deployment per function, starting replicas from queues.yaml, each running only its function', () => {
    const deployments = docs.filter((d) => d.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(['warren-ledger', 'warren-resize-image', 'warren-send-email']);
    const resize = find(docs, 'Deployment', 'warren-resize-image')!;
    expect(resize.spec.replicas).toBe(3);
    expect(resize.spec.selector.matchLabels).toEqual(resize.spec.template.metadata.labels);
    const c = container(resize);
    expect(c.image).toBe('registry.example/warren:1.2.3');
    expect(c.args.slice(0, 3)).toEqual(['start', '--only', 'resize-image']);
  });

  it('never writes credentials inline: the AMQP URL and the admin token come from the Secret', () => {
    const text = generateManifests(cfg);
    expect(text).not.toContain('s3cret-pa55');
    expect(text).not.toContain('rabbit.internal');
    const env = container(find(docs, 'Deployment', 'warren-send-email')!).env as Obj[];
    const byName = Object.fromEntries(env.map((e) => [e.name, e]));
    expect(byName.AMQP_URL).toEqual({ name: 'AMQP_URL', valueFrom: { secretKeyRef: { name: 'warren', key: 'AMQP_URL' } } });
    expect(byName.WARREN_ADMIN_TOKEN.valueFrom.secretKeyRef).toEqual({ name: 'warren', key: 'WARREN_ADMIN_TOKEN' });
    expect(byName.WARREN_ADMIN_HOST.value).toBe('0.0.0.0');
    for (const e of env) if (e.name !== 'WARREN_ADMIN_HOST' && e.name !== 'WARREN_ADMIN_PORT') expect(e.value).toBeUndefined();
    const auth = docs.find((d) => d.kind === 'TriggerAuthentication')!;
    expect(auth.spec.secretTargetRef).toEqual([{ parameter: 'host', name: 'warren', key: 'RABBITMQ_MANAGEMENT_URL' }]);
  });

  it('probes readiness and liveness on the admin API with the bearer token, the same script as the Docker HEALTHCHECK', () => {
    const c = container(find(docs, 'Deployment', 'warren-send-email')!);
    expect(c.readinessProbe.exec.command).toEqual(['node', '-e', PROBE_SCRIPT, '/readyz']);
    expect(c.livenessProbe.exec.command).toEqual(['node', '-e', PROBE_SCRIPT, '/healthz']);
    expect(PROBE_SCRIPT).toContain("'Bearer '+t");
    expect(PROBE_SCRIPT).toContain('process.env.WARREN_ADMIN_TOKEN');
    const dockerfile = readFileSync(fileURLToPath(new URL('../../Dockerfile', import.meta.url)), 'utf8');
    const cmd = /^HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(cmd, 'the Dockerfile has a HEALTHCHECK … CMD [exec form]').toBeDefined();
    expect(JSON.parse(cmd!)).toEqual(['node', '-e', PROBE_SCRIPT, '/healthz']);
  });

  it('gives every pod time to drain: preStop plus the longest message timeout fit in terminationGracePeriodSeconds', () => {
    for (const [name, timeoutSeconds] of [
      ['warren-resize-image', 120],
      ['warren-send-email', 30],
    ] as const) {
      const d = find(docs, 'Deployment', name)!;
      const pre = container(d).lifecycle.preStop.exec.command as string[];
      const preStopSeconds = Number(pre[pre.length - 1]);
      expect(preStopSeconds).toBeGreaterThan(0);
      expect(d.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(preStopSeconds + timeoutSeconds);
    }
  });

  it('runs as a non-root user with a read-only root filesystem and a writable /tmp for handler bundles', () => {
    const d = find(docs, 'Deployment', 'warren-send-email')!;
    expect(d.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    expect(container(d).securityContext.readOnlyRootFilesystem).toBe(true);
    expect(container(d).volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
  });

  it('autoscales each function with KEDA on its own queue, counting unacked messages so busy pods are not scaled away', () => {
    const so = find(docs, 'ScaledObject', 'warren-send-email')!;
    expect(so.spec.scaleTargetRef.name).toBe('warren-send-email');
    const [trigger] = so.spec.triggers as Obj[];
    expect(trigger!.type).toBe('rabbitmq');
    expect(trigger!.metadata).toMatchObject({ queueName: 'emails', protocol: 'http', mode: 'QueueLength', excludeUnacknowledged: 'false' });
    expect(trigger!.authenticationRef.name).toBe(docs.find((d) => d.kind === 'TriggerAuthentication')!.metadata.name);
    const resize = find(docs, 'ScaledObject', 'warren-resize-image')!;
    expect(resize.spec.minReplicaCount).toBe(3);
    // one pod's full prefetch of unacked messages alone never asks for a second pod
    expect(Number(resize.spec.triggers[0].metadata.value)).toBeGreaterThanOrEqual(50);
  });

  it("counts the prefetch a replica really uses: a batch function's whole batch is held by one pod", () => {
    const text = generateManifests(config(fn('ingest', { batch: { size: 100, windowMs: 200 } })), { image: 'registry.example/warren:1.2.3' });
    const so = find(parse(text), 'ScaledObject', 'warren-ingest')!;
    expect(Number(so.spec.triggers[0].metadata.value)).toBe(100);
    expect(text).toContain('function ingest: queue ingest, 1 pod(s) to start, prefetch 100');
  });

  it('does not autoscale an ordered function (single active consumer: extra pods only stand by)', () => {
    expect(find(docs, 'Deployment', 'warren-ledger')).toBeDefined();
    expect(find(docs, 'ScaledObject', 'warren-ledger')).toBeUndefined();
  });

  it('--only limits the output to the named functions and rejects unknown names', () => {
    const only = parse(generateManifests(cfg, { only: ['send-email'] }));
    expect(only.filter((d) => d.kind !== 'TriggerAuthentication').map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'Deployment/warren-send-email',
      'ScaledObject/warren-send-email',
    ]);
    let thrown: unknown;
    try {
      generateManifests(cfg, { only: ['nope'] });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(WarrenError);
    expect((thrown as WarrenError).code).toBe('WARREN_E_UNKNOWN_FUNCTION');
  });

  it('puts the namespace and Secret name where asked', () => {
    const ns = parse(generateManifests(cfg, { namespace: 'jobs', secretName: 'rabbit-creds' }));
    for (const d of ns) expect(d.metadata.namespace).toBe('jobs');
    expect(JSON.stringify(ns)).toContain('"rabbit-creds"');
    expect(JSON.stringify(ns)).not.toContain('"name":"warren","key"');
  });

  it('maps every function name to a distinct valid object name', () => {
    const names = ['Send_Email', 'send-email', 'send_email', 'a'.repeat(80), 'x.y'].map((n) => resourceName(n));
    for (const n of names) expect(n).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
    expect(new Set(names).size).toBe(names.length);
    expect(resourceName('send-email')).toBe('warren-send-email');
  });
});

describe('warren manifests and rateLimit', () => {
  it('says next to a rate-limited function that the limit holds per pod', () => {
    const out = generateManifests(config(fn('limited', { rateLimit: { count: 100, periodMs: 1_000 } }), fn('free')), { maxReplicas: 4 });
    expect(out).toContain('rateLimit 100/s holds per pod: 4 pods may start up to 400/s together');
    expect(out.match(/holds per pod/g)).toHaveLength(1);
  });
});
