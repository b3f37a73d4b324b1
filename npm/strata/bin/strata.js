#!/usr/bin/env node
// npm's `strata` command: runs the prebuilt executable that npm installed from this machine's
// platform package (one of optionalDependencies, picked by npm from its os/cpu/libc fields).
// No install script: nothing runs at install time, the lookup happens here, at each start.
"use strict";
const { spawn } = require("node:child_process");
const path = require("node:path");
const pkg = require("../package.json");

/** strata's release target for this machine, e.g. linux-x64-musl or windows-x64. */
function target() {
  let libc = "";
  if (process.platform === "linux") {
    // Node reports the glibc version it runs on; none means musl (Alpine).
    const header = process.report.getReport().header;
    if (!header.glibcVersionRuntime) libc = "-musl";
  }
  const os = process.platform === "win32" ? "windows" : process.platform;
  return `${os}-${process.arch}${libc}`;
}

const name = target();
const packageName = `${pkg.strata.scope}/${name}`;
const supported = Object.keys(pkg.optionalDependencies || {}).map((p) => p.slice(pkg.strata.scope.length + 1));
let binary;
try {
  binary = require.resolve(`${packageName}/bin/strata${name.startsWith("windows-") ? ".exe" : ""}`);
} catch {
  const why = supported.includes(name)
    ? `its package ${packageName} is not installed (installed with --omit=optional or --no-optional? reinstall without it)`
    : `there is no prebuilt binary for ${name} (prebuilt: ${supported.join(", ")})`;
  process.stderr.write(
    `strata: cannot run on this machine: ${why}.\n` +
      `Download a release binary and check it against SHA256SUMS, or build from source (npm run build); see ${pkg.homepage || "the README"}.\n`,
  );
  process.exit(1);
}

const child = spawn(binary, process.argv.slice(2), { stdio: "inherit", windowsHide: true });
// Pass on what the process manager sends, so strata can stop between migrations.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("error", (error) => {
  process.stderr.write(`strata: cannot start ${path.relative(process.cwd(), binary) || binary}: ${error.message}\n`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  if (signal) {
    // Die of the same signal, so the caller sees 130/143 as from the binary itself.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else {
    process.exit(code ?? 1);
  }
});
