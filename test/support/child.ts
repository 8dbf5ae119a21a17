import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The node arguments that run a TypeScript file of the repo: Node strips the types, the hook
 * resolves the `./x.js` imports to `x.ts`.
 */
export const TS_NODE_ARGS: readonly string[] = ['--import', pathToFileURL(join(REPO_ROOT, 'scripts/resolve-ts.js')).href];

/** What users run: the launcher on the compiled `dist/`. */
const LAUNCHER = join(REPO_ROOT, 'bin/logstack.js');
/** `logstack` from the TypeScript sources. */
const CLI_SOURCE = join(REPO_ROOT, 'test/fixtures/logstack-cli.ts');

let built: boolean | undefined;

/**
 * Whether `dist/` was built from the sources as they are now: every file of `src/` has its built
 * file, written after it. `npm ci` builds `dist/` (the prepare script), so a fresh clone and CI
 * test the build users run; a source edited since the last `npm run build` is newer than its
 * built file, and the tests run the sources instead of a stale build.
 */
function builtFromSources(): boolean {
  if (built !== undefined) return built;
  const src = join(REPO_ROOT, 'src');
  built = readdirSync(src, { recursive: true, encoding: 'utf8' }).every((name) => {
    const source = statSync(join(src, name));
    if (source.isDirectory()) return true;
    const output = join(REPO_ROOT, 'dist', name.replace(/\.ts$/, '.js'));
    return existsSync(output) && statSync(output).mtimeMs >= source.mtimeMs;
  });
  return built;
}

/**
 * The command line that starts `logstack` with `args`: the built launcher when `dist/` is
 * current, else the sources. A start of the built CLI costs less CPU than one of the sources
 * (they are read, stripped of types and compiled file by file), and the suite starts it some
 * hundred times.
 */
function logstackCommand(args: readonly string[]): string[] {
  return builtFromSources() ? [LAUNCHER, ...args] : [...TS_NODE_ARGS, CLI_SOURCE, ...args];
}

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

/** Spawns a TypeScript file of the repo under node, collecting its stdout lines. */
export function spawnTs(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  return spawnNode([...TS_NODE_ARGS, file, ...args], env);
}

/** Spawns `logstack` with `args` (see logstackCommand), collecting its stdout lines. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): Child {
  return spawnNode(logstackCommand(args), env);
}

function spawnNode(argv: string[], env: NodeJS.ProcessEnv): Child {
  const proc = spawn(process.execPath, argv, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
