/**
 * Issue: `amqps://` connections work and are documented (README.md, "Running in production", "TLS"). No TLS broker
 * runs here, so this checks what Warren controls: an amqps URL from AMQP_URL and the TLS socket options
 * from rascal.json (private CA, client certificate, PEM text from the environment) reach the rascal
 * connection of both the topology declaration and every replica, unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../runtime/config';
import { buildTopology } from '../../runtime/topology/rascal-config';
import { replicaConnection } from '../../runtime/replica-protocol/connection';
import { createProject, type Project } from '../helpers/runtime';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\nline2\n-----END CERTIFICATE-----\n';

describe('amqps:// with TLS options from rascal.json', () => {
  let project: Project;
  beforeAll(async () => {
    project = await createProject(
      'functions:\n  work: {}\n',
      { work: 'export default async () => {};\n' },
      {
        vhosts: {
          orders: {
            connection: {
              socketOptions: { ca: ['${RABBITMQ_CA_PEM}'], cert: '${RABBITMQ_CLIENT_CERT_PEM:-}', servername: 'rabbitmq.prod' },
            },
          },
        },
      },
    );
  });
  afterAll(() => project?.remove());

  it('connects with the amqps URL and passes the socket options to every connection', async () => {
    const env = { AMQP_URL: 'amqps://orders:pa55@rabbitmq.prod:5671/orders', RABBITMQ_CA_PEM: CA };
    const config = await loadConfig({ dir: project.dir, env });
    expect(config.url).toBe(env.AMQP_URL);
    expect(config.vhost).toBe('orders');
    const declaring = (buildTopology(config) as { vhosts: Record<string, { connection: { url: string; socketOptions?: Record<string, unknown> } }> }).vhosts
      .orders!.connection;
    for (const connection of [declaring, replicaConnection(config, 'work')]) {
      expect(new URL(connection.url).protocol).toBe('amqps:');
      expect(new URL(connection.url).port).toBe('5671');
      expect(connection.socketOptions).toEqual({ ca: [CA], cert: '', servername: 'rabbitmq.prod' });
    }
  });
});
