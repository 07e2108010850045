/**
 * A function's settings as the runtime would have them from a bare handler file: the runtime's
 * DEFAULTS, with what a test or bench row sets on top. One builder for test/ and bench/.
 */
import { DEFAULTS, type FunctionConfig } from '../../runtime/config/types';

export function functionConfig(name: string, over: Partial<FunctionConfig> = {}, dir = '/app'): FunctionConfig {
  return {
    name,
    file: `${dir}/functions/${name}.ts`,
    queue: name,
    replicas: DEFAULTS.replicas,
    prefetch: DEFAULTS.prefetch,
    timeout: DEFAULTS.timeoutMs,
    retry: { ...DEFAULTS.retry },
    redeliveryLimit: DEFAULTS.redeliveryLimit,
    deadLetter: true,
    ordered: false,
    memoryMb: DEFAULTS.memoryMb,
    maxBodyBytes: DEFAULTS.maxBodyBytes,
    ...over,
  };
}
