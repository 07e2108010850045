/**
 * The parts of rascal 21 (CommonJS, no bundled types) that Warren uses. Import as
 * `import rascal from 'rascal'` and use `rascal.BrokerAsPromised.create(config)`.
 */
declare module 'rascal' {
  import type { EventEmitter } from 'node:events';
  import type { ConsumeMessage, Message } from 'amqplib';

  /** A rascal configuration (see runtime/topology/build.ts for the shape Warren generates). */
  export type RascalConfigInput = Record<string, unknown>;

  export interface ConnectionDetails {
    vhost: string;
    /** password already obfuscated by rascal */
    connectionUrl: string;
  }

  export interface PublishOverrides {
    routingKey?: string;
    options?: {
      messageId?: string;
      contentType?: string;
      headers?: Record<string, unknown>;
      persistent?: boolean;
      mandatory?: boolean;
      expiration?: string | number;
      timestamp?: number;
      [key: string]: unknown;
    };
  }

  /** Emitted by broker.publish: 'success' after the confirm, 'return' when unroutable (after 'success'). */
  export interface PublicationSession extends EventEmitter {
    on(event: 'success', listener: (messageId: string) => void): this;
    on(event: 'error', listener: (err: Error, messageId: string) => void): this;
    on(event: 'return', listener: (message: Message) => void): this;
    on(event: 'paused', listener: (messageId: string) => void): this;
    on(event: string, listener: (...args: any[]) => void): this;
    abort(): void;
  }

  /** What a recovery step looks like in ackOrNack(err, strategy). */
  export interface RecoveryStrategy {
    strategy: 'ack' | 'nack' | 'republish' | 'forward';
    requeue?: boolean;
    defer?: number;
    attempts?: number;
    [key: string]: unknown;
  }

  /** Settle a delivered message: no error acks; an error nacks (by default without requeue). */
  export type AckOrNack = (err?: Error, recovery?: RecoveryStrategy | RecoveryStrategy[]) => void;

  export interface SubscriberSession extends EventEmitter {
    readonly name: string;
    on(event: 'message', listener: (message: ConsumeMessage, content: unknown, ackOrNack: AckOrNack) => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
    on(event: 'cancelled' | 'cancel', listener: (err: Error) => void): this;
    on(event: 'invalid_content', listener: (err: Error, message: ConsumeMessage, ackOrNack: AckOrNack) => void): this;
    on(
      event: 'redeliveries_exceeded' | 'redeliveries_error',
      listener: (err: Error, message: ConsumeMessage, ackOrNack: AckOrNack) => void,
    ): this;
    on(event: 'subscribed' | 'close', listener: () => void): this;
    on(event: string, listener: (...args: any[]) => void): this;
    cancel(): Promise<void>;
    setChannelPrefetch(prefetch: number): Promise<void>;
  }

  export interface BrokerAsPromised extends EventEmitter {
    readonly config: Record<string, unknown>;
    on(event: 'error', listener: (err: Error, details: ConnectionDetails) => void): this;
    on(event: 'connect' | 'disconnect', listener: () => void): this;
    on(event: 'blocked', listener: (reason: string, details: ConnectionDetails) => void): this;
    on(event: 'unblocked' | 'vhost_initialised' | 'close', listener: (details: ConnectionDetails) => void): this;
    on(event: string, listener: (...args: any[]) => void): this;
    publish(name: string, message: unknown, overrides?: string | PublishOverrides): Promise<PublicationSession>;
    subscribe(name: string, overrides?: Record<string, unknown>): Promise<SubscriberSession>;
    unsubscribeAll(): Promise<void>;
    shutdown(): Promise<void>;
    nuke(): Promise<void>;
    purge(): Promise<void>;
  }

  export const BrokerAsPromised: {
    create(config: RascalConfigInput, components?: Record<string, unknown>): Promise<BrokerAsPromised>;
  };

  const rascal: {
    BrokerAsPromised: typeof BrokerAsPromised;
    withDefaultConfig(config: RascalConfigInput): RascalConfigInput;
  };
  export default rascal;
}
