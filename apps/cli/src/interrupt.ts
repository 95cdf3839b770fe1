/**
 * Ctrl-C during a long command (compare, reproduce, check) keeps what finished: the first
 * SIGINT asks the command to stop at its next checkpoint (between runs, between check's
 * cases), and it then reports the runs that finished, marked partial, and exits 130; a
 * second SIGINT exits 130 at once, without reporting.
 *
 * Runs are synchronous in-process simulations, and a signal handler only runs when the
 * event loop gets control: `checkpoint()` gives it control (setImmediate, after the poll
 * phase where a pending signal is dispatched) before it answers. A run in progress
 * finishes first (a few seconds at most, for the largest reproduction): two Ctrl-Cs
 * during one run are both seen when it ends, and the process exits there.
 */
/** The exit status of a command stopped by SIGINT (128 + 2, as a shell reports it). */
export const SIGINT_EXIT = 130;

/** How far an interrupted command got, for its report's "partial" marker. */
export interface PartialResults {
  readonly finished: number;
  readonly total: number;
}

export interface Interrupt {
  /** Whether a SIGINT asked the command to stop. */
  readonly requested: boolean;
  /** Lets a pending SIGINT be handled, then says whether the command must stop. */
  checkpoint(): Promise<boolean>;
  /** Removes the handler (the command is done). */
  dispose(): void;
}

/** An interrupt that never comes (a command run where no signal can reach it). */
export const NO_INTERRUPT: Interrupt = {
  requested: false,
  checkpoint: () => Promise.resolve(false),
  dispose() {},
};

/**
 * Installs the SIGINT handler for one command. `exit` is what a second SIGINT calls
 * (process.exit by default).
 */
export function installInterrupt(stderr: { write(text: string): unknown } = process.stderr, exit: (code: number) => void = (code) => process.exit(code)): Interrupt {
  let requested = false;
  const onSigint = (): void => {
    if (requested) {
      exit(SIGINT_EXIT);
      return;
    }
    requested = true;
    stderr.write("\nflushlab: interrupted: stopping after the run in progress and reporting what finished (Ctrl-C again to quit at once)\n");
  };
  process.on("SIGINT", onSigint);
  return {
    get requested() {
      return requested;
    },
    checkpoint: () => new Promise<boolean>((resolve) => setImmediate(() => resolve(requested))),
    dispose() {
      process.off("SIGINT", onSigint);
    },
  };
}

/** The human report's line for partial results. */
export function partialLine(p: PartialResults, what = "runs"): string {
  return `interrupted: ${p.finished} of ${p.total} ${what} finished — partial results`;
}
