// One `facefuse serve` process for the Node tests (tests/contract, tests/browser): a free loopback
// port, a temporary data directory holding server.log (kept with FACEFUSE_KEEP_DATA), generous rate
// limits unless the arguments set their own, --models-dir from FACEFUSE_MODELS_DIR, and the admin
// key it prints on its first start (adminKey; none with --no-auth or on a later start).
// start() after kill() keeps the port and the data directory: a server restart.
//
// Environment (set by tests/CMakeLists.txt): FACEFUSE_BINARY, FACEFUSE_MODELS_DIR; FACEFUSE_TEST_TIME_SCALE
// (the sanitizer test presets) multiplies client-side timeouts: an instrumented server is 2-5x slower.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BINARY = process.env.FACEFUSE_BINARY ?? join(repo, 'build', 'bin', 'facefuse');
const MODELS = process.env.FACEFUSE_MODELS_DIR;
export const TIME_SCALE = Number(process.env.FACEFUSE_TEST_TIME_SCALE ?? '1');
const START_TIMEOUT_MS = 30000 * TIME_SCALE;
const STOP_TIMEOUT_MS = 30000 * TIME_SCALE;  // SIGTERM, then SIGKILL

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

export class ServeProcess {
  // args: extra `facefuse serve` arguments; prefix: of the temporary data directory's name.
  constructor(args, prefix) {
    this.args = args;
    this.data = mkdtempSync(join(tmpdir(), prefix));
    this.log = join(this.data, 'server.log');
  }

  get url() { return `http://127.0.0.1:${this.port}`; }

  get running() { return Boolean(this.process) && this.process.exitCode === null && this.process.signalCode === null; }

  // Resolves once the server prints "serving on".
  async start() {
    this.port ??= await freePort();
    const args = ['serve', '--listen', `127.0.0.1:${this.port}`, '--data', this.data];
    // Tests poll: generous rate limits unless the server is started with its own.
    for (const [rate, burst] of [['--rate-limit', '--rate-burst'], ['--ip-rate-limit', '--ip-rate-burst']]) {
      if (!this.args.includes(rate)) args.push(rate, '1000', burst, '1000');
    }
    args.push(...this.args);
    if (MODELS) args.push('--models-dir', MODELS);
    const log = createWriteStream(this.log, { flags: 'a' });
    this.process = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.process.stderr.pipe(log);
    await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`facefuse serve did not start: see ${this.log}`)), START_TIMEOUT_MS);
      this.process.stdout.on('data', (d) => {
        out += d;
        const key = /admin API key.*?(\S+)\s*$/m.exec(out);
        if (key) this.adminKey = key[1];
        if (out.includes('serving on')) { clearTimeout(timer); resolve(); }
      });
      this.process.on('exit', (code) => { clearTimeout(timer); reject(new Error(`facefuse serve exited ${code}: ${this.log}`)); });
    });
  }

  // Sends `signal` and resolves when the process has exited (SIGKILL after STOP_TIMEOUT_MS).
  halt(signal) {
    if (!this.running) return Promise.resolve();
    this.process.removeAllListeners('exit');
    const exited = new Promise((resolve) => this.process.on('exit', () => resolve()));
    this.process.kill(signal);
    const timer = setTimeout(() => this.process.kill('SIGKILL'), STOP_TIMEOUT_MS);
    return exited.finally(() => clearTimeout(timer));
  }

  kill() { return this.halt('SIGKILL'); }

  // Ends the process (SIGTERM: it drains, or SIGKILL) and removes the data directory.
  async stop(signal = 'SIGTERM') {
    await this.halt(signal);
    if (process.env.FACEFUSE_KEEP_DATA) console.log(`server data and log kept in ${this.data}`);
    else rmSync(this.data, { recursive: true, force: true });
  }
}
