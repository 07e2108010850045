import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, WarrenError, redactUrl } from '../../runtime/errors';

describe('the error catalogue', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

  it.each(Object.keys(ERROR_CODES))('documents %s in the README', (code) => {
    expect(readme).toContain(`| \`${code}\` |`);
  });

  it('formats an error with file, line, column, key, expectation, code and hint', () => {
    const err = new WarrenError('WARREN_E_CONFIG_TYPE', 'got "two"', {
      file: '/p/queues.yaml',
      line: 5,
      column: 15,
      key: 'functions.echo.replicas',
      expected: 'an integer >= 0',
      hint: 'write a whole number',
    });
    expect(err.format('/p')).toBe('queues.yaml:5:15 functions.echo.replicas: got "two" (expected an integer >= 0) [WARREN_E_CONFIG_TYPE]\n  hint: write a whole number');
  });

  it('never shows a password', () => {
    expect(redactUrl('amqp://user:s3cret@host:5672/vh')).toBe('amqp://user:***@host:5672/vh');
    expect(redactUrl('not a url://user:s3cret@host')).not.toContain('s3cret');
  });

  it('hides the password of every URL of a list and of every URL in a text', () => {
    const list = 'amqp://a:one@n1:5672/v,amqp://b:two@n2:5673/v, amqps://c:thr%40ee@n3:5671';
    expect(redactUrl(list)).toBe('amqp://a:***@n1:5672/v,amqp://b:***@n2:5673/v, amqps://c:***@n3:5671');
    const text = 'no broker answers at amqp://a:one@n1:5672 (ECONNREFUSED); also tried amqp://a:two@n2:5672 and http://u:p@n3:15672/api';
    expect(redactUrl(text)).not.toMatch(/one|two|:p@/);
    expect(redactUrl('amqp://u:p@ss@host:5672')).toBe('amqp://u:***@host:5672');
    expect(redactUrl('amqp://guest@host:5672')).toBe('amqp://guest@host:5672');
  });
});
