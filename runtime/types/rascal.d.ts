/**
 * The parts of rascal 21 (CommonJS, no bundled types) that Warren uses: rascal only declares the
 * topology, once, in the main thread (runtime/topology/declare.ts). Replicas consume and publish
 * through amqplib, so subscriptions and publications are not typed here.
 */
declare module 'rascal' {
  import type { EventEmitter } from 'node:events';

  /** A rascal configuration (see runtime/topology/rascal-config.ts for the shape Warren generates). */
  export type RascalConfigInput = Record<string, unknown>;

  export interface ConnectionDetails {
    vhost: string;
    /** password already obfuscated by rascal */
    connectionUrl: string;
  }

  export interface BrokerAsPromised extends EventEmitter {
    readonly config: Record<string, unknown>;
    on(event: 'error', listener: (err: Error, details: ConnectionDetails) => void): this;
    on(event: 'connect' | 'disconnect', listener: () => void): this;
    on(event: string, listener: (...args: any[]) => void): this;
    shutdown(): Promise<void>;
  }

  export const BrokerAsPromised: {
    create(config: RascalConfigInput, components?: Record<string, unknown>): Promise<BrokerAsPromised>;
  };

  const rascal: {
    BrokerAsPromised: typeof BrokerAsPromised;
  };
  export default rascal;
}
