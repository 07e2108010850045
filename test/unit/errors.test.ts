import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { ERRORS, EXIT, WarrenError, WarrenErrors, redactUrl, type ErrorCode } from '../../runtime/errors';
import { errorReply, fail } from '../../runtime/admin/replies';
import { reportFailure } from '../../runtime/cli/common';

describe('the error catalogue', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

  const codes = Object.keys(ERRORS) as ErrorCode[];

  it.each(codes)('documents %s in the README', (code) => {
    expect(readme).toContain(`| \`${code}\` |`);
  });

  it.each(codes)('gives %s a description, an HTTP error status and an exit code', (code) => {
    const { description, http, exit } = ERRORS[code];
    expect(description.length).toBeGreaterThan(10);
    expect(http).toBeGreaterThanOrEqual(400);
    expect(http).toBeLessThan(600);
    expect([EXIT.RUNTIME, EXIT.BAD_INPUT]).toContain(exit);
  });

  it.each(codes)('the admin API and the CLI answer %s as the catalogue says', (code) => {
    expect(errorReply(new WarrenError(code, 'x')).status).toBe(ERRORS[code].http);
    expect(fail(code, 'x').status).toBe(ERRORS[code].http);
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(reportFailure(new WarrenError(code, 'x'))).toBe(ERRORS[code].exit);
    } finally {
      write.mockRestore();
    }
  });

  it("several problems exit 1 only when every one is the world's fault", () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const unreachable = new WarrenError('WARREN_E_BROKER_UNREACHABLE', 'down');
      expect(reportFailure(new WarrenErrors([unreachable, unreachable]))).toBe(EXIT.RUNTIME);
      expect(reportFailure(new WarrenErrors([unreachable, new WarrenError('WARREN_E_CONFIG_TYPE', 'bad')]))).toBe(EXIT.BAD_INPUT);
    } finally {
      write.mockRestore();
    }
  });

  it('has no code README documents but the catalogue lacks', () => {
    const documented = [...readme.matchAll(/^\| `(WARREN_E_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...codes].sort());
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
    expect(err.format('/p')).toBe(
      'queues.yaml:5:15 functions.echo.replicas: got "two" (expected an integer >= 0) [WARREN_E_CONFIG_TYPE]\n  hint: write a whole number',
    );
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
