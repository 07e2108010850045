/** Kubernetes object names for a function. Pure. */
import { createHash } from 'node:crypto';

const MAX_NAME = 63;

/**
 * `warren-<function>` as a valid DNS-1123 label: lowercase letters, digits and `-`, at most 63
 * characters. A function name that had to change (`Send_Email` → `warren-send-email-1a2b3c`) gains a
 * short hash of the original, so two functions never map to one Deployment.
 */
export function resourceName(functionName: string, prefix = 'warren'): string {
  const cleaned = `${prefix}-${functionName}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  const exact = cleaned === `${prefix}-${functionName}`;
  if (exact && cleaned.length <= MAX_NAME) return cleaned;
  const hash = createHash('sha256').update(functionName).digest('hex').slice(0, 6);
  return `${cleaned.slice(0, MAX_NAME - hash.length - 1).replace(/-$/, '')}-${hash}`;
}

/** Labels every object of one function carries; the Deployment selects its pods by them. */
export function functionLabels(functionName: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'warren',
    'app.kubernetes.io/component': 'function',
    'warren/function': labelValue(functionName),
  };
}

/** A label value: at most 63 characters of [A-Za-z0-9._-], starting and ending alphanumeric. */
function labelValue(value: string): string {
  const cleaned = value.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  if (cleaned === value && cleaned.length <= MAX_NAME) return cleaned;
  const hash = createHash('sha256').update(value).digest('hex').slice(0, 6);
  return `${cleaned.slice(0, MAX_NAME - hash.length - 1).replace(/[^A-Za-z0-9]+$/, '')}-${hash}`.replace(/^-/, '');
}
