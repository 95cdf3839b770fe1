/**
 * The lockup detectors a run keeps, so that a policy with a bug never becomes a hang:
 *
 * - the soft-lockup watchdog of kernel/watchdog.c (v5.17): a CPU that stays in kernel
 *   mode without scheduling for more than get_softlockup_thresh() = 2 × watchdog_thresh
 *   seconds is reported as "BUG: soft lockup - CPU#%d stuck for %us! [%s:%d]". The
 *   per-CPU hrtimer (watchdog_timer_fn) fires every sample_period =
 *   get_softlockup_thresh() / NUM_SAMPLE_PERIODS; each tick queues softlockup_fn on the
 *   CPU's stopper thread, which runs at the CPU's next schedule (at once in user mode or
 *   idle, not before a non-preemptible kernel path ends) and sets touch_ts and
 *   period_ts. A tick finds a lockup when time_after(now, period_ts +
 *   get_softlockup_thresh()), and reports now - touch_ts, both in get_timestamp()'s units
 *   (running_clock() >> 30, "2^30 ~= 10^9", so a "second" is 1.074 s: hence the usual
 *   "stuck for 22s!" at watchdog_thresh = 10).
 *   Run lengths in the model are scaled down, so a run also takes a threshold in cycles
 *   (machine option watchdogCycles) that a short run can reach;
 * - a guard for loops that make no simulated progress: NO_PROGRESS_STEPS steps of one CPU
 *   at one simulated time (a policy yielding 0 cycles forever never lets time reach any
 *   threshold);
 * - the csd-lock wait report of kernel/smp.c with CONFIG_CSD_LOCK_WAIT_DEBUG (v5.17
 *   csd_lock_wait_toolong): a CPU spinning in csd_lock_wait for more than
 *   CSD_LOCK_TIMEOUT (5 s) is reported with the CPU that never answered. The kernel
 *   re-sends the IPI and goes on reporting every 5 s; the model stops the run there.
 *
 * Each stops the run with a WatchdogError: one line, the plugin and hook that were
 * running named (plugin/assemble.ts), and the CLI exits 2.
 */
import { WatchdogError } from "../plugin/errors.js";

/** kernel/watchdog.c (v5.17): `int __read_mostly watchdog_thresh = 10;` (seconds). */
export const WATCHDOG_THRESH_DEFAULT = 10;
/** The sysctl's range (kernel/sysctl.c v5.17, watchdog_thresh: extra1 = SYSCTL_ZERO, extra2 = &sixty); 0 disables. */
export const WATCHDOG_THRESH_MAX = 60;
/** kernel/watchdog.c: `#define NUM_SAMPLE_PERIODS 5`, hrtimer ticks per softlockup threshold. */
export const NUM_SAMPLE_PERIODS = 5;
/** kernel/smp.c (v5.17, CONFIG_CSD_LOCK_WAIT_DEBUG): `#define CSD_LOCK_TIMEOUT (5ULL * NSEC_PER_SEC)`. */
export const CSD_LOCK_TIMEOUT_NS = 5e9;

/**
 * The default soft-lockup threshold in cycles (machine option watchdogCycles): a kernel
 * stretch without a schedule longer than this stops the run, whatever the seconds
 * threshold says. Not a kernel figure (unsourced: the model's choice): 2e8 cycles
 * (77 ms at 2.6 GHz) is over 45 times the longest kernel stretch without a schedule that
 * any reproduction takes (measured over `flushlab reproduce`, every seed plugin's
 * baseline and patched runs, when this was chosen: 4,395,792 cycles), and a policy
 * looping at 1,000 cycles a step reaches it in 200,000 steps, about a second of wall time.
 */
export const WATCHDOG_CYCLES_DEFAULT = 200_000_000;

/**
 * Steps of one CPU at one simulated time before the no-progress guard stops the run.
 * No kernel path steps more than a few times at one instant: the most any reproduction
 * takes (measured over `flushlab reproduce` when this was chosen) is 3; a million is far
 * above that, and a zero-cycle loop reaches it in a second or two of wall time.
 */
export const NO_PROGRESS_STEPS = 1_000_000;

/** What the lockup detectors of one run use, derived from the machine options and the clock. */
export class Watchdog {
  /** 2 × watchdog_thresh in cycles; Infinity when watchdog_thresh is 0 (disabled). */
  readonly softThreshCycles: number;
  /** sample_period in cycles: the hrtimer's tick. */
  readonly samplePeriodCycles: number;
  /** watchdogCycles; Infinity when 0 (disabled). */
  readonly cyclesLimit: number;
  /** CSD_LOCK_TIMEOUT in cycles. */
  readonly csdTimeoutCycles: number;

  constructor(
    readonly thresh: number,
    cycles: number,
    readonly freqHz: number,
  ) {
    this.softThreshCycles = thresh > 0 ? 2 * thresh * freqHz : Infinity;
    this.samplePeriodCycles = this.softThreshCycles / NUM_SAMPLE_PERIODS;
    this.cyclesLimit = cycles > 0 ? cycles : Infinity;
    this.csdTimeoutCycles = (CSD_LOCK_TIMEOUT_NS / 1e9) * freqHz;
  }

  /** get_timestamp() at cycle `t`: running_clock() >> 30. */
  private timestamp(t: number): number {
    return Math.floor((t / this.freqHz) * 1e9 / 2 ** 30);
  }

  /**
   * The first time at which a check must look at a kernel stretch that began at `since`:
   * no report can come before it. The exact tick is found by `check`.
   */
  firstCheck(since: number): number {
    return Math.min(since + this.cyclesLimit + 1, since + this.softThreshCycles - this.samplePeriodCycles);
  }

  /**
   * At `now`, on a CPU in kernel mode without a schedule since `since`: the report if one
   * is due, else the next time to look. touch_ts is the last hrtimer tick at or before
   * `since` (the stopper ran then, the CPU being preemptible); the report comes at the
   * first tick after that is_softlockup() flags.
   */
  check(cpu: number, since: number, now: number): { report: string } | { next: number } {
    if (now - since > this.cyclesLimit) {
      return { report: `watchdog: BUG: soft lockup - CPU#${cpu} stuck for ${now - since} cycles (over watchdogCycles ${this.cyclesLimit})!` };
    }
    let next = since + this.cyclesLimit + 1;
    if (this.softThreshCycles !== Infinity) {
      const period = this.samplePeriodCycles;
      const touch = Math.floor(since / period) * period;
      const touchTs = this.timestamp(touch);
      const thresh = 2 * this.thresh;
      // At most a few ticks: the threshold is NUM_SAMPLE_PERIODS ticks, plus rounding.
      for (let tick = touch + period; ; tick += period) {
        const ts = this.timestamp(tick);
        if (ts > touchTs + thresh) {
          if (tick <= now) return { report: `watchdog: BUG: soft lockup - CPU#${cpu} stuck for ${ts - touchTs}s!` };
          next = Math.min(next, tick);
          break;
        }
      }
    }
    return { next };
  }

  /** The no-progress guard's report. */
  noProgress(cpu: number, now: number): string {
    return `watchdog: BUG: no progress - CPU#${cpu} took ${NO_PROGRESS_STEPS} steps at cycle ${now} without simulated time advancing!`;
  }

  /**
   * csd_lock_wait_toolong's first report (kernel/smp.c v5.17): "csd: Detected
   * non-responsive CSD lock (#%d) on CPU#%d, waiting %llu ns for CPU#%02d %pS(%ps)."
   * `target` is csd_lock_wait_getcpu(): the CPU the csd was sent to, -1 when the wait is
   * on no csd.
   */
  csdReport(bugId: number, cpu: number, waitedCycles: number, target: number, func: string): string {
    const ns = Math.round((waitedCycles / this.freqHz) * 1e9);
    const dst = target < 0 ? String(target) : String(target).padStart(2, "0");
    return `csd: Detected non-responsive CSD lock (#${bugId}) on CPU#${cpu}, waiting ${ns} ns for CPU#${dst} ${func}.`;
  }
}

export { WatchdogError };
