// The upload progress line: rendering from counters, and redraw throttling on a fake clock.
import { expect } from 'chai';
import { completion, formatBytes, formatRate, ProgressLine, redraw, renderBar, renderProgressLine, type ProgressCounters } from '../../cli/progress.js';

const MiB = 1024 * 1024;

function counters(over: Partial<ProgressCounters> = {}): ProgressCounters {
  return { filesDone: 3, filesTotal: 10, bytesDone: MiB, bytesTotal: 4 * MiB, bytesPerSecond: 2 * MiB, ...over };
}

describe('cli/progress', () => {
  describe('formatBytes', () => {
    it('uses bytes below 1 KiB and binary units with one decimal above', () => {
      expect(formatBytes(0)).to.equal('0 B');
      expect(formatBytes(1023)).to.equal('1023 B');
      expect(formatBytes(1024)).to.equal('1.0 KiB');
      expect(formatBytes(1536)).to.equal('1.5 KiB');
      expect(formatBytes(5 * MiB)).to.equal('5.0 MiB');
      expect(formatBytes(1.5 * 1024 * MiB)).to.equal('1.5 GiB');
      expect(formatBytes(2 * 1024 * 1024 * MiB)).to.equal('2.0 TiB');
      expect(formatRate(3 * MiB)).to.equal('3.0 MiB/s');
    });

    it('never shows a negative or non-finite count', () => {
      expect(formatBytes(-5)).to.equal('0 B');
      expect(formatBytes(Number.NaN)).to.equal('0 B');
    });
  });

  describe('renderBar', () => {
    it('fills the share of cells, clamped to the bar', () => {
      expect(renderBar(0.5, 10)).to.equal('[#####.....]');
      expect(renderBar(0, 4)).to.equal('[....]');
      expect(renderBar(1, 4)).to.equal('[####]');
      expect(renderBar(7, 4)).to.equal('[####]');
      expect(renderBar(-1, 4)).to.equal('[....]');
      expect(renderBar(Number.NaN, 4)).to.equal('[....]');
    });
  });

  describe('completion', () => {
    it('follows bytes, falls back to files when every file is empty, and an empty upload is done', () => {
      expect(completion(counters())).to.equal(0.25);
      expect(completion(counters({ bytesDone: 0, bytesTotal: 0, filesDone: 1, filesTotal: 4 }))).to.equal(0.25);
      expect(completion(counters({ bytesDone: 0, bytesTotal: 0, filesDone: 0, filesTotal: 0 }))).to.equal(1);
    });
  });

  describe('renderProgressLine', () => {
    it('shows the bar, files done/total, bytes done/total and the throughput', () => {
      const line = renderProgressLine(counters(), 80);
      expect(line).to.match(/^\[#+\.+\] 3\/10 files {2}1\.0 MiB \/ 4\.0 MiB {2}2\.0 MiB\/s$/);
      const bar = /^\[([#.]+)\]/.exec(line)?.[1] ?? '';
      expect(bar.split('').filter((c) => c === '#').length).to.equal(Math.floor(bar.length / 4));
      expect(line).to.not.include('failed');
    });

    it('mentions failures once there are some', () => {
      expect(renderProgressLine(counters({ failed: 2 }), 100)).to.match(/ 2 failed$/);
    });

    it('stays narrower than the terminal, dropping the bar when there is no room', () => {
      for (const columns of [120, 80, 60, 40, 20, 5]) {
        expect(renderProgressLine(counters(), columns).length, `columns ${columns}`).to.be.at.most(columns - 1);
      }
      expect(renderProgressLine(counters(), 120)).to.match(/^\[/);
      expect(renderProgressLine(counters(), 40)).to.match(/^3\/10 files/);
    });

    it('a finished upload has a full bar', () => {
      expect(renderProgressLine(counters({ filesDone: 10, bytesDone: 4 * MiB }), 80)).to.match(/^\[#+\] 10\/10 files/);
    });
  });

  describe('redraw', () => {
    it('returns to column 0 and blanks what the shorter line does not cover', () => {
      expect(redraw('', 'abc')).to.equal('\rabc');
      expect(redraw('abcdef', 'xy')).to.equal('\rxy    ');
    });
  });

  describe('ProgressLine', () => {
    function harness() {
      let now = 0;
      const writes: string[] = [];
      const line = new ProgressLine((text) => writes.push(text), { intervalMs: 100, windowMs: 3000, columns: 80, now: () => now });
      return { line, writes, at: (ms: number) => (now = ms) };
    }
    const totals = (bytesDone: number) => ({ filesDone: 0, filesTotal: 2, bytesDone, bytesTotal: 4 * MiB });

    it('redraws at most once per interval unless forced', () => {
      const { line, writes, at } = harness();
      expect(line.update(totals(0))).to.equal(true);
      at(50);
      expect(line.update(totals(10))).to.equal(false);
      at(99);
      expect(line.update(totals(20))).to.equal(false);
      expect(line.update(totals(30), true)).to.equal(true);
      at(150);
      expect(line.update(totals(40))).to.equal(false);
      at(199);
      expect(line.update(totals(40))).to.equal(true);
      expect(writes).to.have.length(3);
      for (const w of writes) expect(w.startsWith('\r')).to.equal(true);
    });

    it('computes throughput over recent samples', () => {
      const { line, writes, at } = harness();
      line.update(totals(0));
      at(1000);
      line.update(totals(MiB));
      expect(line.rate()).to.equal(MiB);
      expect(writes.at(-1)).to.include('1.0 MiB/s');
      // Nothing for longer than the window: the rate is no longer known.
      at(5000);
      expect(line.rate()).to.equal(0);
    });

    it('forgets samples older than the window', () => {
      const { line, at } = harness();
      line.update(totals(0));
      at(10_000);
      line.update(totals(100 * MiB));
      at(12_000);
      line.update(totals(100 * MiB));
      at(13_000);
      line.update(totals(100 * MiB));
      // The burst at 0..10 s fell out of the window; the upload has been stalled since.
      expect(line.rate()).to.equal(0);
    });

    it('finish draws the final state, ends the line and stops drawing', () => {
      const { line, writes, at } = harness();
      line.update(totals(0));
      at(10);
      line.finish({ filesDone: 2, filesTotal: 2, bytesDone: 4 * MiB, bytesTotal: 4 * MiB });
      expect(writes.at(-2)).to.include('2/2 files');
      expect(writes.at(-1)).to.equal('\n');
      const count = writes.length;
      at(1000);
      expect(line.update(totals(0), true)).to.equal(false);
      line.clear();
      expect(writes).to.have.length(count);
    });

    it('clear blanks the line and the next update redraws at once', () => {
      const { line, writes, at } = harness();
      line.update(totals(0));
      const shown = (writes[0] ?? '').length - 1;
      line.clear();
      expect(writes[1]).to.equal('\r' + ' '.repeat(shown) + '\r');
      at(1);
      expect(line.update(totals(1))).to.equal(true);
    });
  });
});

describe('upload helper: secrets and transport', () => {
  it('redacts the password, user:password and the Basic header value, longest first', async () => {
    const { redact, secretsOf, basicAuth } = await import('../../cli/upload.js');
    const header = basicAuth('tok', 's3cret-pass');
    const text = `echoed: Authorization: ${header}; raw s3cret-pass; pair tok:s3cret-pass`;
    const clean = redact(text, ...secretsOf('tok', 's3cret-pass'));
    expect(clean).not.to.include('s3cret-pass');
    expect(clean).not.to.include(header.slice(6));
    expect(clean).to.include('Authorization: Basic ***').and.include('pair ***');
  });
  it('warns only for plain http to another machine', async () => {
    const { sendsInClear } = await import('../../cli/upload.js');
    expect(sendsInClear(new URL('http://artifacts.example.org/dpkg/'))).to.equal(true);
    expect(sendsInClear(new URL('http://10.0.0.5:8080/'))).to.equal(true);
    for (const local of ['http://127.0.0.1:8080/', 'http://localhost/', 'http://[::1]:80/', 'https://artifacts.example.org/']) {
      expect(sendsInClear(new URL(local)), local).to.equal(false);
    }
  });
});
