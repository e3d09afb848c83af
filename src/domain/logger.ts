/** The pino-compatible subset of a logger the core uses. */
export interface Logger {
  trace(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** Progress of long operator work: `done` of `total` (null when unknown) in `unit`. */
export interface Progress {
  done: number;
  total: number | null;
  unit: 'bytes' | 'messages';
}
