import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import type { Address, Bus, EventData, EventHandler, WaymondEvent } from './types.js';

interface Subscription {
  subscriber: Address;
  handler: EventHandler;
}

/**
 * Topic-based, in-process event bus with the original's topics: `<address>.output`,
 * `.input`, `.error`, `.result`. Delivery is synchronous in subscription order; a handler
 * that throws (or rejects) never breaks the others: its error is published on
 * `<subscriber>.error`, logged, and counted by the `onSubscriberError` hook (metrics).
 */
export class EventBus implements Bus {
  private topics = new Map<string, Subscription[]>();
  private taps: ((event: WaymondEvent) => void)[] = [];
  private seq = 0;
  private readonly prefix = randomUUID().slice(0, 8);

  constructor(
    private readonly clock: Clock,
    private readonly logger?: Logger,
    private readonly onSubscriberError?: (subscriber: Address, error: unknown) => void,
  ) {}

  emit(topic: string, source: Address, data: EventData): WaymondEvent {
    const event: WaymondEvent = { id: `${this.prefix}-${++this.seq}`, topic, source, time: this.clock.now(), data };
    for (const tap of this.taps) {
      try {
        tap(event);
      } catch (error) {
        this.logger?.error({ err: error, topic }, 'event tap failed');
      }
    }
    const subs = this.topics.get(topic);
    if (!subs) return event;
    for (const sub of [...subs]) {
      try {
        const result = sub.handler(event);
        if (result && typeof (result as Promise<void>).then === 'function') {
          (result as Promise<void>).catch((error) => this.subscriberFailed(sub.subscriber, event, error));
        }
      } catch (error) {
        this.subscriberFailed(sub.subscriber, event, error);
      }
    }
    return event;
  }

  subscribe(topic: string, subscriber: Address, handler: EventHandler): () => void {
    const list = this.topics.get(topic) ?? [];
    const sub = { subscriber, handler };
    list.push(sub);
    this.topics.set(topic, list);
    return () => {
      const current = this.topics.get(topic);
      if (!current) return;
      const i = current.indexOf(sub);
      if (i >= 0) current.splice(i, 1);
    };
  }

  subscribeAll(handler: (event: WaymondEvent) => void): () => void {
    this.taps.push(handler);
    return () => {
      const i = this.taps.indexOf(handler);
      if (i >= 0) this.taps.splice(i, 1);
    };
  }

  private subscriberFailed(subscriber: Address, event: WaymondEvent, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.logger?.error({ address: subscriber, topic: event.topic, err: message }, 'component failed handling an event');
    this.onSubscriberError?.(subscriber, error);
    // An error while handling an error event is logged only, so a failing error handler cannot loop.
    if (event.topic === `${subscriber}.error`) return;
    this.emit(`${subscriber}.error`, subscriber, { error: message, topic: event.topic, event_id: event.id });
  }
}
