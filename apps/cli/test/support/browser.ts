/**
 * Test helper: opens a `--html` report in headless Chromium (Debian's `chromium`, driven
 * by playwright-core) and says what went wrong: console errors, page errors, failed
 * requests, any request at all beyond the file itself, and what each chart drew.
 *
 * Where no chromium is installed the browser tests fail, with a message saying so,
 * unless FLUSHLAB_SKIP_BROWSER=1 says to skip them.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type Browser } from "playwright-core";

/** The chromium binary: $FLUSHLAB_CHROMIUM, else `chromium` or `chromium-browser` on PATH; undefined if none. */
export function findChromium(): string | undefined {
  const env = process.env["FLUSHLAB_CHROMIUM"];
  if (env !== undefined && env !== "") return existsSync(env) ? env : undefined;
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      const path = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
      if (path !== "") return path;
    } catch {
      // not on PATH
    }
  }
  return undefined;
}

export const SKIP_BROWSER = process.env["FLUSHLAB_SKIP_BROWSER"] === "1";

export const NO_CHROMIUM =
  "no chromium on PATH (or FLUSHLAB_CHROMIUM names no file): the HTML report's browser test needs Debian's chromium (apt-get install chromium; .ci/run installs it), " +
  "or FLUSHLAB_CHROMIUM=/path/to/chromium; set FLUSHLAB_SKIP_BROWSER=1 to skip it knowingly";

export async function launch(): Promise<Browser> {
  const executablePath = findChromium();
  if (executablePath === undefined) throw new Error(NO_CHROMIUM);
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  return chromium.launch({ executablePath, headless: true, args: [...(root ? ["--no-sandbox"] : []), "--disable-gpu", "--font-render-hinting=none"] });
}

export interface ChartState {
  readonly id: string;
  /** What the chart's own hooks drew (data-marks); null when they never ran. */
  readonly marks: number | null;
  readonly canvases: number;
  /** Pixels of the chart's canvas that are not transparent or white. */
  readonly inked: number;
  /** Pixels close to each probe colour (e.g. the baseline and patched series colours). */
  readonly colours: Readonly<Record<string, number>>;
}

export interface PageOutcome {
  readonly consoleErrors: readonly string[];
  readonly pageErrors: readonly string[];
  readonly failedRequests: readonly string[];
  /** Every request the page made other than its own file. */
  readonly otherRequests: readonly string[];
  readonly chartsDeclared: number;
  readonly chartsRendered: number;
  readonly charts: readonly ChartState[];
  readonly title: string;
}

/** Probe colours as [r, g, b]. */
export type Probes = Readonly<Record<string, readonly [number, number, number]>>;

/** Opens `file`, waits for the charts, saves a full-page screenshot to `screenshot`, and reports. */
export async function openReport(browser: Browser, file: string, screenshot: string, probes: Probes = {}): Promise<PageOutcome> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  const failedRequests: string[] = [];
  const otherRequests: string[] = [];
  const url = pathToFileURL(file).href;
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("requestfailed", (r) => failedRequests.push(`${r.url()}: ${r.failure()?.errorText ?? "failed"}`));
  page.on("request", (r) => {
    if (r.url() !== url) otherRequests.push(r.url());
  });
  try {
    await page.goto(url, { waitUntil: "load" });
    await page.waitForFunction(() => document.body.hasAttribute("data-charts-rendered") || document.readyState === "complete", undefined, { timeout: 15_000 });
    const state = await page.evaluate((probeList) => {
      const charts = [...document.querySelectorAll<HTMLElement>("div.chart")].map((el) => {
        const canvases = [...el.querySelectorAll("canvas")];
        let inked = 0;
        const colours: Record<string, number> = {};
        for (const name of Object.keys(probeList)) colours[name] = 0;
        for (const c of canvases) {
          const ctx = c.getContext("2d");
          if (ctx === null || c.width === 0 || c.height === 0) continue;
          const px = ctx.getImageData(0, 0, c.width, c.height).data;
          for (let i = 0; i < px.length; i += 4) {
            const [r, g, b, a] = [px[i]!, px[i + 1]!, px[i + 2]!, px[i + 3]!];
            if (a > 0 && !(r > 245 && g > 245 && b > 245)) inked++;
            if (a < 200) continue;
            for (const [name, [pr, pg, pb]] of Object.entries(probeList)) {
              if (Math.abs(r - pr) + Math.abs(g - pg) + Math.abs(b - pb) < 40) colours[name]!++;
            }
          }
        }
        const marks = el.getAttribute("data-marks");
        return { id: el.id, marks: marks === null ? null : Number(marks), canvases: canvases.length, inked, colours };
      });
      return {
        charts,
        declared: Number(document.body.getAttribute("data-charts") ?? "-1"),
        rendered: Number(document.body.getAttribute("data-charts-rendered") ?? "-1"),
        title: document.title,
      };
    }, probes as Record<string, [number, number, number]>);
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    return { consoleErrors, pageErrors, failedRequests, otherRequests, chartsDeclared: state.declared, chartsRendered: state.rendered, charts: state.charts, title: state.title };
  } finally {
    await page.close();
  }
}
