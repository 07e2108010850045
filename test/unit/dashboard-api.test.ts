/** The page's calls to the admin API (runtime/dashboard/api.ts): what an operator reads when one fails. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, ApiError } from '../../runtime/dashboard/api';

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('api', () => {
  it('says in words that the runtime does not answer, not the browser\'s "TypeError: Failed to fetch"', async () => {
    vi.stubGlobal('fetch', () => Promise.reject(new TypeError('Failed to fetch')));
    const err = (await api('POST', '/functions/orders/scale', { replicas: 3 }).catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(0);
    expect(err.message).toBe('the runtime does not answer (stopped, restarting, or the network is down)');
    expect(String(err.message)).not.toContain('Failed to fetch');
  });

  it("gives the API's own error and hint when it answers with one", async () => {
    vi.stubGlobal('fetch', () => Promise.resolve(new Response(JSON.stringify({ error: 'no function named x', hint: 'functions: a' }), { status: 404 })));
    const err = (await api('GET', '/functions/x').catch((e: unknown) => e)) as ApiError;
    expect([err.status, err.message, err.hint]).toEqual([404, 'no function named x', 'functions: a']);
  });
});
