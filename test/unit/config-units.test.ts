import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDuration, interpolate, parseDuration, parseMemoryMb, parseShorthandBinding, parseSize, resolveConnection } from '../../runtime/config/index';
import { DURATION_PATTERN, SIZE_PATTERN } from '../../runtime/config/units';
import { discoverHandlers, selectHandlers } from '../../runtime/functions/discover';
import { handler, project } from '../fixtures/config/project';

describe('parseDuration', () => {
  it.each([
    [250, 250],
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['1.5s', 1_500],
    ['1d2h', 93_600_000],
  ])('%s → %s ms', (input, ms) => expect(parseDuration(input)).toBe(ms));

  it.each(['30 seconds', '5s1m', '1s1s', '', 's', '-1s', -5, '10'])('refuses %s', (input) => expect(parseDuration(input)).toBeUndefined());

  it('formats back to the compact form retry queue names use', () => {
    expect([1_000, 2_000, 90_000, 1_500, 3_600_000, 0].map(formatDuration)).toEqual(['1s', '2s', '1m30s', '1s500ms', '1h', '0s']);
  });
});

describe('parseSize and parseMemoryMb', () => {
  it('reads bytes and units', () => {
    expect([1024, '512', '1KiB', '1MiB', '1GiB', '10MB', '1kb'].map(parseSize)).toEqual([1024, 512, 1024, 1048576, 1073741824, 10_000_000, 1000]);
    expect(parseSize('1 potato')).toBeUndefined();
    expect(parseSize(1.5)).toBeUndefined();
  });
  it('reads memory as MiB', () => {
    expect([256, '256', '256MiB', '1GiB', '300MB'].map(parseMemoryMb)).toEqual([256, 256, 256, 1024, 287]);
    expect(parseMemoryMb('lots')).toBeUndefined();
  });
});

describe('interpolate', () => {
  it('substitutes, defaults when unset or empty, and escapes $${', () => {
    const env = { A: 'x', EMPTY: '' };
    expect(interpolate('${A}-${B:-y}-${EMPTY:-z}-${EMPTY}-$${A}', env)).toEqual({
      value: 'x-y-z--${A}',
      missing: [],
      malformed: [],
      changed: true,
      used: [
        { name: 'A', defaulted: false },
        { name: 'B', defaulted: true },
        { name: 'EMPTY', defaulted: true },
        { name: 'EMPTY', defaulted: false },
      ],
    });
    expect(interpolate('plain', env)).toEqual({ value: 'plain', missing: [], malformed: [], changed: false, used: [] });
  });
  it('reports every missing name with its offset', () => {
    expect(interpolate('a${X}b${Y}', {}).missing).toEqual([
      { name: 'X', offset: 1 },
      { name: 'Y', offset: 6 },
    ]);
  });
});

describe('rascal shorthand bindings', () => {
  it('parses like rascal: keys split on commas and spaces', () => {
    expect(parseShorthandBinding('users[user.*.deleted, user.#  a.b] -> audit')).toEqual({
      exchange: 'users',
      queue: 'audit',
      routingKeys: ['user.*.deleted', 'user.#', 'a.b'],
    });
    expect(parseShorthandBinding('e->q')).toEqual({ exchange: 'e', queue: 'q', routingKeys: [] });
    expect(parseShorthandBinding('e => q')).toBeUndefined();
  });
});

describe('resolveConnection', () => {
  it('defaults to the local broker on /', () => {
    expect(resolveConnection({}, {})).toMatchObject({ url: 'amqp://guest:guest@127.0.0.1:5672', vhost: '/', source: 'default' });
  });
  it('takes a connection URL string and keeps the rest of rascal.json', () => {
    const rascal = { vhosts: { v1: { connection: 'amqps://u:p@h/v1', publicationChannelPools: { regularPool: { max: 5 } } } } };
    const resolved = resolveConnection(rascal, {});
    expect(resolved).toMatchObject({ url: 'amqps://u:p@h/v1', vhost: 'v1' });
    expect(resolved.rascal).toEqual({ vhosts: { v1: { publicationChannelPools: { regularPool: { max: 5 } } } } });
    expect(rascal.vhosts.v1.connection).toBe('amqps://u:p@h/v1');
  });
  it('lets a non-empty AMQP_URL win', () => {
    expect(resolveConnection({ connection: 'amqp://a@b/c' }, { AMQP_URL: 'amqp://x@y:1' })).toMatchObject({ url: 'amqp://x@y:1', vhost: '/' });
    expect(resolveConnection({ connection: 'amqp://a@b/c' }, { AMQP_URL: '' })).toMatchObject({ vhost: 'c' });
  });
});

describe('discoverHandlers', () => {
  it('lists .ts .mts .js .mjs files, skipping declarations, tests, _private and dot files', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.mts': handler,
      'functions/c.js': handler,
      'functions/d.mjs': handler,
      'functions/types.d.ts': '',
      'functions/a.test.ts': '',
      'functions/_shared.ts': '',
      'functions/.hidden.ts': '',
      'functions/readme.md': '',
      'functions/nested/e.ts': handler,
    });
    const found = await discoverHandlers(join(dir, 'functions'));
    expect(found).toEqual(['a.ts', 'b.mts', 'c.js', 'd.mjs'].map((f) => ({ name: f.replace(/\.\w+$/, ''), file: join(dir, 'functions', f) })));
  });
  it('has no handlers when functions/ is missing', async () => {
    expect(await discoverHandlers(join(await project({}), 'functions'))).toEqual([]);
  });
  it('names both files when two share a name', () => {
    const { handlers, errors } = selectHandlers('/p/functions', ['x.ts', 'x.mjs', 'y.js']);
    expect(handlers.map((h) => h.name)).toEqual(['y']);
    expect(errors.map((e) => [e.code, e.message])).toEqual([['WARREN_E_CONFIG_CONFLICT', 'function "x" has 2 handler files: x.mjs, x.ts']]);
  });
});

describe('runtime/queues.schema.json', () => {
  it('reads durations and sizes exactly as the parsers do', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const schema = JSON.parse(await readFile(join(root, 'runtime/queues.schema.json'), 'utf8'));
    const durationPattern = new RegExp(schema.definitions.duration.anyOf[1].pattern, 'u');
    const sizePattern = new RegExp(schema.definitions.function.properties.maxBodySize.anyOf[1].pattern, 'u');
    expect(durationPattern.source).toBe(DURATION_PATTERN.source);
    expect(sizePattern.source).toBe(SIZE_PATTERN.source);
    expect(schema.additionalProperties).toBe(false);
  });
});
