/** Hostile config text against the pure parsers, and passwords against the URL redaction. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../runtime/errors';
import { parseYamlSource } from '../../runtime/config/source';
import { parseRascalJson } from '../../runtime/config/rascal-json';
import { urlProblem } from '../../runtime/config/connection';

describe('redactUrl', () => {
  it('never prints a password, whatever characters it holds, raw or encoded', () => {
    const password = fc
      .string({ minLength: 6, maxLength: 30, unit: fc.constantFrom(...'aZ9@:/%#?&=+ ,;[]\\!$é'.split('')) })
      .filter((p) => /[a-zA-Z9é]{2}/.test(p));
    fc.assert(
      fc.property(password, fc.boolean(), fc.constantFrom('', '/', '/vhost', ':5672/%2F'), (pw, encode, tail) => {
        const shown = encode ? encodeURIComponent(pw) : pw;
        const url = `amqp://guest:${shown}@rabbit.local${tail}`;
        const redacted = redactUrl(url);
        expect(redacted).not.toContain(shown);
        expect(redacted.startsWith('amqp://guest:***@')).toBe(true);
        // a list of URLs (a cluster) is redacted URL by URL
        expect(redactUrl(`${url},amqps://guest:${shown}@other:5671`)).not.toContain(shown);
      }),
      { numRuns: 500 },
    );
    expect(redactUrl('amqp://guest:S3cr@t:/%#x?y@127.0.0.1:5672/')).toBe('amqp://guest:***@127.0.0.1:5672/');
    expect(redactUrl('amqp://a:one@h1,amqp://b:two@h2/v')).toBe('amqp://a:***@h1,amqp://b:***@h2/v');
    expect(redactUrl('amqp://127.0.0.1:5672')).toBe('amqp://127.0.0.1:5672');
    // a URL with its scheme left out still hides the password
    expect(redactUrl('guest:Secr3tPW@127.0.0.1')).toBe('guest:***@127.0.0.1');
    expect(redactUrl('amqp:/guest:Secr3tPW@127.0.0.1')).not.toContain('Secr3tPW');
    expect(redactUrl('guest:a1@h1,guest:b2@h2')).not.toMatch(/a1|b2/);
    expect(redactUrl('127.0.0.1:5672')).toBe('127.0.0.1:5672');
    expect(redactUrl('amqp:/guest:Secr3tPW@127.0.0.1')).toBe('amqp:/guest:***@127.0.0.1');
  });
});

describe('urlProblem', () => {
  it('refuses a URL whose scheme lacks its two slashes, which parses with no host and the whole text as the vhost', () => {
    const problem = urlProblem('amqp:/guest:Secr3tPW@127.0.0.1:5672/v');
    expect(problem).toMatch(/names no host: write amqp:\/\/user:password@host:5672\/vhost, with two slashes/);
    expect(problem).not.toContain('Secr3tPW');
    expect(urlProblem('amqps:guest:Secr3tPW@host/v')).not.toContain('Secr3tPW');
    expect(urlProblem('amqp:///v')).toMatch(/names no host/);
  });

  it('shows only the scheme of a value that is not an AMQP URL, which may be a password typed where the URL goes', () => {
    expect(urlProblem('notaurl:Secr3tPW')).toBe('the URL begins "notaurl:", not amqp:// or amqps://');
    expect(urlProblem('guest:Secr3tPW@127.0.0.1')).toBe('the URL begins "guest:", not amqp:// or amqps://');
    expect(urlProblem('http://guest:Secr3tPW@h')).not.toContain('Secr3tPW');
  });

  it('says to percent-encode a password that breaks the URL', () => {
    const problem = urlProblem('amqp://guest:pa#Secr3t@127.0.0.1:5672/v');
    expect(problem).toMatch(/must be percent-encoded: # as %23/);
    expect(problem).not.toContain('Secr3t');
    // it parses, with host `t`, and a path that does not decode
    const raw = urlProblem('amqp://guest:S3cr@t:/%#x?y@127.0.0.1:5672/');
    expect(raw).toMatch(/is not a valid URL/);
    expect(raw).not.toMatch(/S3cr|%#x/);
  });

  it('passes what amqplib connects to', () => {
    for (const ok of ['amqp://guest:guest@127.0.0.1:5672/v', 'amqps://h', 'AMQP://h:5672', 'amqp://guest:p%23w@h/%2F', 'amqp://[::1]:5672'])
      expect(urlProblem(ok)).toBeNull();
  });
});

describe('parseYamlSource against hostile YAML', () => {
  it('refuses a tagged value or a key that is a collection at its place, once, instead of 101 problems or a silent drop', () => {
    const one = (text: string) =>
      parseYamlSource('queues.yaml', text, {}).errors.map((e) => ({ message: e.message, line: e.details.line, column: e.details.column }));
    expect(one('functions:\n  hello: !!binary aGVsbG8=\n')).toEqual([{ message: 'the YAML tag !!binary is not read here', line: 2, column: 19 }]);
    expect(one('functions:\n  hello: { prefetch: 5 }\nx: !custom {}\n')).toEqual([{ message: 'the YAML tag !custom is not read here', line: 3, column: 12 }]);
    expect(one('functions:\n  ? [a, b]\n  : 1\n')).toEqual([{ message: 'a key must be a plain name', line: 2, column: 5 }]);
    // the plain tags are plain values
    expect(parseYamlSource('queues.yaml', 'functions:\n  hello: { queue: !!str 123 }\n', {}).errors).toEqual([]);
  });

  it('refuses an alias bomb without expanding it, at the first alias', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [prev, name] of [
      ['a', 'b'],
      ['b', 'c'],
      ['c', 'd'],
      ['d', 'e'],
      ['e', 'f'],
      ['f', 'g'],
      ['g', 'h'],
      ['h', 'i'],
      ['i', 'j'],
    ])
      lines.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    const parsed = parseYamlSource('/p/queues.yaml', lines.join('\n'), {});
    expect(parsed.value).toBeUndefined();
    expect(parsed.errors.map((e) => [e.code, e.details.line])).toEqual([['WARREN_E_CONFIG_SYNTAX', 2]]);
    expect(parsed.errors[0]!.message).toMatch(/aliases expand too far/);
  });

  it("stops walking past 100,000 values even within yaml's alias limit", () => {
    const big = 'k: &k [' + Array(2_000).fill('1').join(',') + ']\n' + Array.from({ length: 60 }, (_, i) => `u${i}: *k`).join('\n');
    const parsed = parseYamlSource('/p/queues.yaml', big, {});
    expect(parsed.errors.map((e) => e.code)).toEqual(['WARREN_E_CONFIG_SYNTAX']);
    expect(parsed.errors[0]!.message).toMatch(/more than 100000 values/);
  });

  it('still expands a few honest aliases, with positions', () => {
    const parsed = parseYamlSource('/p/queues.yaml', 'defaults: &d { replicas: 2 }\nfunctions:\n  a: *d\n  b: *d\n', {});
    expect(parsed.errors).toEqual([]);
    expect(parsed.value).toEqual({ defaults: { replicas: 2 }, functions: { a: { replicas: 2 }, b: { replicas: 2 } } });
    expect(parsed.at.get('/functions/b/replicas')?.value.line).toBe(1);
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: fc.constantFrom(...'ab:-&*[]{}, \n\t#"\'!|>%@`$'.split('')) }), (text) => {
        const parsed = parseYamlSource('/p/queues.yaml', text, {});
        for (const e of parsed.errors) expect(e.details.line).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('parseRascalJson', () => {
  it('reports a key written twice, at the second one', () => {
    const parsed = parseRascalJson('/p/rascal.json', '{\n  "vhosts": {},\n  "vhosts": { "/": {} }\n}', {});
    expect(parsed.errors.map((e) => [e.code, e.details.line, e.details.key, e.message])).toEqual([
      ['WARREN_E_CONFIG_SYNTAX', 3, 'vhosts', '"vhosts" appears twice in the same object, first at line 2, column 3'],
    ]);
  });
  it('reads JSON with tabs and no duplicates as before', () => {
    expect(parseRascalJson('/p/rascal.json', '{\n\t"vhosts": {\n\t\t"/": {}\n\t}\n}', {}).errors).toEqual([]);
  });
});

describe('parseRascalJson with AMQP_URL set', () => {
  const text = JSON.stringify({
    vhosts: {
      'pclu-z': {
        connections: [{ hostname: 'n1', user: 'app', password: '${RPW}' }, 'amqp://app:${RPW}@n2/pclu-z'],
        queues: { q: { options: { arguments: { 'x-note': '${NOTE}' } } } },
      },
    },
  });

  it('needs no variable of the connection settings it overrides, and every other one', () => {
    const without = parseRascalJson('/p/rascal.json', text, {}).errors.map((e) => e.message);
    expect(without.filter((m) => m.includes('RPW'))).toHaveLength(2);
    const withUrl = parseRascalJson('/p/rascal.json', text, { AMQP_URL: 'amqp://app:pw@n1/pclu-z' }).errors.map((e) => e.message);
    expect(withUrl).toEqual(['environment variable NOTE is not set']);
  });
});
