/**
 * A vhost that does not exist on the broker (a typo in AMQP_URL or rascal.json) is named as such,
 * not reported as "no broker answers" while the broker plainly answered; so are refused credentials,
 * by `warren start` and by the commands that talk to the broker straight (publish, dlq).
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
import { createProject, runWarren } from '../helpers/runtime';

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

  it('publish and dlq name the missing vhost, and refused credentials, with what to do; exit 1', async () => {
    const project = await createProject('functions:\n  a: {}\n', { a: 'export default async () => undefined;\n' });
    try {
      const vhost = `warren-no-such-vhost-${process.pid}`;
      const missing = { AMQP_URL: `${amqpBase()}/${vhost}` };
      for (const args of [
        ['publish', '', 'a', '{}'],
        ['dlq', 'list', 'a'],
      ]) {
        const out = await runWarren([...args, '--dir', project.dir], missing);
        expect(out.code).toBe(1);
        expect(out.stderr).toContain(`has no vhost "${vhost}" (or the user may not use it)`);
        expect(out.stderr).toContain(`rabbitmqctl add_vhost ${vhost}`);
      }
      const url = new URL(amqpBase());
      url.password = 'not-the-password';
      const wrong = { AMQP_URL: url.toString() };
      const refused = await runWarren(['publish', '', 'a', '{}', '--dir', project.dir], wrong);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('refused the credentials');
      expect(refused.stderr).toContain('check the user and password in AMQP_URL');
      expect(refused.stderr).not.toContain('not-the-password');
    } finally {
      await project.remove();
    }
  });
});
