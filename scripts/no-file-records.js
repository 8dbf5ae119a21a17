/**
 * Imported first into every process of the test suite, and every process and thread those start
 * (scripts/test.js puts it in NODE_OPTIONS). tap records, in each of them, every file that loads:
 * it reads the file again, counts its lines and parses its source map, for coverage reports and
 * `tap --changed`. The suite uses neither (coverage is off in package.json), and the records cost
 * nearly a third of its CPU time (docs/benchmarks.md). tap's hooks read the files not to record
 * from this variable when they load, which is after this import: every file is left out.
 */
process.env._TAPJS_PROCESSINFO_EXCLUDE_ = '/./';
