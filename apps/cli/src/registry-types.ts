/**
 * What the CLI is parameterised over: the engine and what is installed (`CliRegistry`),
 * and where it writes (`CliIo`). `main()` takes both, so the whole CLI is testable
 * in-process with a fake registry and captured output.
 */
import type { Observable } from "rxjs";
import type { CliEvent } from "./bus.js";
import type { RegistryProfile } from "./reporters/types.js";

export type { RegistryProfile } from "./reporters/types.js";
import type {
  ArchLayer,
  EventStream,
  FlushlabPlugin,
  MachineOptions,
  MachinePreset,
  ProfileFeatures,
  RunOptions,
  RunResult,
  WorkloadDefinitionLike,
} from "@flushlab/core-mmu";

export interface CliRegistry {
  /** Installed plugins (flushlab.config plugins are added to these by the CLI). */
  readonly plugins: readonly FlushlabPlugin[];
  readonly workloads: readonly WorkloadDefinitionLike[];
  /** Cost profiles, e.g. "bare-metal". */
  readonly profiles: readonly RegistryProfile[];
  /** The machine used when neither flushlab.config nor flags say otherwise (x86-64, 8 cpus, 1 socket, …). */
  readonly defaultMachine: MachineOptions;
  /** Where each of the default machine's hardware sizes comes from (the arch layer's machineSources); optional for fake registries. */
  readonly machineSources?: ArchLayer["machineSources"];
  /** Named machines for `--preset` (the arch layer's); optional for fake registries. */
  readonly presets?: readonly MachinePreset[];
  /**
   * True when worker threads can rebuild this registry (src/pool/worker.ts imports the real
   * one), so independent runs may go to the pool; fake registries leave it out.
   */
  readonly workers?: boolean;
  /** The arch layer, for commands that assemble many small runs themselves (check); optional for fake registries. */
  readonly arch?: ArchLayer;
  /**
   * Runs one simulation; throws FlushlabInputError for bad options (message is one line).
   *
   * @param options  everything the run is a function of; `options.plugins` are names.
   * @param resolved the workload and the plugin objects for `options.plugins` (in order), as the
   *                 CLI resolved them from the registry plus flushlab.config.
   * @param onEvents called once, before the run starts, with the run's event stream, when a
   *                 reporter wants live events; omitted otherwise (so the model emits nothing).
   */
  simulate(
    options: RunOptions,
    resolved: { readonly workload: WorkloadDefinitionLike; readonly plugins: readonly FlushlabPlugin[] },
    onEvents?: (events: EventStream) => void,
  ): RunResult;
}

/** Anything with a `write(string)`: process.stdout, a test buffer. */
export interface TextSink {
  write(chunk: string): unknown;
  /** True for a terminal (a progress line is shown on a terminal stderr only). */
  readonly isTTY?: boolean;
}

export interface CliIo {
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  /** Where flushlab.config.{ts,js,mjs} is looked for; default `process.cwd()`. */
  readonly cwd?: string;
  /** Environment read for FLUSHLAB_DEBUG; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Subscribes to the command's event stream, as the reporters do (tests use it to see what the CLI prints, and why). */
  readonly onEvents?: (events$: Observable<CliEvent>) => void;
}
