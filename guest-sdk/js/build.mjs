// Build a script into a user component: bundle it (its own relative imports and npm packages,
// TypeScript too) with esbuild, wrap it so that its top level runs per instance, and turn the
// result into a component with componentize-js.
//
//   node build.mjs --tools DIR --sdk DIR --wit DIR --world NAME --script FILE --out FILE
//
// DIR of --tools is a node_modules folder holding esbuild and @bytecodealliance/componentize-js.
// Errors in the script are printed between markers the host looks for, one per line.

import { writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ERROR_START = '--- script error ---';
const ERROR_END = '--- end of script error ---';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
  args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
}

function fail(lines) {
  process.stderr.write(`${ERROR_START}\n${lines.join('\n')}\n${ERROR_END}\n`);
  process.exit(1);
}

const tool = (name, file) => import(pathToFileURL(join(args.tools, name, file)).href);
const esbuild = await tool('esbuild', 'lib/main.js');
const { componentize } = await tool('@bytecodealliance/componentize-js', 'src/componentize.js');

// The modules the SDK provides, by the names scripts import.
const PROVIDED = {
  locust: 'locust.js', k6: 'k6.js', 'k6/http': 'k6-http.js', 'k6/metrics': 'k6-metrics.js',
  'k6/encoding': 'k6-encoding.js', 'k6/execution': 'k6-execution.js',
};
const NODE_BUILTINS = new Set([
  'assert', 'buffer', 'child_process', 'crypto', 'dns', 'events', 'fs', 'http', 'https', 'net',
  'os', 'path', 'process', 'stream', 'timers', 'tls', 'url', 'util', 'worker_threads', 'zlib',
]);

const guard = {
  name: 'locust-imports',
  setup(build) {
    build.onResolve({ filter: /.*/ }, ({ path, kind }) => {
      if (kind === 'entry-point') return undefined;
      if (path in PROVIDED) return { path, external: true };
      if (path === 'k6' || path.startsWith('k6/')) {
        return {
          errors: [{
            text: `the k6 module "${path}" is not supported here (supported: ${Object.keys(PROVIDED).filter((name) => name !== 'locust').join(', ')})`,
          }],
        };
      }
      if (/^https?:\/\//.test(path)) {
        return {
          errors: [{
            text: `remote module ${path} is not fetched at build time: download it next to the script and import it by a relative path`,
          }],
        };
      }
      if (path.startsWith('node:') || NODE_BUILTINS.has(path)) {
        return {
          errors: [{
            text: `"${path}" is a Node.js module, and a user runs in a sandbox without Node's APIs: use the SDK's client and functions instead`,
          }],
        };
      }
      return undefined;
    });
  },
};

function messages(error) {
  const list = error.errors ?? [{ text: String(error.message ?? error) }];
  return list.map((item) => {
    const at = item.location;
    return at ? `${at.file}:${at.line}:${at.column + 1}: ${item.text}` : item.text;
  });
}

/** The output file of an esbuild result whose path ends with `suffix`. */
function outputOf(result, suffix) {
  return result.outputFiles.find((file) => file.path.endsWith(suffix));
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** The numbers of one source-map segment (base64 VLQ). */
function segment(text) {
  const values = [];
  let value = 0;
  let shift = 0;
  for (const char of text) {
    const digit = BASE64.indexOf(char);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
    } else {
      values.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return values;
}

/** For each generated line of a source map, its first segment's original `{source, line}`
 * (0-based line), or undefined; only sources named `only` when given. */
function lineTable(map, only) {
  const table = [];
  let source = 0;
  let line = 0;
  let column = 0;
  for (const generated of map.mappings.split(';')) {
    let first;
    for (const part of generated.split(',')) {
      if (part === '') continue;
      const values = segment(part);
      if (values.length < 4) continue;
      source += values[1];
      line += values[2];
      column += values[3];
      const name = map.sources[source];
      if (first === undefined && (only === undefined || name.endsWith(only))) {
        first = { source: name, line };
      }
    }
    table.push(first);
  }
  void column;
  return table;
}

// 1. The script and what it imports, as one CommonJS body; the SDK's modules stay outside.
let script;
let scriptMap;
try {
  const result = await esbuild.build({
    entryPoints: [args.script],
    absWorkingDir: dirname(resolve(args.script)),
    bundle: true,
    format: 'cjs',
    platform: 'neutral',
    target: 'es2022',
    mainFields: ['module', 'main'],
    write: false,
    outfile: join(dirname(resolve(args.script)), 'script.bundle.js'),
    sourcemap: 'external',
    logLevel: 'silent',
    plugins: [guard],
  });
  script = outputOf(result, '.js').text;
  scriptMap = JSON.parse(outputOf(result, '.map').text);
} catch (error) {
  fail(messages(error));
}

// 2. The entry: the SDK's modules, and the script as a function run per instance.
const sdk = join(resolve(args.sdk), "src");
const entryTemplate = `
import * as locust from ${JSON.stringify(join(sdk, 'locust.js'))};
import * as k6 from ${JSON.stringify(join(sdk, 'k6.js'))};
import * as k6http from ${JSON.stringify(join(sdk, 'k6-http.js'))};
import * as k6metrics from ${JSON.stringify(join(sdk, 'k6-metrics.js'))};
import * as k6encoding from ${JSON.stringify(join(sdk, 'k6-encoding.js'))};
import * as k6execution from ${JSON.stringify(join(sdk, 'k6-execution.js'))};
import { installScript } from ${JSON.stringify(join(sdk, 'runtime.js'))};
export { user, hooks } from ${JSON.stringify(join(sdk, 'runtime.js'))};
const provided = {
  locust: { __esModule: true, ...locust },
  k6: { __esModule: true, ...k6 },
  'k6/http': { __esModule: true, ...k6http },
  'k6/metrics': { __esModule: true, ...k6metrics },
  'k6/encoding': { __esModule: true, ...k6encoding },
  'k6/execution': { __esModule: true, ...k6execution },
};
function require(name) {
  const found = provided[name];
  if (found === undefined) throw new Error('module ' + name + ' is not available');
  return found;
}
installScript(function () {
  const module = { exports: {} };
  (function (module, exports, require) {
/*@@SCRIPT@@*/
  })(module, module.exports, require);
  return module.exports;
}, ${JSON.stringify(basename(args.script))});
`;
// Where the script's first line sits in the entry.
const SCRIPT = '/*@@SCRIPT@@*/';
const scriptOffset = entryTemplate.split(SCRIPT)[0].split('\n').length - 1;
const entry = entryTemplate.replace(SCRIPT, () => script);
let bundled;
try {
  const result = await esbuild.build({
    stdin: { contents: entry, resolveDir: sdk, sourcefile: 'locust-entry.js' },
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    write: false,
    outfile: `${args.out}.bundle.js`,
    sourcemap: 'external',
    logLevel: 'silent',
    external: ['locust:*', 'wasi:*'],
  });
  bundled = outputOf(result, '.js').text;
  // Each line of the final bundle that holds script code, as `file:line` in the script's own
  // sources: the runtime shows tracebacks in those terms.
  const entryLines = lineTable(JSON.parse(outputOf(result, '.map').text), 'locust-entry.js');
  const scriptLines = lineTable(scriptMap);
  const sourceLines = {};
  entryLines.forEach((at, line) => {
    const original = at === undefined ? undefined : scriptLines[at.line - scriptOffset];
    if (original !== undefined) sourceLines[line + 1] = `${original.source}:${original.line + 1}`;
  });
  bundled += `\nglobalThis.__locustSourceLines = ${JSON.stringify(sourceLines)};\n`;
} catch (error) {
  fail(messages(error));
}
const bundle = `${args.out}.bundle.js`;
await writeFile(bundle, bundled);

// 3. The component.
try {
  const { component } = await componentize({
    sourcePath: bundle,
    witPath: args.wit,
    worldName: args.world,
    disableFeatures: ['http', 'fetch-event'],
  });
  await writeFile(args.out, component);
} catch (error) {
  // Wizer runs the entry's top level: an error there is the script's.
  const text = String(error?.message ?? error);
  fail(text.split('\n').filter((line) => line.trim() !== '').slice(-20));
}
