/** One measured figure, printed as a table row; `target` says what it must reach, when there is one. */
export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  target?: { text: string; met: boolean };
}

export function printTable(title: string, rows: BenchRow[]): void {
  console.log(`\n## ${title}\n`);
  console.log('| measure | value | target |');
  console.log('| --- | ---: | --- |');
  for (const row of rows) {
    const target = row.target ? `${row.target.text} ${row.target.met ? '✅' : '❌'}` : '';
    console.log(`| ${row.name} | ${format(row.value)} ${row.unit} | ${target} |`);
  }
}

function format(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2);
}

/** Runs `op` back to back for `seconds` and returns operations per second. */
export async function opsPerSecond(seconds: number, op: (i: number) => unknown): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let i = 0;
  const start = performance.now();
  while (performance.now() < end) {
    for (let j = 0; j < 100; j++) await op(i++);
  }
  return i / ((performance.now() - start) / 1000);
}
