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

/**
 * Wraps a plugin's implementation so that anything it throws names the plugin and the
 * hook. The wrapper is an object whose prototype is `obj`: each method found on `obj` or
 * its prototypes (Object's excepted) becomes an own method of the wrapper that calls the
 * one `obj` has at the time of the call, with `this` = `obj`, and tags what it throws; a
 * generator it returns is wrapped in a TaggedIterator, which tags what the generator
 * throws later. Accessors are forwarded to `obj`; data properties are read through the
 * prototype, live. Method calls on the wrapper are plain property loads (a Proxy's trap
 * ran on every one, and cost reclaim-heavy patched runs about a third of their time).
 */
function tagErrors<T extends object>(obj: T, plugin: string, point: string): T {
  const wrapper = Object.create(obj) as Record<PropertyKey, unknown>;
  const target = obj as Record<PropertyKey, unknown>;
  const done = new Set<PropertyKey>();
  for (let o: object | null = obj; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const key of Reflect.ownKeys(o)) {
      if (key === "constructor" || done.has(key)) continue;
      done.add(key);
      const d = Object.getOwnPropertyDescriptor(o, key)!;
      if (d.get !== undefined || d.set !== undefined) {
        Object.defineProperty(wrapper, key, {
          get: () => Reflect.get(obj, key),
          set: (v: unknown) => Reflect.set(obj, key, v),
          enumerable: d.enumerable ?? false,
          configurable: true,
        });
      } else if (typeof d.value === "function") {
        const name = `${point}.${String(key)}`;
        wrapper[key] = function (...args: unknown[]): unknown {
          let r: unknown;
          try {
            r = (target[key] as (...a: unknown[]) => unknown).apply(obj, args);
          } catch (e) {
            return tagged(e, plugin, name);
          }
          if (r !== null && typeof r === "object" && typeof (r as Generator).next === "function" && typeof (r as Generator)[Symbol.iterator] === "function") {
            return new TaggedIterator(r as Generator<unknown, unknown, unknown>, plugin, name);
          }
          return r;
        };
      }
    }
  }
  return wrapper as T;
}

/** Rethrows `e` from plugin `plugin`'s hook `name`: a PluginError naming both, or a lockup report blaming it. */
function tagged(e: unknown, plugin: string, name: string): never {
  // A lockup detector's report passes out through every hook the stuck CPU was in: the
  // innermost plugin hook names itself.
  if (e instanceof WatchdogError) {
    e.blame(plugin, name);
    throw e;
  }
  if (e instanceof PluginError) throw e;
  throw new PluginError(`plugin "${plugin}" failed in ${name}: ${e instanceof Error ? e.message : String(e)}`);
}

/**
 * A plugin hook's generator, passed through unchanged (the same results, the same values
 * sent in and thrown in) except that what it throws names the plugin and the hook. A
 * class of three delegating methods, not a wrapping generator: no second generator
 * object and no second frame to resume at every step.
 */
class TaggedIterator implements Generator<unknown, unknown, unknown> {
  constructor(
    private readonly g: Generator<unknown, unknown, unknown>,
    private readonly plugin: string,
    private readonly name: string,
  ) {}

  next(v?: unknown): IteratorResult<unknown, unknown> {
    try {
      return this.g.next(v);
    } catch (e) {
      return tagged(e, this.plugin, this.name);
    }
  }

  throw(e: unknown): IteratorResult<unknown, unknown> {
    try {
      return this.g.throw(e);
    } catch (err) {
      return tagged(err, this.plugin, this.name);
    }
  }

  return(v?: unknown): IteratorResult<unknown, unknown> {
    try {
      return this.g.return(v);
    } catch (e) {
      return tagged(e, this.plugin, this.name);
    }
  }

  [Symbol.iterator](): Generator<unknown, unknown, unknown> {
    return this;
  }
}
