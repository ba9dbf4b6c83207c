#!/usr/bin/env node
// The part of native solc's command line that py-solc-x, ape-solidity and forge use,
// served by the official solcjs (wasm) build from npm. Called by tools/solc.
//
//   solc --standard-json [--base-path P] [--include-path P]... [--allow-paths P,...]
//   solc --combined-json abi,bin,... [--optimize] [--optimize-runs N] [--evm-version V]
//        [--base-path P] [--output-dir D [--overwrite]] [prefix=path ...] FILE... | -
//   solc --help
"use strict";

const fs = require("fs");
const path = require("path");

const projectRoot = path.resolve(__dirname, "..");
let solc;
try {
  solc = require(require.resolve("solc", { paths: [projectRoot] }));
} catch (err) {
  process.stderr.write(
    "tools/solc: the npm package 'solc' is not installed. Run `make install` " +
      "(or `npm ci` in " + projectRoot + ").\n"
  );
  process.exit(2);
}

// combined-json output name -> [standard-json selector, path to the value in a contract's output]
const COMBINED = {
  abi: ["abi", (c) => c.abi],
  bin: ["evm.bytecode.object", (c) => c.evm.bytecode.object],
  "bin-runtime": ["evm.deployedBytecode.object", (c) => c.evm.deployedBytecode.object],
  devdoc: ["devdoc", (c) => c.devdoc],
  hashes: ["evm.methodIdentifiers", (c) => c.evm.methodIdentifiers],
  metadata: ["metadata", (c) => c.metadata],
  opcodes: ["evm.bytecode.opcodes", (c) => c.evm.bytecode.opcodes],
  srcmap: ["evm.bytecode.sourceMap", (c) => c.evm.bytecode.sourceMap],
  "srcmap-runtime": ["evm.deployedBytecode.sourceMap", (c) => c.evm.deployedBytecode.sourceMap],
  "storage-layout": ["storageLayout", (c) => c.storageLayout],
  userdoc: ["userdoc", (c) => c.userdoc],
  asm: ["evm.legacyAssembly", (c) => c.evm.legacyAssembly],
};

const HELP = `solc, the solidity compiler commandline interface (solcjs ${solc.version()} behind tools/solc)

Usage: solc [options] [input_file...]

Options served by this launcher:
  --help               Show help message and exit.
  --version            Show version and exit.
  --standard-json      Read Standard JSON input on stdin, write Standard JSON output on stdout.
  --base-path path     Root of the virtual filesystem for imports.
  --include-path path  Extra source root (repeatable).
  --allow-paths paths  Accepted for compatibility (imports resolve only under the roots above).
  --combined-json ${Object.keys(COMBINED).concat(["ast"]).sort().join(",")}
                       Output a single json document containing the specified information.
  --optimize           Enable the optimizer.
  --optimize-runs n    Optimizer runs (default 200).
  --via-ir             Compile through the IR pipeline.
  --evm-version v      Target EVM version.
  --output-dir path    Write combined.json there instead of stdout.
  --overwrite          Overwrite existing output files.
`;

function fail(message, code = 1) {
  process.stderr.write(`Error: ${message}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const opts = { includePaths: [], files: [], remappings: [], flags: new Set() };
  const valued = new Set([
    "--base-path", "--include-path", "--allow-paths", "--combined-json", "--output-dir",
    "--evm-version", "--optimize-runs", "--metadata-hash", "--revert-strings",
  ]);
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    if (arg.startsWith("--") && arg.includes("=")) {
      [arg, value] = [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)];
    }
    if (valued.has(arg)) {
      if (value === undefined) {
        if (i + 1 >= argv.length) fail(`option ${arg} needs a value`);
        value = argv[++i];
      }
      if (arg === "--include-path") opts.includePaths.push(value);
      else opts[arg.slice(2)] = value;
    } else if (arg.startsWith("--")) {
      opts.flags.add(arg);
    } else if (arg !== "-" && arg.includes("=")) {
      opts.remappings.push(arg);
    } else {
      opts.files.push(arg);
    }
  }
  return opts;
}

function readStdin() {
  return fs.readFileSync(0, "utf8");
}

function importResolver(opts) {
  const roots = [opts["base-path"] || process.cwd(), ...opts.includePaths].map((p) =>
    path.resolve(p)
  );
  return function findImports(importPath) {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : roots.map((root) => path.join(root, importPath));
    for (const candidate of candidates) {
      try {
        return { contents: fs.readFileSync(candidate, "utf8") };
      } catch (err) {
        // try the next root
      }
    }
    return { error: `File not found: ${importPath} (searched ${roots.join(", ")})` };
  };
}

function standardJson(opts) {
  const input = readStdin();
  process.stdout.write(solc.compile(input, { import: importResolver(opts) }));
}

function combinedJson(opts) {
  const wanted = opts["combined-json"].split(",").filter(Boolean);
  for (const name of wanted) {
    if (name !== "ast" && !(name in COMBINED)) fail(`--combined-json: unsupported output '${name}'`);
  }
  if (opts.files.length === 0) fail("no input files given (use - for stdin)");
  const sources = {};
  for (const file of opts.files) {
    if (file === "-") sources["<stdin>"] = { content: readStdin() };
    else {
      try {
        sources[file] = { content: fs.readFileSync(file, "utf8") };
      } catch (err) {
        fail(`cannot read ${file}: ${err.message}`);
      }
    }
  }
  const selectors = wanted.filter((n) => n !== "ast").map((n) => COMBINED[n][0]);
  const settings = {
    optimizer: {
      enabled: opts.flags.has("--optimize"),
      runs: opts["optimize-runs"] ? Number(opts["optimize-runs"]) : 200,
    },
    remappings: opts.remappings,
    outputSelection: { "*": { "*": selectors, "": wanted.includes("ast") ? ["ast"] : [] } },
  };
  if (opts["evm-version"]) settings.evmVersion = opts["evm-version"];
  if (opts.flags.has("--via-ir")) settings.viaIR = true;
  const output = JSON.parse(
    solc.compile(JSON.stringify({ language: "Solidity", sources, settings }), {
      import: importResolver(opts),
    })
  );
  let failed = false;
  for (const error of output.errors || []) {
    process.stderr.write((error.formattedMessage || error.message) + "\n");
    if (error.severity === "error") failed = true;
  }
  if (failed) process.exit(1);

  const result = { contracts: {}, version: solc.version() };
  for (const [file, contracts] of Object.entries(output.contracts || {})) {
    for (const [name, contract] of Object.entries(contracts)) {
      const entry = {};
      for (const n of wanted) if (n !== "ast") entry[n] = COMBINED[n][1](contract);
      result.contracts[`${file}:${name}`] = entry;
    }
  }
  if (wanted.includes("ast")) {
    result.sources = {};
    for (const [file, source] of Object.entries(output.sources || {})) {
      result.sources[file] = { AST: source.ast, id: source.id };
    }
  }
  const text = JSON.stringify(result);
  if (opts["output-dir"]) {
    const target = path.join(opts["output-dir"], "combined.json");
    if (fs.existsSync(target) && !opts.flags.has("--overwrite")) {
      fail(`${target} exists (use --overwrite)`);
    }
    fs.mkdirSync(opts["output-dir"], { recursive: true });
    fs.writeFileSync(target, text);
  } else {
    process.stdout.write(text + "\n");
  }
}

const opts = parseArgs(process.argv.slice(2));
if (opts.flags.has("--help")) process.stdout.write(HELP);
else if (opts.flags.has("--standard-json")) standardJson(opts);
else if (opts["combined-json"]) combinedJson(opts);
else fail("tools/solc serves --standard-json, --combined-json, --help and --version only", 2);
