/**
 * Prints vitest's JSON report as the plain closing line CI reads ("N passed, N failed, N skipped"),
 * so a run that executed no test is visible as such.
 */
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? '.tmp/vitest.json';
const report = JSON.parse(readFileSync(file, 'utf8')) as {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
};
console.log(
  `tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests + report.numTodoTests} skipped`,
);
process.exit(report.numFailedTests > 0 || report.numPassedTests === 0 ? 1 : 0);
