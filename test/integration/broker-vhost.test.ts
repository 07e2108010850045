/**
 * A vhost that does not exist on the broker (a typo in AMQP_URL or rascal.json) is named as such,
 * not reported as "no broker answers" while the broker plainly answered.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../runtime/config';
import { WarrenError } from '../../runtime/errors';
import { declareTopology } from '../../runtime/topology/declare';
import { amqpBase } from '../helpers/broker';

describe('a broker without the configured vhost', () => {
  it('says the vhost is missing and how to create it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warren-vhost-'));
    try {
      await mkdir(join(dir, 'functions'));
      await writeFile(join(dir, 'functions', 'a.ts'), 'export default async () => undefined;\n');
      const vhost = `warren-no-such-vhost-${process.pid}`;
      const config = await loadConfig({ dir, env: { AMQP_URL: `${amqpBase()}/${vhost}` } });
      const err = await declareTopology(config, { log: pino({ level: 'silent' }) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WarrenError);
      expect((err as WarrenError).message).toContain(`has no vhost "${vhost}"`);
      expect((err as WarrenError).details.hint).toContain(`rabbitmqctl add_vhost ${vhost}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
