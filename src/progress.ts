/** One timed stage of a long operation, for `start --timings`. */
export interface StageTiming {
  stage: string;
  ms: number;
}

/**
 * What the domain (machine/, swarm/) tells whoever shows progress. ui/ implements
 * it with a spinner; the domain never knows how (or whether) it is shown.
 */
export interface Progress {
  /** Enters a named stage; `text` is what a person reads. */
  stage(name: string, text?: string): void;
  /** A line worth showing even though the operation goes on. */
  notice(text: string): void;
  /** The stages finished so far and how long each took. */
  readonly timings: StageTiming[];
}

/** For callers that show nothing (swarm starts several machines at once). */
export function silentProgress(): Progress {
  return { stage: () => undefined, notice: () => undefined, timings: [] };
}
