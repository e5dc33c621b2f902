// A bounded on-disk FIFO between reading the kernel and the broker's ack. Records are appended to
// segment files (`seg-<id>.log`, framed by frame.ts); an ack cursor (`ack.json`: JSON padded with
// spaces to 64 bytes, rewritten in place) says where the first unacked record is. A record leaves the spool only when the ack
// cursor passes it; whole segments behind the cursor are deleted. Opening scans what is unacked,
// and a torn or corrupt tail is reported and cut off: the spool never refuses to open.
//
// Synchronous on purpose: appends are small and a sync write means a record that got a seq is in
// the page cache before the event loop can run anything else (kill -9 loses no handed-over record).
import {
  closeSync,
  fdatasync,
  existsSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { encodeFrames, encodeLineFrames, headerBytes, HEADER_BYTES, scanFrame, type LineInput } from './frame';

/**
 * `always`: fsync every record and the ack cursor; `batch`: group commit, one fdatasync per
 * BATCH_SYNC_MS at most (a power loss may lose that much; an fsync per append cost a third of the
 * agent's time under load); `never`: page cache only. All three survive a process crash (kill -9).
 * The ack cursor is fsynced only with `always`: a cursor that lags after a power loss means
 * duplicates, never loss.
 */
export type FsyncPolicy = 'always' | 'batch' | 'never';

export interface SpoolOptions {
  dir: string;
  /** Unacked bytes at which `full` turns true (appends still succeed: the caller stops reading). */
  maxBytes: number;
  segmentBytes: number;
  fsync: FsyncPolicy;
}

export interface Position {
  segment: number;
  offset: number;
}

export interface SpooledRecord {
  payload: Buffer;
  /** The stream tag and seq of a record spooled by appendLines (absent in older agents' records). */
  tag?: number;
  seq?: number;
  /** Where the next record starts: ack(end) acks this record and everything before it. */
  end: Position;
}

export interface CorruptTail {
  file: string;
  offset: number;
  reason: string;
  droppedBytes: number;
}

interface Segment {
  id: number;
  size: number;
}

const SEGMENT_RE = /^seg-(\d{12})\.log$/;
const ACK_FILE = 'ack.json';
const ACK_BYTES = 64; // {"segment":N,"offset":N} with two safe integers fits
const ACK_BLOCK = Buffer.alloc(ACK_BYTES);
const READ_CHUNK = 1 << 16;
/** Appended frames kept in memory for read(), so that what this process spooled is not read back from disk. */
const RECENT_BYTES = 4 << 20;
export const BATCH_SYNC_MS = 200;

const segmentName = (id: number) => `seg-${String(id).padStart(12, '0')}.log`;

export class Spool {
  private readonly segments: Segment[];
  private ackPos: Position;
  private readonly ackFd: number;
  private readPos: Position;
  private writeFd: number;
  private readFd: { id: number; fd: number } | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  private syncing = false;
  /** The latest appends (whole frames, in order, at most RECENT_BYTES): where they start and their bytes. */
  private readonly recent: { segment: number; offset: number; frames: Buffer }[] = [];
  private recentBytes = 0;

  private constructor(
    private readonly opts: SpoolOptions,
    segments: Segment[],
    ackPos: Position,
    /** What open() found wrong and repaired: corrupt tails cut off, an unreadable ack cursor. */
    readonly repaired: { corruptTails: CorruptTail[]; ackCursorLost: boolean },
  ) {
    this.segments = segments;
    this.ackPos = ackPos;
    this.readPos = { ...ackPos };
    this.writeFd = openSync(this.path(this.last.id), 'a');
    this.ackFd = openSync(join(opts.dir, ACK_FILE), existsSync(join(opts.dir, ACK_FILE)) ? 'r+' : 'w+');
  }

  static open(opts: SpoolOptions): Spool {
    mkdirSync(opts.dir, { recursive: true });
    const segments: Segment[] = readdirSync(opts.dir)
      .map((f) => SEGMENT_RE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ id: Number(m[1]), size: 0 }))
      .sort((a, b) => a.id - b.id);
    const saved = readAckCursor(join(opts.dir, ACK_FILE));
    // No cursor (or one naming a missing segment): re-send everything left — duplicates, never loss.
    const ackCursorLost = segments.length > 0 && (saved === null || !segments.some((s) => s.id === saved.segment));
    if (segments.length === 0) {
      writeFileSync(join(opts.dir, segmentName(1)), '');
      writeFileSync(join(opts.dir, ACK_FILE), JSON.stringify({ segment: 1, offset: 0 }));
      segments.push({ id: 1, size: 0 });
    }
    const first = segments[0] as Segment;
    const ack: Position = saved !== null && !ackCursorLost ? saved : { segment: first.id, offset: 0 };
    for (const s of segments.filter((x) => x.id < ack.segment)) unlinkSync(join(opts.dir, segmentName(s.id)));
    const live = segments.filter((x) => x.id >= ack.segment);

    const corruptTails: CorruptTail[] = [];
    for (const s of live) {
      const file = join(opts.dir, segmentName(s.id));
      const buf = readFileSync(file);
      let at = s.id === ack.segment ? Math.min(ack.offset, buf.length) : 0;
      for (;;) {
        if (at === buf.length) break;
        const f = scanFrame(buf, at, true);
        if (f.ok) {
          at = f.next;
          continue;
        }
        corruptTails.push({ file, offset: at, reason: f.reason, droppedBytes: buf.length - at });
        truncateSync(file, at);
        break;
      }
      s.size = at;
    }
    if (ack.offset > (live[0] as Segment).size) ack.offset = (live[0] as Segment).size;
    return new Spool(opts, live, ack, { corruptTails, ackCursorLost });
  }

  private path(id: number): string {
    return join(this.opts.dir, segmentName(id));
  }

  private get last(): Segment {
    return this.segments[this.segments.length - 1] as Segment;
  }

  private bytesFrom(p: Position): number {
    let n = -p.offset;
    for (const s of this.segments) if (s.id >= p.segment) n += s.size;
    return n;
  }

  /** Bytes not yet acked (what counts against maxBytes). */
  get unackedBytes(): number {
    return this.bytesFrom(this.ackPos);
  }

  /** Bytes appended but not yet returned by read(). */
  get unreadBytes(): number {
    return this.bytesFrom(this.readPos);
  }

  get full(): boolean {
    return this.unackedBytes >= this.opts.maxBytes;
  }

  /** Older agents' record layout (v1): kept to write test spools as they left them. */
  append(payloads: readonly Buffer[]): void {
    if (payloads.length === 0) return;
    this.write(this.opts.fsync === 'always' ? payloads.map((p) => encodeFrames([p])) : [encodeFrames(payloads)]);
  }

  /** Encoded event lines with their stream position (v2 frames), one write for all of them. */
  appendLines(lines: readonly LineInput[]): void {
    if (lines.length === 0) return;
    this.write(this.opts.fsync === 'always' ? lines.map((l) => encodeLineFrames([l])) : [encodeLineFrames(lines)]);
  }

  private write(parts: Buffer[]): void {
    if (this.last.size >= this.opts.segmentBytes) this.roll();
    for (const frames of parts) {
      let done = 0;
      while (done < frames.length) done += writeSync(this.writeFd, frames, done);
      this.remember(this.last.id, this.last.size, frames);
      this.last.size += frames.length;
      if (this.opts.fsync === 'always') fdatasyncSync(this.writeFd);
    }
    if (this.opts.fsync === 'batch') this.syncTimer ??= setTimeout(() => this.syncInBackground(), BATCH_SYNC_MS).unref();
  }

  /**
   * The group commit of `batch`, on libuv's thread pool: an fdatasync on the event loop blocked the
   * reader for as long as the disk took (under another process' I/O, long enough for the kernel
   * ring buffer to overrun). One at a time; a later append re-arms the timer.
   */
  private syncInBackground(): void {
    this.syncTimer = null;
    if (this.syncing) {
      this.syncTimer = setTimeout(() => this.syncInBackground(), BATCH_SYNC_MS).unref();
      return;
    }
    this.syncing = true;
    // An error (the segment closed by roll or close meanwhile, which synced it) changes nothing.
    fdatasync(this.writeFd, () => (this.syncing = false));
  }

  /** The pending group commit of `batch`, now, before a segment is closed. */
  private syncNow(): void {
    // A background sync in flight may run after the fd is closed (or reused): sync here too.
    if (this.syncTimer === null && !this.syncing) return;
    if (this.syncTimer !== null) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    fdatasyncSync(this.writeFd);
  }

  private roll(): void {
    this.syncNow();
    closeSync(this.writeFd);
    const id = this.last.id + 1;
    this.writeFd = openSync(this.path(id), 'a');
    this.segments.push({ id, size: 0 });
    this.syncDir();
  }

  private remember(segment: number, offset: number, frames: Buffer): void {
    this.recent.push({ segment, offset, frames });
    this.recentBytes += frames.length;
    while (this.recentBytes > RECENT_BYTES) this.recentBytes -= (this.recent.shift() as { frames: Buffer }).frames.length;
  }

  /** The remembered frames from `offset` of `segment` on (a frame boundary), or null when that is not in memory. */
  private recalled(segment: number, offset: number): Buffer | null {
    for (;;) {
      const r = this.recent[0];
      if (r === undefined) return null;
      if (r.segment > segment || (r.segment === segment && r.offset > offset)) return null;
      if (r.segment === segment && offset < r.offset + r.frames.length) return r.frames.subarray(offset - r.offset);
      // Behind the read cursor: read already.
      this.recentBytes -= r.frames.length;
      this.recent.shift();
    }
  }

  /** Records after the read cursor, about `maxBytes` of them (at least one when any is unread). */
  read(maxBytes: number): SpooledRecord[] {
    const out: SpooledRecord[] = [];
    let budget = maxBytes;
    while (budget > 0) {
      const seg = this.segments.find((s) => s.id === this.readPos.segment) as Segment;
      if (this.readPos.offset >= seg.size) {
        const next = this.segments.find((s) => s.id > seg.id);
        if (!next) break;
        this.readPos = { segment: next.id, offset: 0 };
        continue;
      }
      const chunk =
        this.recalled(seg.id, this.readPos.offset) ?? this.readAt(seg, this.readPos.offset, Math.min(seg.size - this.readPos.offset, Math.max(budget, READ_CHUNK)));
      let at = 0;
      for (;;) {
        const f = scanFrame(chunk, at, false);
        if (!f.ok) break;
        const size = f.next - at;
        if (out.length > 0 && size > budget) return out;
        at = f.next;
        budget -= size;
        this.readPos = { segment: seg.id, offset: this.readPos.offset + size };
        out.push({ payload: f.payload, end: { ...this.readPos }, tag: f.tag, seq: f.seq });
        if (budget <= 0) return out;
      }
      if (at === 0) {
        if (out.length > 0) return out;
        // The chunk ended inside the first record: read exactly that record.
        const word = this.readAt(seg, this.readPos.offset, HEADER_BYTES).readUInt32LE(0);
        const whole = this.readAt(seg, this.readPos.offset, headerBytes(word) + (word & 0x7fff_ffff));
        const f = scanFrame(whole, 0, false);
        if (!f.ok) throw new Error(`spool: unreadable record in ${this.path(seg.id)} at ${this.readPos.offset} (${f.reason})`);
        budget -= f.next;
        this.readPos = { segment: seg.id, offset: this.readPos.offset + f.next };
        out.push({ payload: f.payload, end: { ...this.readPos }, tag: f.tag, seq: f.seq });
      }
    }
    return out;
  }

  private readAt(seg: Segment, offset: number, length: number): Buffer {
    if (this.readFd?.id !== seg.id) {
      if (this.readFd) closeSync(this.readFd.fd);
      this.readFd = { id: seg.id, fd: openSync(this.path(seg.id), 'r') };
    }
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = readSync(this.readFd.fd, buf, got, length - got, offset + got);
      if (n === 0) throw new Error(`spool: ${this.path(seg.id)} is shorter than expected (${offset + got} < ${offset + length})`);
      got += n;
    }
    return buf;
  }

  /** Everything before `pos` (a record's `end` from read()) is acked: persisted, then dropped. */
  ack(pos: Position): void {
    if (compare(pos, this.ackPos) < 0 || compare(pos, this.readPos) > 0) {
      throw new RangeError(`spool: ack ${JSON.stringify(pos)} outside [${JSON.stringify(this.ackPos)}, ${JSON.stringify(this.readPos)}]`);
    }
    let p = pos;
    // A fully acked segment that is not the one being written can go.
    for (;;) {
      const i = this.segments.findIndex((s) => s.id === p.segment);
      const seg = this.segments[i] as Segment;
      const next = this.segments[i + 1];
      if (next === undefined || p.offset < seg.size) break;
      p = { segment: next.id, offset: 0 };
    }
    // In place, one write of one 64-byte block at offset 0: a replace by rename made ext4 write the
    // new file back at once (auto_da_alloc), 1.6 ms of the event loop per ack against 15 µs. A
    // write within one sector is not torn; if it were, open() finds no cursor and re-sends all that
    // is left: duplicates, never loss.
    const text = JSON.stringify(p);
    ACK_BLOCK.fill(0x20).write(text, 0, 'latin1');
    writeSync(this.ackFd, ACK_BLOCK, 0, ACK_BYTES, 0);
    if (this.opts.fsync === 'always') fdatasyncSync(this.ackFd);
    this.ackPos = p;
    if (compare(this.readPos, p) < 0) this.readPos = { ...p };
    while ((this.segments[0] as Segment).id < p.segment) {
      const gone = this.segments.shift() as Segment;
      if (this.readFd?.id === gone.id) {
        closeSync(this.readFd.fd);
        this.readFd = null;
      }
      unlinkSync(this.path(gone.id));
    }
  }

  private syncDir(): void {
    if (this.opts.fsync === 'never') return;
    const fd = openSync(this.opts.dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  close(): void {
    this.syncNow();
    closeSync(this.ackFd);
    if (this.readFd) closeSync(this.readFd.fd);
    this.readFd = null;
    closeSync(this.writeFd);
  }
}

function compare(a: Position, b: Position): number {
  return a.segment - b.segment || a.offset - b.offset;
}

function readAckCursor(file: string): Position | null {
  if (!existsSync(file)) return null;
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<Position>;
    if (Number.isSafeInteger(v.segment) && Number.isSafeInteger(v.offset) && (v.offset as number) >= 0) return v as Position;
  } catch {
    // fall through: treated as lost
  }
  return null;
}
