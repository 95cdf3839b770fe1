/** A configuration or input error: the CLI prints `message` on one line and exits 2. */
export class FlushlabInputError extends Error {
  override readonly name: string = "FlushlabInputError";
}

/** A plugin's own code threw (building a policy, or inside one during a run): names the plugin and the hook. */
export class PluginError extends FlushlabInputError {}

/**
 * A lockup detector stopped the run (kernel/watchdog.c's soft-lockup report, the
 * no-progress guard, kernel/smp.c's csd-lock report). The scheduler throws it into the
 * generator the stuck CPU was running, so that the innermost plugin hook on the way out
 * names itself (`blame`) before the report is printed; a lockup in no plugin's code
 * stays unattributed.
 */
export class WatchdogError extends FlushlabInputError {
  /** The plugin whose hook was running, and the hook ("MmuGatherFlush.tlbFlushMmu"). */
  plugin: string | null = null;
  hook: string | null = null;

  constructor(private readonly report: string) {
    super(report);
    this.message = this.compose();
  }

  /** Called by the innermost plugin hook the error passes through; later calls change nothing. */
  blame(plugin: string, hook: string): void {
    if (this.plugin !== null) return;
    this.plugin = plugin;
    this.hook = hook;
    this.message = this.compose();
  }

  private compose(): string {
    return `${this.report} [${this.plugin === null ? "in no plugin's code: the model's own kernel path" : `in plugin "${this.plugin}", ${this.hook}`}]`;
  }
}
