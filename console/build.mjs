// Bundles the console into the gateway's package data (gateway/agentmesh_gateway/console/static):
// index.html, and under assets/ every other file with a content hash in its name, so that the
// gateway can let browsers cache them for a year and index.html never. `make install` runs this.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "gateway", "agentmesh_gateway", "console", "static");
const assets = join(out, "assets");
rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const common = {
  bundle: true,
  minify: true,
  target: ["es2022"],
  outdir: assets,
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
};

function outputs(result, extension) {
  return Object.keys(result.metafile.outputs)
    .filter((file) => file.endsWith(extension))
    .map((file) => `/assets/${basename(file)}`);
}

// The DAG layout worker first: the page is told its hashed URL.
const worker = await build({ ...common, entryPoints: { layout: join(here, "src", "layout.worker.ts") }, format: "iife" });
const [workerUrl] = outputs(worker, ".js");

const page = await build({
  ...common,
  entryPoints: { console: join(here, "src", "main.tsx") },
  format: "esm",
  jsx: "automatic",
  jsxImportSource: "preact",
  define: { LAYOUT_WORKER_URL: JSON.stringify(workerUrl) },
});
const [js] = outputs(page, ".js");
const [css] = outputs(page, ".css");

const icon = readFileSync(join(here, "src", "favicon.svg"));
const iconName = `favicon-${createHash("sha256").update(icon).digest("hex").slice(0, 8).toUpperCase()}.svg`;
writeFileSync(join(assets, iconName), icon);

const html = readFileSync(join(here, "src", "index.html"), "utf8")
  .replace("%JS%", js)
  .replace("%CSS%", css)
  .replace("%FAVICON%", `/assets/${iconName}`);
writeFileSync(join(out, "index.html"), html);

for (const file of [js, css, workerUrl, `/assets/${iconName}`]) {
  const path = join(out, file);
  console.log(`${relative(join(here, ".."), path)}  ${(statSync(path).size / 1024).toFixed(1)} KiB`);
}
