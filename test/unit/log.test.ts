/** The runtime's log lines (runtime/log.ts), read back as JSON: secrets masked, every other value written as it is. */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../runtime/log';

function capture(base?: Record<string, unknown>) {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    ...(base ? { base } : {}),
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { log, lines };
}

describe('log lines', () => {
  it('masks passwords and URL credentials at the top and one object down, and in bindings', () => {
    const { log, lines } = capture({ url: 'amqp://app:base-secret@h/' });
    log.child({ password: 'child-secret' }).info(
      {
        url: 'amqp://guest:top-secret@broker:5672/v',
        password: 'pw1',
        conn: { url: 'amqps://u:inner-secret@h2', password: 'pw2', port: 5671 },
        endpoint: new URL('http://x:url-object-secret@example.com/p'),
      },
      'connecting',
    );
    const text = JSON.stringify(lines);
    for (const secret of ['base-secret', 'child-secret', 'top-secret', 'pw1', 'inner-secret', 'pw2', 'url-object-secret']) expect(text).not.toContain(secret);
    const [line] = lines;
    expect(line).toMatchObject({
      url: 'amqp://guest:***@broker:5672/v',
      password: '[redacted]',
      conn: { url: 'amqps://u:***@h2', password: '[redacted]', port: 5671 },
      endpoint: 'http://x:***@example.com/p',
      msg: 'connecting',
    });
  });

  it('writes a Buffer, a typed array and a URL object as JSON would (a handler logging ctx.raw)', () => {
    const { log, lines } = capture();
    expect(() =>
      log.info(
        {
          raw: Buffer.from('Test!'),
          bytes: new Uint8Array([1, 2]),
          at: new Date(0),
          site: new URL('https://example.com/a?b=1'),
          nested: { raw: Buffer.from('x') },
        },
        'got',
      ),
    ).not.toThrow();
    expect(lines[0]).toMatchObject({
      raw: { type: 'Buffer', data: [...Buffer.from('Test!')] },
      bytes: { 0: 1, 1: 2 },
      at: '1970-01-01T00:00:00.000Z',
      site: 'https://example.com/a?b=1',
      nested: { raw: { type: 'Buffer', data: [120] } },
    });
  });

  it('writes the rest of a line whose object has a getter that throws, as pino does', () => {
    const { log, lines } = capture();
    const odd = {
      get boom(): string {
        throw new Error('no');
      },
      url: 'amqp://u:getter-secret@h',
    };
    expect(() => log.info({ odd, n: 1 }, 'odd')).not.toThrow();
    expect(lines[0]).toMatchObject({ n: 1, msg: 'odd' });
    expect(JSON.stringify(lines)).not.toContain('getter-secret');
  });

  it('keeps an error whole under err while masking a url it carries', () => {
    const { log, lines } = capture();
    const err = Object.assign(new Error('connect ECONNREFUSED'), { url: 'amqp://guest:err-secret@h', code: 'ECONNREFUSED' });
    log.warn({ err }, 'failed');
    const logged = lines[0]!.err as Record<string, unknown>;
    expect(logged).toMatchObject({ type: 'Error', message: 'connect ECONNREFUSED', url: 'amqp://guest:***@h', code: 'ECONNREFUSED' });
    expect(String(logged.stack)).toContain('connect ECONNREFUSED');
    expect(JSON.stringify(lines)).not.toContain('err-secret');
    // the caller's error is not changed
    expect(err.url).toBe('amqp://guest:err-secret@h');
  });
});
