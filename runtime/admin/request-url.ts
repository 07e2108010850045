/**
 * A request's URL as the admin API reads it. `new URL(req.url, base)` takes `//functions` for a
 * protocol-relative URL (host `functions`, path `/`): the dashboard would answer a scrape of
 * `//metrics`. The path is kept as sent, and runs of slashes read as one.
 */
export function requestUrl(raw: string | undefined): URL {
  const path = raw?.startsWith('/') ? raw : `/${raw ?? ''}`;
  const url = new URL(`http://admin${path}`);
  url.pathname = url.pathname.replace(/\/{2,}/g, '/');
  return url;
}
