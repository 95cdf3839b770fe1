/** A configuration or input error: the CLI prints `message` on one line and exits 2. */
export class FlushlabInputError extends Error {
  override readonly name: string = "FlushlabInputError";
}

/** A plugin's own code threw (building a policy, or inside one during a run): names the plugin and the hook. */
export class PluginError extends FlushlabInputError {}
