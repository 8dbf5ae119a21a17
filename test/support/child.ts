import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Child {
  readonly proc: ChildProcess;
  readonly lines: string[];
  /**
   * Resolves with the first line matching, rejects if the child exits first. The bound (2 min
   * by default) only catches a child that hangs: a start takes a second or two on an idle
   * machine and several times that on a busy one.
   */
  waitForLine(match: RegExp, timeoutMs?: number): Promise<string>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly stderr: () => string;
}

/** Spawns a TypeScript file of the repo under node with tsx, collecting its stdout lines. */
export function spawnTs(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  let err = '';
  const listeners = new Set<() => void>();
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const l of listeners) l();
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => {
      for (const l of listeners) l();
      resolve({ code, signal });
    }),
  );
  return {
    proc,
    lines,
    exited,
    stderr: () => err,
    waitForLine(match, timeoutMs = 120_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`no line matching ${match} within ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
        const check = () => {
          const line = lines.find((l) => match.test(l));
          if (line !== undefined) return done(null, line);
          if (proc.exitCode !== null || proc.signalCode !== null) done(new Error(`child exited before ${match}; stderr: ${err}`));
        };
        const done = (e: Error | null, line?: string) => {
          clearTimeout(timer);
          listeners.delete(check);
          if (e) reject(e);
          else resolve(line!);
        };
        listeners.add(check);
        check();
      });
    },
  };
}
