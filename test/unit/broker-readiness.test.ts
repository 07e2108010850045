import { describe, expect, it } from 'vitest';
import { decideBrokerAction, isLocalHost, START_BROKER_HINT, type BrokerObservation } from '../testkit/broker-readiness';

const seen = (over: Partial<BrokerObservation>): BrokerObservation => ({ amqpAnswers: true, managementAnswers: true, local: true, pluginsTool: true, ...over });

describe('test set-up: what to do about the broker', () => {
  it('runs the tests when the broker and its management API answer', () => {
    expect(decideBrokerAction(seen({}))).toEqual({ kind: 'ready' });
  });

  it('enables the management plugin of a local broker when rabbitmq-plugins is there', () => {
    expect(decideBrokerAction(seen({ managementAnswers: false }))).toEqual({ kind: 'enable-management' });
  });

  it('never touches a remote broker: says how to enable the plugin there', () => {
    const action = decideBrokerAction(seen({ managementAnswers: false, local: false }));
    expect(action.kind).toBe('fail');
    expect(action.kind === 'fail' && action.message).toMatch(/rabbitmq-plugins enable rabbitmq_management/);
  });

  it('says where to run rabbitmq-plugins when it is not on the PATH', () => {
    const action = decideBrokerAction(seen({ managementAnswers: false, pluginsTool: false }));
    expect(action.kind === 'fail' && action.message).toMatch(/not on the PATH/);
  });

  it('says in one line how to start a broker when none answers, whatever else it saw', () => {
    for (const managementAnswers of [true, false]) {
      const action = decideBrokerAction(seen({ amqpAnswers: false, managementAnswers }));
      expect(action).toEqual({ kind: 'fail', message: START_BROKER_HINT });
      expect(START_BROKER_HINT).not.toContain('\n');
      expect(START_BROKER_HINT).toMatch(/rabbitmq-server -detached/);
    }
  });

  it('knows the loopback names', () => {
    expect(['127.0.0.1', 'localhost', '::1'].every(isLocalHost)).toBe(true);
    expect(isLocalHost('rabbitmq.prod')).toBe(false);
  });
});
