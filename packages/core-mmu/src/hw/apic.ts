/**
 * The local APICs: an IPI written to the ICR of one CPU is delivered to another after
 * a latency that depends on the topology (same socket or across sockets), and the
 * target takes the interrupt through the handler the kernel installed for the vector.
 */
import type { CostParams } from "../cost/cost-model.js";
import type { EventStream } from "../events/event-map.js";
import { Priority, type Engine } from "../sim/engine.js";
import type { Cpu } from "./cpu.js";
import { NO_WATCH, type HwWatch } from "./watch.js";

/** The IPI vectors the model uses. */
export type IpiVector = "CALL_FUNCTION";

export class Apic {
  /** IPIs sent (ICR writes), all CPUs. */
  ipisSent = 0;
  watch: HwWatch = NO_WATCH;
  /** The interrupt handler for CALL_FUNCTION_VECTOR, installed by the kernel at boot. */
  onCallFunction: (cpu: Cpu) => void = () => {
    throw new Error("CALL_FUNCTION interrupt with no handler installed");
  };
  private readonly deliver: (() => void)[];
  /** While an interrupt is being delivered, the id of its IPI (ipi_send's); -1 otherwise or when nobody wants ipi_recv. */
  delivering = -1;

  constructor(
    private readonly engine: Engine,
    private readonly cpus: readonly Cpu[],
    private readonly costs: CostParams,
    private readonly events: EventStream,
  ) {
    this.deliver = cpus.map((cpu) => () => {
      this.watch.ipiHandled(cpu);
      this.onCallFunction(cpu);
    });
  }

  /** IPI delivery latency between two CPUs, by topology. */
  latency(from: Cpu, to: Cpu): number {
    return from.socket === to.socket ? this.costs.ipiLatencySameSocket : this.costs.ipiLatencyCrossSocket;
  }

  /**
   * `from` writes the ICR at cycle `time`: the IPI leaves once the write is done
   * (ipiSend) and reaches `to` after the topology's latency.
   */
  send(from: Cpu, to: Cpu, vector: IpiVector, time: number): void {
    const id = ++this.ipisSent;
    const at = time + this.costs.ipiSend + this.latency(from, to);
    this.watch.ipiSent(from, to, at);
    if (this.events.wants("ipi_send")) this.events.emit("ipi_send", { time, from: from.id, to: to.id, vector, id });
    // Only while somebody wants ipi_recv does a delivery carry its IPI's id (a closure
    // per IPI); the event at the same (time, priority, order) either way.
    const deliver = this.deliver[to.id]!;
    this.engine.at(
      at,
      this.events.wants("ipi_recv")
        ? () => {
            this.delivering = id;
            try {
              deliver();
            } finally {
              this.delivering = -1;
            }
          }
        : deliver,
      Priority.INTERRUPT,
    );
  }
}
