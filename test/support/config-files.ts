import { isLogstackError, type LogstackError } from '../../src/errors.js';
import type { ConfigProblem } from '../../src/config/config-error.js';

/** The path of a config.yaml holding `yaml`, in a fresh test directory. */
export function configFile(t: { testdir(fixture: Record<string, string>): string }, yaml: string): string {
  return `${t.testdir({ 'config.yaml': yaml })}/config.yaml`;
}

/** The LogstackError `load` throws; fails the test when it loads. */
export function failure(load: () => unknown): LogstackError {
  try {
    load();
  } catch (err) {
    if (isLogstackError(err)) return err;
    throw err;
  }
  throw new Error('the configuration loaded, but it should not have');
}

/** A config error's problems as `path: message` lines. */
export function problemsOf(err: LogstackError): string[] {
  return (err.details as ConfigProblem[]).map((p) => `${p.path}: ${p.message}`);
}
