/**
 * What a test or bench run does about the broker before it begins, decided from what it observed.
 * Pure, so the decision is tested without a broker (test/unit/broker-readiness.test.ts); ./broker-ready.ts
 * observes and carries it out.
 */
export interface BrokerObservation {
  /** something accepts AMQP connections on the broker's port */
  amqpAnswers: boolean;
  /** the management API answers on its port with guest/guest */
  managementAnswers: boolean;
  /** the broker is this machine's default node (loopback host, default port): the one `rabbitmq-plugins` acts on */
  local: boolean;
  /** `rabbitmq-plugins` is found on the PATH (or at its usual place) */
  pluginsTool: boolean;
}

export type BrokerAction = { kind: 'ready' } | { kind: 'enable-management' } | { kind: 'fail'; message: string };

export const START_BROKER_HINT =
  'no RabbitMQ answers on 127.0.0.1:5672: start one (`rabbitmq-server -detached`, or `docker run -d -p 5672:5672 -p 15672:15672 rabbitmq:3-management`) and run again';

export function decideBrokerAction(seen: BrokerObservation): BrokerAction {
  if (!seen.amqpAnswers) return { kind: 'fail', message: START_BROKER_HINT };
  if (seen.managementAnswers) return { kind: 'ready' };
  if (seen.local && seen.pluginsTool) return { kind: 'enable-management' };
  return {
    kind: 'fail',
    message: seen.local
      ? 'the RabbitMQ management API does not answer on http://127.0.0.1:15672 and `rabbitmq-plugins` is not on the PATH: run `rabbitmq-plugins enable rabbitmq_management` where RabbitMQ is installed'
      : 'the RabbitMQ management API does not answer on port 15672: enable it on the broker (`rabbitmq-plugins enable rabbitmq_management`)',
  };
}

export function isLocalHost(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]';
}
