/** The discrete-event core: event heap, SimPy-shaped engine, processes and the seeded PRNG. */
export { EventQueue } from "./event-queue.js";
export { Engine, Priority } from "./engine.js";
export type { EngineParams } from "./engine.js";
export { Prng } from "./prng.js";
export { Completion, type KGen, type KYield } from "./process.js";
