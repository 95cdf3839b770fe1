/**
 * Building a run's policies, after the kernel and before it boots. For each extension
 * point, in EXTENSION_POINTS order: the pre-patch default (core-mmu's or the arch
 * layer's), then each enabled plugin's policy for that point in the order the plugins
 * were given, each factory receiving the kernel and the implementation before it.
 * Every factory is registered in the run's own tsyringe child container; nothing is
 * registered globally. What a plugin's code throws is reported with its name and the
 * hook it was in.
 */
import { createRequire } from "node:module";
import type { DependencyContainer, InjectionToken } from "tsyringe";
import type { Kernel } from "../kernel/kernel.js";
import type { AnyDefaultPolicy, AnyPolicy, FlushlabPlugin } from "./define.js";
import { PluginError, WatchdogError } from "./errors.js";
import { EXTENSION_POINTS, type ExtensionPoint, type Policies, type PolicySlot } from "./tokens.js";

/**
 * tsyringe (and the reflect-metadata polyfill it needs first) is loaded on the first
 * run, not when the package is imported: a command that simulates nothing (`flushlab
 * list`, `--help`) does not pay for it. Both are CommonJS, so `require` loads them
 * synchronously, as assemblePolicies is.
 */
let tsyringe: typeof import("tsyringe") | undefined;
function di(): typeof import("tsyringe") {
  if (tsyringe === undefined) {
    const require = createRequire(import.meta.url);
    require("reflect-metadata");
    tsyringe = require("tsyringe") as typeof import("tsyringe");
  }
  return tsyringe;
}

/** The run's kernel, for anything resolved from its container. */
export const KERNEL: InjectionToken<Kernel> = Symbol.for("@flushlab/core-mmu:Kernel");

/** One layer of an extension point: a default, or a plugin's policy stacked on what came before. */
interface Layer<K extends PolicySlot> {
  readonly plugin: string | null;
  readonly build: (kernel: Kernel, replaced: Policies[K]) => Policies[K];
}

/**
 * Builds every extension point's implementation into `kernel.policies`. `defaults`
 * must cover every point (core-mmu's plus the arch layer's). Returns the run's container.
 */
export function assemblePolicies(kernel: Kernel, defaults: readonly AnyDefaultPolicy[], plugins: readonly FlushlabPlugin[]): DependencyContainer {
  const container = di().container.createChildContainer();
  container.register(KERNEL, { useValue: kernel });
  for (const point of EXTENSION_POINTS) register(container, kernel, point, defaults, plugins);
  for (const point of EXTENSION_POINTS) install(kernel.policies, point, container.resolve(point.token));
  return container;
}

function register<K extends PolicySlot>(container: DependencyContainer, kernel: Kernel, point: ExtensionPoint<K>, defaults: readonly AnyDefaultPolicy[], plugins: readonly FlushlabPlugin[]): void {
  // Points are matched by slot, not by object: a config file may load its own copy of core-mmu.
  const def = defaults.find((d) => d.point.slot === point.slot);
  if (def === undefined) throw new Error(`no pre-patch default for extension point ${point.name}`);
  const layers: Layer<K>[] = [{ plugin: null, build: (k) => (def.build as (k: Kernel) => Policies[K])(k) }];
  for (const p of plugins) {
    for (const q of p.policies as readonly AnyPolicy[]) {
      if (q.point.slot === point.slot) layers.push({ plugin: p.name, build: q.build as unknown as Layer<K>["build"] });
    }
  }
  container.register(point.token, {
    useFactory: di().instanceCachingFactory(() => {
      let impl = undefined as unknown as Policies[K];
      for (const layer of layers) {
        if (layer.plugin === null) {
          impl = layer.build(kernel, impl);
          continue;
        }
        let next: Policies[K];
        try {
          next = layer.build(kernel, impl);
        } catch (e) {
          throw new PluginError(`plugin "${layer.plugin}" failed to build its ${point.name} policy: ${e instanceof Error ? e.message : String(e)}`);
        }
        if (next === null || typeof next !== "object") throw new PluginError(`plugin "${layer.plugin}": its ${point.name} factory returned ${next === null ? "null" : typeof next}, not an object`);
        impl = tagErrors(next, layer.plugin, point.name);
      }
      return impl;
    }),
  });
}

function install<K extends PolicySlot>(table: Policies, point: ExtensionPoint<K>, impl: Policies[K]): void {
  table[point.slot] = impl;
}

/** Wraps a plugin's implementation so that anything it throws names the plugin and the hook. */
function tagErrors<T extends object>(obj: T, plugin: string, point: string): T {
  const wrapped = new Map<PropertyKey, { readonly of: unknown; readonly fn: unknown }>();
  return new Proxy(obj, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      const hit = wrapped.get(prop);
      if (hit !== undefined && hit.of === v) return hit.fn;
      const name = `${point}.${String(prop)}`;
      const fn = function (this: unknown, ...args: unknown[]) {
        const fail = (e: unknown): never => {
          // A lockup detector's report passes out through every hook the stuck CPU was
          // in: the innermost plugin hook names itself.
          if (e instanceof WatchdogError) {
            e.blame(plugin, name);
            throw e;
          }
          if (e instanceof PluginError) throw e;
          throw new PluginError(`plugin "${plugin}" failed in ${name}: ${e instanceof Error ? e.message : String(e)}`);
        };
        let r: unknown;
        try {
          r = v.apply(target, args);
        } catch (e) {
          fail(e);
        }
        if (r !== null && typeof r === "object" && typeof (r as Generator).next === "function" && typeof (r as Generator)[Symbol.iterator] === "function") {
          const g = r as Generator<unknown, unknown, unknown>;
          return (function* () {
            try {
              return yield* g;
            } catch (e) {
              return fail(e);
            }
          })();
        }
        return r;
      };
      wrapped.set(prop, { of: v, fn });
      return fn;
    },
  });
}
