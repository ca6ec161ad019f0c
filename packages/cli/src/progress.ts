import cliProgress from "cli-progress";

/** A progress bar on stderr, shown only when stderr is a terminal (never in pipes, logs or CI). */
export class Progress {
  private bar: cliProgress.SingleBar | undefined;
  private label = "";

  constructor(private readonly enabled = Boolean(process.stderr.isTTY)) {}

  update(label: string, done: number, total: number): void {
    if (!this.enabled) return;
    if (!this.bar || label !== this.label) {
      this.stop();
      this.label = label;
      this.bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: `${label} [{bar}] {percentage}% | {value}/{total} | {eta_formatted} left`,
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, done);
      return;
    }
    this.bar.setTotal(total);
    this.bar.update(done);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
