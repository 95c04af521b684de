/**
 * A progress bar on stderr for long work: silent for the first second, then a redrawn bar on a terminal
 * or a line every 10 % otherwise (logs stay readable in CI). `done()` clears it.
 */
export class ProgressBar {
  private readonly start = performance.now();
  private lastDecile = -1;
  private shown = false;

  constructor(private readonly label: string, private readonly enabled = true) {}

  update(done: number, total: number, what = ''): void {
    if (!this.enabled || total <= 0 || performance.now() - this.start < 1000) return;
    const frac = Math.min(1, done / total);
    if (process.stderr.isTTY) {
      const width = 30;
      const full = Math.round(frac * width);
      process.stderr.write(`\r\x1b[K${this.label} [${'#'.repeat(full)}${' '.repeat(width - full)}] ${done}/${total} ${what.slice(0, 40)}`);
      this.shown = true;
    } else {
      const decile = Math.floor(frac * 10);
      if (decile !== this.lastDecile) {
        this.lastDecile = decile;
        process.stderr.write(`${this.label}: ${done}/${total} (${Math.round(frac * 100)} %, ${((performance.now() - this.start) / 1000).toFixed(1)} s)\n`);
      }
    }
  }

  done(): void {
    if (this.shown && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  }
}
