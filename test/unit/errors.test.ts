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
});
