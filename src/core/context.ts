import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import type { Store } from './store.js';
import type { Address, Bus, ComponentContext, ComponentKind, EventData, HttpMount, ScalerDirectory } from './types.js';

export interface ContextServices {
  clock: Clock;
  bus: Bus;
  store: Store;
  logger: Logger;
  http: HttpMount;
  scalers: ScalerDirectory;
  signal: AbortSignal;
  stateDir: string;
  configDir: string;
  dryRun: boolean;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : JSON.stringify(error);
}

/** Builds the `ctx` a component's `create(config, ctx)` receives. */
export function createComponentContext(
  kind: ComponentKind,
  id: string,
  services: ContextServices,
  options: { hasInput: boolean },
): ComponentContext {
  const address: Address = `${kind}.${id}`;
  const logger = services.logger.child({ address });
  return {
    id,
    kind,
    address,
    logger,
    clock: services.clock,
    bus: services.bus,
    state: {
      get: <T>(key: string) => services.store.getState<T>(address, key),
      set: (key, value) => services.store.setState(address, key, value),
    },
    signal: services.signal,
    http: services.http,
    dataDir: join(services.stateDir, kind, id),
    configDir: services.configDir,
    hasInput: options.hasInput,
    dryRun: services.dryRun,
    scalers: services.scalers,
    emit(data: EventData) {
      return services.bus.emit(`${address}.output`, address, data);
    },
    emitError(error: unknown, data: EventData = {}) {
      const message = errorMessage(error);
      logger.warn({ err: message, ...data }, 'component error');
      return services.bus.emit(`${address}.error`, address, { ...data, error: message });
    },
  };
}
