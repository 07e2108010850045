/**
 * The admin-API probe shared by the Docker HEALTHCHECK and the Kubernetes readiness, liveness and
 * startup probes: a Node one-liner that GETs a path on 127.0.0.1:$WARREN_ADMIN_PORT with the bearer
 * token from $WARREN_ADMIN_TOKEN, and exits 0 on a 2xx, 1 otherwise.
 *
 * Why a command and not an HTTP probe: a kubelet `httpGet` probe can only send literal header values,
 * never one read from a Secret, and the admin API demands the token once it listens beyond loopback.
 * An `exec` probe runs inside the container, where the token is in the environment. The Dockerfile
 * repeats this exact text (test/unit/manifests.test.ts checks they agree).
 */
export const PROBE_SCRIPT =
  'const p=process.env.WARREN_ADMIN_PORT||8080,t=process.env.WARREN_ADMIN_TOKEN;' +
  "fetch('http://127.0.0.1:'+p+(process.argv[1]||'/healthz'),{headers:t?{authorization:'Bearer '+t}:{},signal:AbortSignal.timeout(4000)})" +
  '.then(r=>process.exit(r.ok?0:1),()=>process.exit(1))';

/** The probe as an argv: `node -e SCRIPT /readyz`. */
export function probeCommand(path: '/healthz' | '/readyz'): string[] {
  return ['node', '-e', PROBE_SCRIPT, path];
}
