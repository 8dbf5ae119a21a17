/**
 * Runs the TypeScript sources on Node's own type stripping:
 *
 *   node --import ./scripts/resolve-ts.js test/fixtures/logstack-cli.ts serve
 *
 * Node erases the types itself (tsconfig's `erasableSyntaxOnly` keeps the sources erasable), but
 * resolves an import as written, and the sources import each other as `./x.js`, the file tsc
 * emits. This hook resolves a relative `.js` import of a `.ts` file outside node_modules to the
 * `.ts` file beside it, and falls back to the `.js` file where there is no `.ts` one. A worker
 * thread inherits its parent's `--import`, so the hook is registered there too.
 */
import { existsSync } from 'node:fs';
import { enableCompileCache, registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';

// The suite starts a few hundred processes that load the same sources: with the cache, each
// reads the files stripped of types and compiled by the first instead of stripping and compiling
// them again. The cache is the checkout's own, under node_modules (or $NODE_COMPILE_CACHE): one
// in the shared temp dir would hold the code every user's runs load, in a folder whoever came
// first owns, and grow with every checkout on the machine.
enableCompileCache(process.env.NODE_COMPILE_CACHE ?? fileURLToPath(new URL('../node_modules/.cache/node-compile-cache', import.meta.url)));

registerHooks({
  resolve(specifier, context, nextResolve) {
    const parent = context.parentURL;
    if (
      parent?.startsWith('file:') &&
      parent.endsWith('.ts') &&
      !parent.includes('/node_modules/') &&
      (specifier.startsWith('./') || specifier.startsWith('../')) &&
      specifier.endsWith('.js')
    ) {
      const ts = new URL(`${specifier.slice(0, -3)}.ts`, parent);
      if (existsSync(fileURLToPath(ts))) return nextResolve(ts.href, context);
    }
    return nextResolve(specifier, context);
  },
});
