/**
 * A progress line for long work: a bar, counts, rate, ETA and free-form
 * fields (loss, IoU, lr). On a terminal it redraws in place (at most 10 times
 * a second); otherwise it prints a plain line every `logEverySec`.
 */
export interface ProgressOptions {
  label: string;
  total: number;
  unit?: string;
  stream?: NodeJS.WriteStream;
  logEverySec?: number;
}

function fmtTime(sec: number): string {
  if (!Number.isFinite(sec)) return '--:--';
  const s = Math.max(0, Math.round(sec));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(ss).padStart(2, '0')}` : `${String(m).padStart(2, '0')}:${String(ss).padStart(2, '0')}`;
}

export class Progress {
  private done = 0;
  private readonly t0 = performance.now();
  private lastDraw = 0;
  private lastLog = 0;
  private fields = '';
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private finished = false;

  constructor(private readonly o: ProgressOptions) {
    this.stream = o.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY) && process.env.CI === undefined;
  }

  /** Advance to `done` (absolute) with fields such as {loss: 0.31, iou: 0.52}. */
  update(done: number, fields: Record<string, string | number> = {}): void {
    this.done = done;
    this.fields = Object.entries(fields)
      .map(([k, v]) => `${k} ${typeof v === 'number' ? (Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toFixed(4)) : v}`)
      .join('  ');
    const now = performance.now();
    if (this.tty) {
      if (now - this.lastDraw > 100 || done >= this.o.total) {
        this.lastDraw = now;
        this.stream.write(`\r\x1b[2K${this.line()}`);
      }
    } else if (now - this.lastLog > (this.o.logEverySec ?? 10) * 1000 || done >= this.o.total) {
      this.lastLog = now;
      this.stream.write(this.line() + '\n');
    }
  }

  line(): string {
    const { total, label } = this.o;
    const frac = total > 0 ? Math.min(1, this.done / total) : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const el = (performance.now() - this.t0) / 1000;
    const rate = el > 0 ? this.done / el : 0;
    const eta = rate > 0 ? (total - this.done) / rate : Infinity;
    return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${total} ${this.o.unit ?? ''} ${rate.toFixed(1)}/s ${fmtTime(el)}<${fmtTime(eta)}  ${this.fields}`.replace(/ +$/, '');
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.tty) this.stream.write(`\r\x1b[2K${this.line()}\n`);
  }
}
