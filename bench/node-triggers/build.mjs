// Bundles each trigger, SES client included, into dist/<variant>/<trigger>/index.js.
import { build } from "esbuild";

const variants = { tutorial: "src", noop: "noop" };
for (const [variant, dir] of Object.entries(variants)) {
  for (const trigger of ["define", "create", "verify"]) {
    await build({
      entryPoints: [`${dir}/${trigger}.mjs`],
      bundle: true,
      minify: true,
      platform: "node",
      target: "node20",
      format: "cjs",
      outfile: `dist/${variant}/${trigger}/index.js`,
    });
  }
}
