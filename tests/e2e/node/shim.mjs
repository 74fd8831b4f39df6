// Starts the echo shim ($SHIMKIT_ECHO_SHIM, a path or a command line) on a free
// loopback port, waits for its "listening on HOST:PORT" line, stops it.
import { spawn } from 'node:child_process';

export function startShim(args = [], { timeoutMs = 30000 } = {}) {
  const cmd = process.env.SHIMKIT_ECHO_SHIM;
  if (!cmd) throw new Error('SHIMKIT_ECHO_SHIM is not set: point it at build/services/echo/echo_shim');
  const [prog, ...pre] = cmd.split(/\s+/).filter(Boolean);
  const child = spawn(prog, [...pre, '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`shim did not print "listening on" within ${timeoutMs} ms:\n${log}`));
    }, timeoutMs);
    let ready = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const m = !ready && /listening on (\S+?):(\d+)\b/.exec(log);
      if (m) {
        ready = true;
        clearTimeout(timer);
        const port = Number(m[2]);
        resolve({
          target: `127.0.0.1:${port}`,
          port,
          log: () => log,
          // SIGTERM; resolves to the exit code (or rejects if it hangs).
          stop: async (ms = 30000) => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            let t;
            const res = await Promise.race([
              exited,
              new Promise((_, rej) => { t = setTimeout(() => { child.kill('SIGKILL'); rej(new Error(`shim did not exit within ${ms} ms:\n${log}`)); }, ms); }),
            ]);
            clearTimeout(t);
            return res.code;
          },
        });
      }
    });
    child.on('exit', (code) => {
      if (!ready) { clearTimeout(timer); reject(new Error(`shim exited with ${code} before listening:\n${log}`)); }
    });
  });
}
