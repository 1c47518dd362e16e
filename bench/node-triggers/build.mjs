// Bundles each trigger, SES client included, into dist/<variant>/<trigger>/index.js.
// The do-nothing variant differs only in CreateAuthChallenge: a fixed code, still emailed.
import { build } from "esbuild";

const variants = {
  tutorial: { define: "src", create: "src", verify: "src" },
  noop: { define: "src", create: "noop", verify: "src" },
};
for (const [variant, sources] of Object.entries(variants)) {
  for (const [trigger, dir] of Object.entries(sources)) {
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
