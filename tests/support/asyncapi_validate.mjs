// Validates AsyncAPI documents with the official parser (@asyncapi/parser, its default rules):
//   node asyncapi_validate.mjs <dir holding node_modules> <document.json>...
// Prints, as JSON, each document's diagnostics (severity 0 error, 1 warning, 2 information, 3 hint)
// and whether the parser produced a document; tests/integration/test_asyncapi_parser.py reads it.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const [prefix, ...files] = process.argv.slice(2);
const require = createRequire(join(prefix, "node_modules", "noop.js"));
const { Parser } = require("@asyncapi/parser");
const parser = new Parser();
const report = {};
for (const file of files) {
  const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"));
  report[file] = {
    parsed: document !== undefined,
    version: document ? document.version() : null,
    diagnostics: diagnostics.map((d) => ({ code: d.code, severity: d.severity, message: d.message,
                                           path: d.path.join("/") })),
  };
}
console.log(JSON.stringify(report));
